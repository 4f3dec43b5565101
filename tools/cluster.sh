#!/usr/bin/env bash
# A real, local Kubernetes control plane for BotSec's tests and demo: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and KWOK (two simulated nodes), all on 127.0.0.1.
#
#   tools/cluster.sh up       build the binaries once (cached), start everything, wait until ready
#   tools/cluster.sh down     stop every component; nothing is left running
#   tools/cluster.sh status   one line per component, then the nodes
#   tools/cluster.sh restart COMPONENT   stop one component and start it again, as it was
#   tools/cluster.sh clean    down, then remove the cluster's state (certificates, etcd data, logs)
#   tools/cluster.sh kubeconfig --user NAME [--group GROUP]...
#   tools/cluster.sh kubeconfig --serviceaccount NAMESPACE/NAME
#                             print a kubeconfig for someone other than the admin: a user with a
#                             client certificate signed by the cluster's CA, or a ServiceAccount
#                             with a one-hour token
#
# Environment:
#   BOTSEC_CLUSTER_DIR        state directory (default: build/cluster in the checkout)
#   BOTSEC_APISERVER_EXTRA_ARGS  more kube-apiserver flags, space-separated (e.g. for a benchmark)
#   BOTSEC_CLUSTER_PORT_BASE  first of six ports (default 16440): etcd client +0, etcd peer +1,
#                             kube-apiserver +3, kube-controller-manager +4, kube-scheduler +5
#   BOTSEC_KWOK_NODES         how many simulated nodes to register (default 2)
#   BOTSEC_KWOK_NODE_PODS     pods each simulated node takes (default 110); a benchmark of 1,000
#                             sandboxes wants e.g. BOTSEC_KWOK_NODES=12
#
# In the state directory: kubeconfig (admin), bin/{kubectl,helm}, logs/*.log, logs/audit.log, pki/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${BOTSEC_CLUSTER_DIR:-$repo/build/cluster}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
base=${BOTSEC_CLUSTER_PORT_BASE:-16440}
if ! [[ "$base" =~ ^[0-9]+$ ]] || ((base < 1024 || base > 65500)); then
  echo "cluster: error: BOTSEC_CLUSTER_PORT_BASE must be a number from 1024 to 65500, got '$base'" >&2
  exit 2
fi
etcd_port=$base
etcd_peer_port=$((base + 1))
apiserver_port=$((base + 3))
kcm_port=$((base + 4))
scheduler_port=$((base + 5))
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
kwok_nodes=${BOTSEC_KWOK_NODES:-2}
node_pods=${BOTSEC_KWOK_NODE_PODS:-110}
if ! [[ "$kwok_nodes" =~ ^[0-9]+$ ]] || ((kwok_nodes < 1 || kwok_nodes > 500)); then
  echo "cluster: error: BOTSEC_KWOK_NODES must be a number from 1 to 500, got '$kwok_nodes'" >&2
  exit 2
fi
if ! [[ "$node_pods" =~ ^[0-9]+$ ]] || ((node_pods < 1 || node_pods > 10000)); then
  echo "cluster: error: BOTSEC_KWOK_NODE_PODS must be a number from 1 to 10000, got '$node_pods'" >&2
  exit 2
fi
nodes=()
for ((i = 0; i < kwok_nodes; i++)); do nodes+=("kwok-node-$i"); done
# `kubectl wait --all` visits the nodes one after another within its timeout: 1 s per two nodes.
nodes_wait=$(((kwok_nodes + 1) / 2))s
start_timeout=${BOTSEC_CLUSTER_START_TIMEOUT:-120}

pki=$dir/pki
logs=$dir/logs
run=$dir/run
kubeconfig=$dir/kubeconfig

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

port_of() {
  case $1 in
    etcd) echo "$etcd_port $etcd_peer_port" ;;
    kube-apiserver) echo "$apiserver_port" ;;
    kube-controller-manager) echo "$kcm_port" ;;
    kube-scheduler) echo "$scheduler_port" ;;
    *) echo "" ;;
  esac
}

