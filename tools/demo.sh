#!/usr/bin/env bash
# `make demo`: BotSec against a local, real Kubernetes control plane.
# Each later piece of BotSec (operator, webhook, chart) adds its act here.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${BOTSEC_CLUSTER_DIR:-$repo/build/cluster}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A real control plane on 127.0.0.1 (built from Go modules on first use, then cached)"
"$repo/tools/cluster.sh" up
kubectl() { "$dir/bin/kubectl" --kubeconfig="$dir/kubeconfig" "$@"; }

step "2. The API server is upstream Kubernetes"
kubectl version
step "3. Two simulated nodes (KWOK), ready for pods"
kubectl get nodes -o wide

step "4. botsec check: the webhook's policy engine, offline — a bot as people first write it"
botsec="$repo/build/bin/botsec"
"$botsec" check "$repo/docs/examples/unsafe-bot.yaml" || echo "(exit $?: refused)"
step "5. ... and the same bot fenced in"
"$botsec" check "$repo/docs/examples/safe-bot.yaml" && echo "(exit 0: allowed)"

echo
echo "The control plane keeps running. Use it with:"
echo "  export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:\$PATH"
echo "Stop it with: make cluster-down"
