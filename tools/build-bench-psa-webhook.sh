#!/usr/bin/env bash
# Builds the peer of the webhook benchmark (tools/bench-webhook.sh): upstream's Pod Security
# Admission webhook, the command k8s.io/pod-security-admission/cmd/webhook, built unchanged from
# its module at the version bench/webhook/peer/go.mod pins (the control plane's, v0.37.2). The
# module there only declares the command as a `tool`, so go.sum pins every dependency.
#
# Cached as ~/.cache/botsec/bench-psa-webhook-<key>/psa-webhook, <key> hashing go.mod, go.sum and
# the Go version; a cache hit builds nothing. The build goes to a temporary directory renamed
# into place, so a cache entry is complete or absent. Progress goes to stderr; the binary's path
# is the last line on stdout.
#
#   tools/build-bench-psa-webhook.sh     build the webhook if missing, print its path
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../bench/webhook/peer" && pwd)
name=psa-webhook
package=k8s.io/pod-security-admission/cmd/webhook
# GOPROXY and GOMODCACHE stay as the environment has them; modules resolve from go.sum.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[%s %s] %s\n' "$name" "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

command -v go >/dev/null || fail "go is not on PATH (Go >= 1.26 builds $package)"

cache_root=${BOTSEC_CACHE:-$HOME/.cache/botsec}
key=$( { cat "$src/go.mod" "$src/go.sum"; go version; } | sha256sum | cut -c1-12)
out="$cache_root/bench-$name-$key"
bin="$out/$name"

if [[ -x "$bin" ]]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
stage=$(mktemp -d "$cache_root/.bench-$name-$key.XXXXXX")
trap 'rm -rf "$stage"' EXIT
start=$SECONDS
log "building $package from $src with $(go env GOVERSION) (cold Go build cache: several minutes; warm: seconds)"
log "step 1/2: downloading Go modules (GOPROXY=$(go env GOPROXY))"
if ! (cd "$src" && go mod download) >"$stage/build.log" 2>&1; then
  cat "$stage/build.log" >&2
  fail "go mod download failed in $src (see above)"
fi
log "step 2/2: compiling"
if ! (cd "$src" && go build -trimpath -o "$stage/$name" "$package") >>"$stage/build.log" 2>&1; then
  cat "$stage/build.log" >&2
  fail "go build failed in $src (see above)"
fi
rm -f "$stage/build.log"
chmod 755 "$stage"
# Atomic publish: a concurrent build that got there first wins, and its binary is the same.
if ! mv -T "$stage" "$out" 2>/dev/null && [[ ! -x "$bin" ]]; then
  fail "could not move the build into $out"
fi
log "built $bin in $((SECONDS - start)) s"
echo "$bin"
