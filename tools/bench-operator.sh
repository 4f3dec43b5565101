#!/usr/bin/env bash
# The operator benchmark (bench/operator/sandbox_bench.cc) on a control plane of its own, so that
# nothing it makes lands in the shared cluster (build/cluster, ports 16440-16445). The bench brings
# that cluster up and cleans it once per side; this wrapper cleans it too when the bench ends,
# whether it succeeded, failed or was interrupted.
#
#   tools/bench-operator.sh [sandbox_bench flags]      e.g. --sandboxes 1000 --workers 4
#
# Environment:
#   BOTSEC_BENCH_CLUSTER_DIR        state directory (default: build/cluster-bench in the checkout)
#   BOTSEC_BENCH_CLUSTER_PORT_BASE  first of its six ports (default 16480)
#   BOTSEC_BENCH_BIN                the bench binary (default: build/cmake/bench/sandbox_bench)
#   BOTSEC_KWOK_NODES               simulated nodes (default: the bench's, one per 100 sandboxes + 2)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BOTSEC_CLUSTER_DIR=${BOTSEC_BENCH_CLUSTER_DIR:-$repo/build/cluster-bench}
export BOTSEC_CLUSTER_PORT_BASE=${BOTSEC_BENCH_CLUSTER_PORT_BASE:-16480}
bench=${BOTSEC_BENCH_BIN:-$repo/build/cmake/bench/sandbox_bench}

if [[ "$(realpath -m "$BOTSEC_CLUSTER_DIR")" == "$(realpath -m "$repo/build/cluster")" ||
      "$BOTSEC_CLUSTER_PORT_BASE" == 16440 ]]; then
  echo "bench-operator: error: refusing to run on the shared cluster (build/cluster, 16440)" >&2
  exit 2
fi
[[ -x "$bench" ]] || { echo "bench-operator: error: no $bench: run make build" >&2; exit 2; }

cleanup() {
  "$repo/tools/cluster.sh" clean >/dev/null 2>&1 || true
  rm -rf "$BOTSEC_CLUSTER_DIR/tmp"  # the bench users' kubeconfigs
}
trap cleanup EXIT
# In the background, so that an interrupt reaches this shell at once and is passed on.
"$bench" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; exit 130' INT TERM
wait "$pid"
