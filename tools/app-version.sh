#!/usr/bin/env bash
# Prints BotSec's version as the chart declares it (charts/botsec/Chart.yaml appVersion): the tag
# of the image and the version in deploy/'s header. The one place the scripts read it from.
set -euo pipefail
chart="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/charts/botsec/Chart.yaml"
version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart")
[[ -n "$version" ]] || { echo "app-version: no appVersion in $chart" >&2; exit 1; }
echo "$version"
