#!/usr/bin/env bash
# Renders deploy/botsec.yaml from the Helm chart: release "botsec" in namespace botsec-system,
# the chart's default values, placeholder certificates (deploy/README.md says how to put real
# ones in place), so that the output is the same on every run.
#   tools/render-manifests.sh           write deploy/botsec.yaml
#   tools/render-manifests.sh --check   fail if deploy/botsec.yaml differs from a fresh render
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out="$root/deploy/botsec.yaml"
helm="$("$here/build-controlplane.sh")/helm"

render() {
  printf '# BotSec %s, rendered from charts/botsec by `make manifests`: do not edit (make verify\n' \
    "$("$here/app-version.sh")"
  printf '# fails when this file is stale). Namespace botsec-system; placeholder certificates:\n'
  printf '# see deploy/README.md before applying.\n'
  "$helm" template botsec "$root/charts/botsec" --namespace botsec-system \
    --set placeholderCertificates=true 2> >(grep -v 'found symbolic link' >&2)
}

if [[ "${1:-}" == "--check" ]]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  render >"$fresh"
  if ! diff -u "$out" "$fresh" >&2; then
    echo "verify: deploy/botsec.yaml is stale: run make manifests and commit it" >&2
    exit 1
  fi
  echo "verify: deploy/botsec.yaml matches the chart"
else
  render >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "manifests: wrote deploy/botsec.yaml ($(grep -c '^kind:' "$out") objects)"
fi
