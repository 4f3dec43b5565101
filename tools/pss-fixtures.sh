#!/usr/bin/env bash
# Prints the folder holding upstream's Pod Security fixtures (test/testdata/) for the
# k8s.io/pod-security-admission version the control plane pins (tools/controlplane/go.mod), from
# the Go module cache; downloads the module through the Go module proxy when it is not there yet.
# Nothing of it is copied into the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(awk '$1 == "k8s.io/pod-security-admission" && $2 == "=>" { print $4 }' \
  "$root/tools/controlplane/go.mod" | head -n1)"
if [[ -z "$version" ]]; then
  echo "pss-fixtures: no k8s.io/pod-security-admission replace in tools/controlplane/go.mod" >&2
  exit 1
fi
if ! command -v go >/dev/null; then
  echo "pss-fixtures: go is not installed (make deps installs it)" >&2
  exit 1
fi
dir="$(go env GOMODCACHE)/k8s.io/pod-security-admission@${version}"
if [[ ! -d "$dir/test/testdata" ]]; then
  echo "pss-fixtures: downloading k8s.io/pod-security-admission@${version}" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json \
    "k8s.io/pod-security-admission@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
fi
if [[ ! -d "$dir/test/testdata" ]]; then
  echo "pss-fixtures: no test/testdata in k8s.io/pod-security-admission@${version}" >&2
  exit 1
fi
# The folder, then the Kubernetes version whose fixtures match (v0.37.2 -> v1.37).
echo "$dir/test/testdata"
minor="${version#v0.}"
echo "v1.${minor%%.*}"