pid_of() {
  local f=$run/$1.pid pid
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  # The pid must still be ours: a recycled pid belongs to a process without our state dir.
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/" || return 1
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# For start-up waits: the process we just started exists and is not a zombie. (Its command line
# is still the shell's until it execs, so pid_of's check would race.)
alive() {
  local f=$run/$1.pid pid state
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Every process whose command line names this state directory: what `down` must leave none of.
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" == "$$" ]] && continue
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qE -- "(=|--config=|--data-dir=)$dir/" &&
      echo "${p#/proc/}"
  done
  return 0
}

# --- certificates and kubeconfigs -------------------------------------------------------------

make_pki() {
  [[ -f "$pki/.complete" ]] && return 0
  log "generating certificates with openssl in $pki"
  rm -rf "$pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    exec 2>openssl.log
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=botsec-local-ca"
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver"
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -out apiserver.crt -extfile <(printf '%s\n' \
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
        "extendedKeyUsage=serverAuth" "keyUsage=digitalSignature,keyEncipherment")
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  )
  # One client identity per component, so the audit log tells who wrote what.
  client_cert admin "/O=system:masters/CN=botsec-admin"
  client_cert kube-controller-manager "/CN=system:kube-controller-manager"
  client_cert kube-scheduler "/CN=system:kube-scheduler"
  client_cert kwok "/O=system:masters/CN=kwok-controller"
  touch "$pki/.complete"
}

client_cert() {
  local name=$1 subject=$2
  (
    cd "$pki"
    openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -out "$name.crt" -extfile <(printf 'extendedKeyUsage=clientAuth\n')
  ) 2>>"$pki/openssl.log"
}

write_kubeconfig() {
  local path=$1 user=$2
  cat >"$path" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: botsec-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $pki/$user.crt
    client-key: $pki/$user.key
contexts:
- name: botsec-local
  context:
    cluster: botsec-local
    user: $user
current-context: botsec-local
EOF
}

# --- starting and stopping --------------------------------------------------------------------

check_ports_free() {
  local c p owner
  for c in "${components[@]}"; do
    for p in $(port_of "$c"); do
      if ss -Hltn "sport = :$p" | grep -q .; then
        owner=$(ss -Hltnp "sport = :$p" | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 |
          sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/ (held by \1, pid \2)/')
        die "port $p for $c is already in use$owner; stop it, or set BOTSEC_CLUSTER_PORT_BASE to move the cluster"
      fi
    done
  done
}

start() {
  local name=$1
  shift
  # Close the lock's descriptor in the child: a daemon holding it would block every later call.
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$run/$name.pid"
  printf '%s\0' "$@" >"$run/$name.args"  # for `restart`
}

# Waits until `probe` succeeds; names the component and shows its log if it dies or times out.
wait_for() {
  local name=$1 probe=$2 deadline=$((SECONDS + start_timeout))
  until eval "$probe" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 8 "$logs/$name.log" | sed "s/^/    $name: /" >&2
      die "$name exited during start-up (log: $logs/$name.log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 8 "$logs/$name.log" | sed "s/^/    $name: /" >&2
      die "$name was not ready after ${start_timeout} s (log: $logs/$name.log)"
    fi
    sleep 0.2
  done
}

healthy() {
  local c
  for c in "${components[@]}"; do running "$c" || return 1; done
  curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$apiserver_port/readyz" >/dev/null 2>&1
}

lock() {
  exec 8>"$dir/.lock"
  flock -w 900 8 || die "another tools/cluster.sh has held $dir/.lock for 15 minutes"
}

cmd_up() {
  lock
  if healthy; then
    log "already running: kubeconfig $kubeconfig"
    return 0
  fi
  if [[ -n "$(our_pids)" ]]; then
    log "some components are not running; restarting the whole control plane"
    stop_all
  fi
  local t0=$SECONDS bin
  bin=$("$repo/tools/build-controlplane.sh")
  # A start-up that fails part-way stops what it started: never a half-running control plane.
  trap 'status=$?; if ((status != 0)); then stop_all >/dev/null 2>&1 || true; fi' EXIT
  local stages=${bin%/bin}/kwok-stages
  mkdir -p "$logs" "$run" "$dir/bin" "$dir/etcd"
  ln -sfn "$bin/kubectl" "$dir/bin/kubectl"
  ln -sfn "$bin/helm" "$dir/bin/helm"
  check_ports_free
  make_pki
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$dir/kube-controller-manager.kubeconfig" kube-controller-manager
  write_kubeconfig "$dir/kube-scheduler.kubeconfig" kube-scheduler
  write_kubeconfig "$dir/kwok.kubeconfig" kwok
  cp "$repo/tools/audit-policy.yaml" "$dir/audit-policy.yaml"

  log "starting etcd on 127.0.0.1:$etcd_port"
  start etcd "$bin/etcd" --name=botsec --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="botsec=http://127.0.0.1:$etcd_peer_port" \
    --listen-metrics-urls="" --unsafe-no-fsync --log-level=warn
  wait_for etcd "curl -fsS --max-time 2 http://127.0.0.1:$etcd_port/health"
  echo "http://127.0.0.1:$etcd_port" >"$dir/etcd-endpoint"

  log "starting kube-apiserver on https://127.0.0.1:$apiserver_port"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$apiserver_port" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" \
    --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --authorization-mode=RBAC --anonymous-auth=false --allow-privileged=true \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
    --audit-log-format=json --audit-log-maxsize=200 --audit-log-maxbackup=2 \
    --profiling=false ${BOTSEC_APISERVER_EXTRA_ARGS:-}
  wait_for kube-apiserver "curl -fsS --max-time 2 --cacert $pki/ca.crt --cert $pki/admin.crt \
    --key $pki/admin.key https://127.0.0.1:$apiserver_port/readyz"

  log "starting kube-controller-manager and kube-scheduler"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$dir/kube-controller-manager.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --service-cluster-ip-range=10.0.0.0/24 --profiling=false
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$dir/kube-scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$scheduler_port" \
    --profiling=false
  log "starting kwok (simulated kubelets)"
  start kwok "$bin/kwok" --kubeconfig="$dir/kwok.kubeconfig" --manage-all-nodes=true \
    --config="$stages/node/fast/node-initialize.yaml" \
    --config="$stages/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    --config="$stages/pod/fast/pod-ready.yaml" \
    --config="$stages/pod/fast/pod-complete.yaml" \
    --config="$stages/pod/fast/pod-delete.yaml" \
    --node-lease-duration-seconds=40 --cidr=10.0.0.0/16 --node-ip=10.0.0.1
  wait_for kube-controller-manager "curl -fsS -k --max-time 2 https://127.0.0.1:$kcm_port/healthz"
  wait_for kube-scheduler "curl -fsS -k --max-time 2 https://127.0.0.1:$scheduler_port/healthz"

  log "registering ${#nodes[@]} simulated nodes"
  local n
  for n in "${nodes[@]}"; do node_manifest "$n"; done | kubectl apply -f - >/dev/null
  wait_for kwok "kubectl wait --for=condition=Ready node --all --timeout=$nodes_wait"
  # Pods in a namespace need its default ServiceAccount, which the controller-manager creates.
  wait_for kube-controller-manager "kubectl -n default get serviceaccount default"
  log "ready in $((SECONDS - t0)) s: export KUBECONFIG=$kubeconfig (kubectl: $dir/bin/kubectl)"
}

node_manifest() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "$node_pods", ephemeral-storage: 200Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "$node_pods", ephemeral-storage: 200Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
---
EOF
}

