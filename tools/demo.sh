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

step "6. The operator: the BotSandbox API, and a sandbox made from docs/examples/chat-sandbox.yaml"
kubectl apply --server-side -f "$repo/crds/botsec.io_botsandboxes.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/botsandboxes.botsec.io >/dev/null
if [[ -f "$dir/operator.pid" ]] && kill -0 "$(cat "$dir/operator.pid")" 2>/dev/null; then
  kill "$(cat "$dir/operator.pid")" && sleep 1
fi
probe_port=16451
metrics_port=16452
"$repo/build/bin/botsec-operator" --kubeconfig="$dir/kubeconfig" \
  --health-probe-bind-address="127.0.0.1:$probe_port" \
  --metrics-bind-address="127.0.0.1:$metrics_port" >"$dir/logs/operator.log" 2>&1 &
echo $! >"$dir/operator.pid"
echo "botsec-operator running (pid $(cat "$dir/operator.pid"), log $dir/logs/operator.log)"
kubectl create namespace bots --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n bots apply -f "$repo/docs/examples/chat-sandbox.yaml"
kubectl -n bots wait --for=condition=Ready --timeout=60s bsb/chat
kubectl -n bots get bsb
sandbox=$(kubectl -n bots get bsb chat -o jsonpath='{.status.namespace}')
step "7. Inside the sandbox $sandbox: fences first, then the bot"
kubectl get namespace "$sandbox" --show-labels
kubectl -n "$sandbox" get serviceaccount,resourcequota,limitrange,networkpolicy,secret,service,pod
kubectl -n "$sandbox" get networkpolicy egress-allowlist -o jsonpath='{.spec.egress[0].to[0].ipBlock}'
echo
kubectl -n bots get events --field-selector involvedObject.name=chat
echo
echo "The operator's readiness (127.0.0.1:$probe_port/readyz?verbose) and metrics (:$metrics_port):"
curl -s "http://127.0.0.1:$probe_port/readyz?verbose"
curl -s "http://127.0.0.1:$metrics_port/metrics" |
  grep -E '^(botsec_sandboxes|controller_runtime_reconcile_total|workqueue_depth)'

echo
echo "The control plane and the operator keep running. Use them with:"
echo "  export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:\$PATH"
echo "Stop both with: make cluster-down"
