#!/usr/bin/env bash
# Installs the Debian packages BotSec builds, tests and benchmarks with. Quick when they are all
# present: it asks dpkg first and runs apt-get only for what is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ make cmake ninja-build ccache pkg-config git
  # libraries
  libcpprest-dev libboost-dev libboost-system-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev
  prometheus-cpp-dev libexpected-dev libsimdjson-dev
  # tests, lint, sanitizers and fuzzers
  googletest libgtest-dev libgmock-dev clang clang-format clang-tidy libclang-rt-14-dev
  # running the control plane and benchmarks
  openssl curl ca-certificates util-linux procps iproute2 wrk hyperfine
  # the image (make image)
  mmdebstrap umoci
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  echo "[deps] installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo=""
  ((EUID == 0)) || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Go builds the control plane (tools/build-controlplane.sh); Debian's Go is too old for
# Kubernetes 1.37, so it must come with the machine.
if ! command -v go >/dev/null; then
  echo "[deps] error: Go >= 1.26 is required to build the control plane and is not on PATH" >&2
  exit 1
fi
go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [[ -z "$go_minor" || "$go_minor" -lt 26 ]]; then
  echo "[deps] error: Go >= 1.26 is required, found $(go env GOVERSION)" >&2
  exit 1
fi
echo "[deps] all packages present"
