#!/usr/bin/env bash
# Builds a peer of `make bench`, which a benchmark runs in the same run to print ratios against:
#   informer (the default)  bench/kube/peer, client-go's informer, for informer_bench;
#                           cached as ~/.cache/botsec/bench-peer-<key>/bench-peer
#   policy                  bench/policy/peer, pod-security-admission's evaluator, for
#                           judge_bench; cached as ~/.cache/botsec/bench-policypeer-<key>/
#                           bench-policypeer
#
# <key> hashes the peer's go.mod, go.sum and main.go and the Go version; a cache hit builds
# nothing. The build goes to a temporary directory that is renamed into place, so a cache entry
# is either complete or absent. Progress goes to stderr; the binary's path is the last line on
# stdout.
#
#   tools/build-bench-peer.sh            build client-go's peer if missing, print its path
#   tools/build-bench-peer.sh policy     the same for pod-security-admission's peer
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-informer}" in
  informer)
    src=$(cd "$here/../bench/kube/peer" && pwd)
    name=bench-peer
    what="client-go's informer peer"
    ;;
  policy)
    src=$(cd "$here/../bench/policy/peer" && pwd)
    name=bench-policypeer
    what="pod-security-admission's evaluator peer"
    ;;
  *)
    printf 'usage: %s [informer|policy]\n' "$0" >&2
    exit 2
    ;;
esac
# GOPROXY and GOMODCACHE stay as the environment has them; modules resolve from go.sum.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[%s %s] %s\n' "$name" "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

command -v go >/dev/null || fail "go is not on PATH (Go >= 1.26 builds $what)"

cache_root=${BOTSEC_CACHE:-$HOME/.cache/botsec}
key=$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go version; } | sha256sum | cut -c1-12)
out="$cache_root/$name-$key"
bin="$out/$name"

if [[ -x "$bin" ]]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
stage=$(mktemp -d "$cache_root/.$name-$key.XXXXXX")
trap 'rm -rf "$stage"' EXIT
start=$SECONDS
log "building $what from $src with $(go env GOVERSION) (cold Go build cache: a few minutes; warm: seconds)"
log "step 1/2: downloading Go modules (GOPROXY=$(go env GOPROXY))"
if ! (cd "$src" && go mod download) >"$stage/build.log" 2>&1; then
  cat "$stage/build.log" >&2
  fail "go mod download failed in $src (see above)"
fi
log "step 2/2: compiling"
if ! (cd "$src" && go build -trimpath -o "$stage/$name" .) >>"$stage/build.log" 2>&1; then
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
