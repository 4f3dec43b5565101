#!/usr/bin/env bash
# Builds the peer of `make bench`: bench/kube/peer, client-go's informer, which informer_bench
# runs in the same run to print ratios against it.
#
# The binary is cached outside the clone, in ~/.cache/botsec/bench-peer-<key>/bench-peer, where
# <key> hashes the peer's go.mod, go.sum and main.go and the Go version; a cache hit builds
# nothing. The build goes to a temporary directory that is renamed into place, so a cache entry
# is either complete or absent. Progress goes to stderr; the binary's path is the last line on
# stdout.
#
#   tools/build-bench-peer.sh            build if missing, print the binary's path
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../bench/kube/peer" && pwd)
# GOPROXY and GOMODCACHE stay as the environment has them; modules resolve from go.sum.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[bench-peer %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

command -v go >/dev/null || fail "go is not on PATH (Go >= 1.26 builds the client-go peer)"

cache_root=${BOTSEC_CACHE:-$HOME/.cache/botsec}
key=$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go version; } | sha256sum | cut -c1-12)
out="$cache_root/bench-peer-$key"
bin="$out/bench-peer"

if [[ -x "$bin" ]]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
stage=$(mktemp -d "$cache_root/.bench-peer-$key.XXXXXX")
trap 'rm -rf "$stage"' EXIT
start=$SECONDS
log "building client-go's informer peer from $src with $(go env GOVERSION) (cold Go build cache: a few minutes; warm: seconds)"
log "step 1/2: downloading Go modules (GOPROXY=$(go env GOPROXY))"
if ! (cd "$src" && go mod download) >"$stage/build.log" 2>&1; then
  cat "$stage/build.log" >&2
  fail "go mod download failed in $src (see above)"
fi
log "step 2/2: compiling"
if ! (cd "$src" && go build -trimpath -o "$stage/bench-peer" .) >>"$stage/build.log" 2>&1; then
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
