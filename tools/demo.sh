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
# The operator has an identity of its own: the webhook lets only it touch a sandbox's fences.
"$repo/tools/cluster.sh" kubeconfig --user botsec-operator --group system:masters \
  >"$dir/operator.kubeconfig"
"$repo/build/bin/botsec-operator" --kubeconfig="$dir/operator.kubeconfig" --watch-namespace=bots \
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

step "8. The webhook: registered by URL with the API server, it refuses what lacks isolation"
wh=$dir/webhook
mkdir -p "$wh"
if [[ ! -f "$wh/tls.crt" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=botsec-demo-webhook-ca -keyout "$wh/ca.key" -out "$wh/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=botsec-webhook \
    -keyout "$wh/tls.key" -out "$wh/tls.csr" 2>/dev/null
  openssl x509 -req -in "$wh/tls.csr" -CA "$wh/ca.crt" -CAkey "$wh/ca.key" -CAcreateserial \
    -days 30 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$wh/tls.crt" 2>/dev/null
fi
if [[ -f "$dir/webhook.pid" ]] && kill -0 "$(cat "$dir/webhook.pid")" 2>/dev/null; then
  kill "$(cat "$dir/webhook.pid")" && sleep 1
fi
webhook_port=16453
"$repo/build/bin/botsec-webhook" --kubeconfig="$dir/kubeconfig" \
  --bind-address="127.0.0.1:$webhook_port" --tls-cert-file="$wh/tls.crt" \
  --tls-private-key-file="$wh/tls.key" --operator-username=botsec-operator \
  >"$dir/logs/webhook-audit.log" 2>"$dir/logs/webhook.log" &
echo $! >"$dir/webhook.pid"
sleep 1
sed -e "s|BOTSEC_NAME|botsec-demo|" -e "s|BOTSEC_URL|https://127.0.0.1:$webhook_port/validate|" \
  -e "s|BOTSEC_CA_BUNDLE|$(base64 -w0 <"$wh/ca.crt")|" \
  "$repo/webhook/config/validating-webhook-configuration.yaml" | kubectl apply -f - >/dev/null
echo "botsec-webhook running (pid $(cat "$dir/webhook.pid"), audit lines in $dir/logs/webhook-audit.log)"
echo
echo "\$ kubectl -n $sandbox apply -f docs/examples/unsafe-pod.yaml"
kubectl -n "$sandbox" apply -f "$repo/docs/examples/unsafe-pod.yaml" || true
echo
echo "\$ kubectl -n $sandbox apply -f -   # an allow-all egress NetworkPolicy, as a user"
kubectl -n "$sandbox" apply -f - <<'POLICY' || true
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}
POLICY
# Tests share this control plane and bring operators of their own: the demo's webhook
# configuration goes again, so that nothing outside the demo is judged by it.
kubectl delete validatingwebhookconfiguration botsec-demo >/dev/null
kill "$(cat "$dir/webhook.pid")" && rm -f "$dir/webhook.pid"
echo
echo "(The demo's webhook configuration is removed again: the local control plane is shared with"
echo " make test. The chart (charts/) installs the webhook for good.)"

echo
echo "The control plane and the operator keep running. Use them with:"
echo "  export KUBECONFIG=$dir/kubeconfig PATH=$dir/bin:\$PATH"
echo "Stop both with: make cluster-down"
