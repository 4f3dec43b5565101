# BotSec's front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
PRESET := asan
else
PRESET := default
endif
BUILD_DIR := build/$(if $(filter asan,$(PRESET)),asan,cmake)
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/botsec/ccache
export CCACHE_MAXSIZE ?= 5G
CTEST_ARGS ?=
SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null)

.PHONY: help deps configure build test unit integration lint format cluster-up cluster-down \
        cluster-status cluster-clean controlplane bench fuzz demo clean manifests verify image

help: ## List the targets
	@echo "BotSec: run AI bots safely on Kubernetes"
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo
	@echo "  SANITIZE=1 builds and tests with AddressSanitizer and UndefinedBehaviorSanitizer."

deps: ## Install the Debian packages the project needs (quick when present)
	@tools/deps.sh

configure:
	@cmake --preset $(PRESET) >/dev/null

build: configure ## Build the three binaries into build/bin and the tests
	@cmake --build --preset $(PRESET) -j $(JOBS)

controlplane: ## Build (once, cached in ~/.cache/botsec) the Kubernetes control plane from Go modules
	@tools/build-controlplane.sh >/dev/null

cluster-up: ## Start the local control plane (etcd, apiserver, controller-manager, scheduler, KWOK)
	@tools/cluster.sh up

cluster-down: ## Stop the local control plane (and the demo's operator); no process is left behind
	@for p in operator webhook; do if [ -f build/cluster/$$p.pid ]; then kill $$(cat build/cluster/$$p.pid) 2>/dev/null || true; rm -f build/cluster/$$p.pid; fi; done
	@tools/cluster.sh down

cluster-status: ## Show each component of the local control plane and the nodes
	@tools/cluster.sh status

cluster-clean: ## Stop the control plane and delete its state (certificates, etcd data, logs)
	@tools/cluster.sh clean

test: ## Install deps, build, start the control plane, run unit and integration tests
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory cluster-up
	@cd $(BUILD_DIR) && ctest -j $(JOBS) --output-on-failure --output-junit ctest-junit.xml $(CTEST_ARGS)

unit: build ## Run the unit tests only
	@cd $(BUILD_DIR) && ctest -j $(JOBS) --output-on-failure -L unit $(CTEST_ARGS)

integration: build cluster-up ## Run the integration tests only (against the real control plane)
	@cd $(BUILD_DIR) && ctest -j $(JOBS) --output-on-failure -L integration $(CTEST_ARGS)

image: build ## Build the operator and webhook image (OCI archive in build/image) without a Docker engine
	@tools/build-image.sh build/bin build/image

manifests: ## Render deploy/botsec.yaml from the Helm chart (placeholder certificates)
	@tools/render-manifests.sh

verify: ## Fail when deploy/ is stale against the chart
	@tools/render-manifests.sh --check

lint: configure ## clang-format check and clang-tidy over the project's sources; warnings are errors
	@clang-format --dry-run --Werror $(SOURCES)
	@cmake --build --preset $(PRESET) -j $(JOBS) >/dev/null
	@run-clang-tidy -quiet -p $(BUILD_DIR) -j $(JOBS) -extra-arg=-Wno-unknown-warning-option \
	  '^$(CURDIR)/(libs|operator|webhook|cli|tests|bench)/.*\.cc$$' >$(BUILD_DIR)/clang-tidy.log 2>&1 || \
	  { grep -E 'warning:|error:' -A3 $(BUILD_DIR)/clang-tidy.log; exit 1; }
	@echo "lint: clean"

format: ## Reformat the project's sources with clang-format
	@clang-format -i $(SOURCES)

bench: build cluster-up ## Run the benchmarks against the local control plane and print figures, with ratios to a peer
	@peer=$$(tools/build-bench-peer.sh) && \
	  $(BUILD_DIR)/bench/informer_bench --kubeconfig build/cluster/kubeconfig --objects 10000 \
	    --peer "$$peer"
	@peer=$$(tools/build-bench-peer.sh policy) && \
	  $(BUILD_DIR)/bench/judge_bench --peer "$$peer"
	@BOTSEC_BENCH_BIN=$(BUILD_DIR)/bench/sandbox_bench tools/bench-operator.sh
	@$(BUILD_DIR)/bench/webhook_bench --kubeconfig build/cluster/kubeconfig \
	  --psa-webhook "$$(tools/build-controlplane.sh)/pod-security-webhook"

FUZZ_SECONDS ?= 60
fuzz: deps ## Fuzz each parser with libFuzzer for FUZZ_SECONDS (default 60) from its checked-in corpus
	@cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j $(JOBS)
	@for t in watch_event kubeconfig policy manifest admission_review; do \
	  mkdir -p build/fuzz/corpus/$$t && cp -n tests/fuzz/corpus/$$t/* build/fuzz/corpus/$$t/; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus/$$t || exit 1; \
	done

demo: ## Bring up the local control plane and show BotSec at work
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@tools/demo.sh

clean: ## Remove the CMake build trees (the control plane cache in ~/.cache/botsec stays)
	rm -rf build/cmake build/asan build/fuzz build/bin
