#!/usr/bin/env bash
# Builds the real Kubernetes control plane that BotSec is tested against, from Go modules:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, the Pod Security
# Admission webhook and KWOK (tools/controlplane), and Helm (tools/helm).
#
# The binaries are cached outside the clone, in ~/.cache/botsec/controlplane-<key>/bin, where
# <key> hashes both go.sum files, this script and the Go version; a cache hit builds nothing.
# Prints the cache's bin directory on stdout as its last line; progress goes to stderr.
#
#   tools/build-controlplane.sh            build if missing, print the bin directory
#   tools/build-controlplane.sh --print    print the bin directory without building
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
k8s_version=v1.37.2
k8s_minor=37

log() { printf '[controlplane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ! command -v go >/dev/null; then
  log "error: go is not on PATH (Go >= 1.26 is needed to build the control plane)"
  exit 1
fi

cache_root=${BOTSEC_CACHE:-$HOME/.cache/botsec}
key=$( { cat "$here/controlplane/go.sum" "$here/helm/go.sum" "${BASH_SOURCE[0]}"; go version; } |
  sha256sum | cut -c1-16)
out="$cache_root/controlplane-$key"

if [[ "${1:-}" == "--print" ]]; then
  echo "$out/bin"
  exit 0
fi
if [[ -f "$out/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/controlplane.lock"
if ! flock -n 9; then
  log "another build holds $cache_root/controlplane.lock; waiting for it"
  flock 9
fi
if [[ -f "$out/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

stage="$out.partial"
rm -rf "$stage"
mkdir -p "$stage/bin"
start=$SECONDS

# go build -v names each package as it is compiled: turn that into a progress line every 50.
progress() {
  local what=$1 n=0
  while IFS= read -r line; do
    case "$line" in
      *" error"* | *.go:* | "#"* | "go: "*) printf '%s\n' "$line" >&2 ;;
      *) n=$((n + 1)); ((n % 50 == 0)) && log "$what: $n packages compiled ($((SECONDS - start)) s)" ;;
    esac
  done
  log "$what: $n packages compiled"
}

stamp=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor"
  stamp+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

log "step 1/4: downloading Go modules for Kubernetes $k8s_version, etcd, KWOK and Helm"
(cd "$here/controlplane" && go mod download) >&2
(cd "$here/helm" && go mod download) >&2

log "step 2/4: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl," \
  "pod-security-webhook and kwok (cold: 20-40 min on 2 cores)"
(cd "$here/controlplane" &&
  go build -v -trimpath -tags selinux,notest -ldflags "-s -w$stamp" -o "$stage/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/pod-security-admission/cmd/webhook sigs.k8s.io/kwok/cmd/kwok) 2>&1 |
  progress "kubernetes"
mv "$stage/bin/webhook" "$stage/bin/pod-security-webhook"

log "step 3/4: building etcd"
(cd "$here/controlplane" &&
  go build -v -trimpath -ldflags "-s -w" -o "$stage/bin/etcd" go.etcd.io/etcd/server/v3) 2>&1 |
  progress "etcd"

log "step 4/4: building helm"
helm_version=$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
(cd "$here/helm" &&
  go build -v -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" \
    -o "$stage/bin/helm" helm.sh/helm/v4/cmd/helm) 2>&1 | progress "helm"

# KWOK ships its stage definitions inside its module, not in the binary: keep a copy beside it.
kwok_dir=$(cd "$here/controlplane" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
mkdir -p "$stage/kwok-stages"
cp -r "$kwok_dir/kustomize/stage/." "$stage/kwok-stages/"
chmod -R u+w "$stage/kwok-stages"

for b in kube-apiserver kube-controller-manager kube-scheduler kubectl pod-security-webhook \
  kwok etcd helm; do
  [[ -x "$stage/bin/$b" ]] || { log "error: $b was not built"; exit 1; }
done
version=$("$stage/bin/kube-apiserver" --version)
[[ "$version" == "Kubernetes $k8s_version" ]] || {
  log "error: kube-apiserver reports '$version', expected 'Kubernetes $k8s_version'"
  exit 1
}
touch "$stage/.complete"
rm -rf "$out"
mv "$stage" "$out"
log "built in $((SECONDS - start)) s into $out"
echo "$out/bin"