kubectl() { "$dir/bin/kubectl" --kubeconfig="$kubeconfig" "$@"; }

stop_all() {
  local c pid i
  # Reverse start order: clients first, etcd last.
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    c=${components[i]}
    pid=$(pid_of "$c") || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    [[ -z "$(our_pids)" ]] && break
    sleep 0.2
  done
  for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 0.2
  rm -f "$run"/*.pid
  local left
  left=$(our_pids)
  [[ -z "$left" ]] || die "processes still running after SIGKILL: $left"
}

cmd_down() {
  lock
  if [[ -z "$(our_pids)" ]]; then
    log "not running"
    return 0
  fi
  stop_all
  log "stopped; no component left running"
}

cmd_status() {
  local c pid rc=0
  for c in "${components[@]}"; do
    if pid=$(pid_of "$c"); then
      printf '%-24s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-24s not running\n' "$c"
      rc=1
    fi
  done
  if ((rc == 0)) && healthy; then
    printf '%-24s https://127.0.0.1:%s ready\n' "api" "$apiserver_port"
    printf '%-24s %s\n' "kubeconfig" "$kubeconfig"
    kubectl get nodes -o wide
  else
    return 1
  fi
}

cmd_clean() {
  cmd_down
  rm -rf "$pki" "$dir/etcd" "$logs" "$run" "$dir"/*.kubeconfig "$kubeconfig" "$dir/bin"
  log "removed the cluster state in $dir"
}

cmd_restart() {
  local name=${1:-} pid args=()
  [[ " ${components[*]} " == *" $name "* ]] || die "restart: name one of: ${components[*]}"
  lock
  [[ -f "$run/$name.args" ]] || die "restart: $name was never started in $dir"
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # The new process must find its ports free: wait for the old one to be gone and its sockets
  # released (a SIGKILLed server's listening socket can outlive the kill for a moment).
  local p busy
  for _ in $(seq 1 100); do
    busy=""
    for p in $(port_of "$name"); do
      ss -Hltn "sport = :$p" | grep -q . && busy=1
    done
    [[ -z "$busy" ]] && ! { [[ -n "${pid:-}" ]] && kill -0 "$pid" 2>/dev/null; } && break
    sleep 0.1
  done
  mapfile -d '' args <"$run/$name.args"
  log "restarting $name"
  start "$name" "${args[@]}"
  case $name in
    etcd) wait_for etcd "curl -fsS --max-time 2 http://127.0.0.1:$etcd_port/health" ;;
    kube-apiserver) wait_for kube-apiserver "curl -fsS --max-time 2 --cacert $pki/ca.crt \
      --cert $pki/admin.crt --key $pki/admin.key https://127.0.0.1:$apiserver_port/readyz" ;;
    kube-controller-manager) wait_for "$name" "curl -fsS -k --max-time 2 https://127.0.0.1:$kcm_port/healthz" ;;
    kube-scheduler) wait_for "$name" "curl -fsS -k --max-time 2 https://127.0.0.1:$scheduler_port/healthz" ;;
    kwok) wait_for kwok "kubectl wait --for=condition=Ready node --all --timeout=$nodes_wait" ;;
  esac
  log "$name is back"
  # A controller-manager still starting its controllers exits when the API server goes away:
  # bring back whatever the restart took down with it.
  local c
  for c in "${components[@]}"; do
    if [[ "$c" != "$name" && -f "$run/$c.args" ]] && ! running "$c"; then
      log "$c stopped while $name was down; starting it again"
      mapfile -d '' args <"$run/$c.args"
      start "$c" "${args[@]}"
    fi
  done
}

name_ok() { [[ "$1" =~ ^[A-Za-z0-9:@._-]+$ ]]; }

cmd_kubeconfig() {
  local user="" sa="" groups=() subject="" g cred tmp
  while (($#)); do
    case $1 in
      --user) user=${2:?--user needs a name}; shift 2 ;;
      --group) groups+=("${2:?--group needs a name}"); shift 2 ;;
      --serviceaccount) sa=${2:?--serviceaccount needs NAMESPACE/NAME}; shift 2 ;;
      *) die "kubeconfig: unknown argument '$1'" ;;
    esac
  done
  [[ -n "$user" || -n "$sa" ]] || die "kubeconfig: give --user NAME or --serviceaccount NAMESPACE/NAME"
  [[ -f "$pki/ca.crt" ]] || die "no cluster in $dir: run 'tools/cluster.sh up' first"
  if [[ -n "$sa" ]]; then
    [[ "$sa" == */* ]] || die "kubeconfig: --serviceaccount wants NAMESPACE/NAME, got '$sa'"
    local token
    token=$(kubectl -n "${sa%%/*}" create token "${sa#*/}" --duration=1h) ||
      die "kubeconfig: could not create a token for ServiceAccount $sa"
    cred="    token: $token"
    user="system:serviceaccount:${sa%%/*}:${sa#*/}"
  else
    name_ok "$user" || die "kubeconfig: --user '$user' has characters outside [A-Za-z0-9:@._-]"
    for g in "${groups[@]}"; do
      name_ok "$g" || die "kubeconfig: --group '$g' has characters outside [A-Za-z0-9:@._-]"
      subject+="/O=$g"
    done
    subject+="/CN=$user"
    tmp=$(mktemp -d)
    openssl req -newkey rsa:2048 -nodes -keyout "$tmp/key" -out "$tmp/csr" -subj "$subject" \
      2>/dev/null
    openssl x509 -req -in "$tmp/csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 7 -out "$tmp/crt" -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
    cred="    client-certificate-data: $(base64 -w0 <"$tmp/crt")
    client-key-data: $(base64 -w0 <"$tmp/key")"
    rm -rf "$tmp"
  fi
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: botsec-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
$cred
contexts:
- name: botsec-local
  context:
    cluster: botsec-local
    user: $user
current-context: botsec-local
EOF
}

case "${1:-}" in
  up) cmd_up ;;
  kubeconfig) shift; cmd_kubeconfig "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
