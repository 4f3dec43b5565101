// botsec-operator: watches BotSandbox resources and reconciles each into a fenced-in sandbox.
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>

#include "botsec/api/render.h"
#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/kube/leader_election.h"
#include "botsec/operator/reconciler.h"
#include "botsec/policy/policy.h"

namespace {

std::atomic<int> g_signalled{0};

void OnSignal(int signal) { g_signalled = signal; }

// "cpu=100m,memory=128Mi" into a resource list; names the flag and the entry when wrong.
botsec::core::Result<botsec::api::ResourceList> ParseResourceFlag(std::string_view flag,
                                                                  std::string_view text) {
  botsec::api::ResourceList list;
  std::stringstream entries{std::string(text)};
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    std::size_t eq = entry.find('=');
    std::string name = entry.substr(0, eq);
    if (eq == std::string::npos ||
        (name != "cpu" && name != "memory" && name != "ephemeral-storage")) {
      return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                                "--" + std::string(flag) + ": \"" + entry +
                                    "\": want cpu=, memory= or ephemeral-storage= a quantity");
    }
    std::string value = entry.substr(eq + 1);
    if (auto quantity = botsec::policy::Quantity::Parse(value); !quantity || quantity->value <= 0) {
      std::string message = "--";
      message.append(flag).append(": ").append(name).append(": \"").append(value);
      message += "\" is not a positive quantity";
      return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument, message);
    }
    list[name] = value;
  }
  return list;
}

botsec::core::Result<botsec::operator_reconcile::ReconcilerOptions> Options(
    const botsec::core::ParsedFlags& flags) {
  botsec::operator_reconcile::ReconcilerOptions options;
  options.settings.namespace_prefix = std::string(flags.Get("namespace-prefix"));
  options.settings.pod_security_version = std::string(flags.Get("pod-security-version"));
  if (std::string path(flags.Get("policy")); !path.empty()) {
    std::ifstream file(path);
    if (!file) {
      return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                                "--policy: cannot read " + path);
    }
    std::stringstream text;
    text << file.rdbuf();
    auto policy = botsec::policy::ParsePolicy(text.str());
    if (!policy) {
      return botsec::core::Fail(policy.error().Wrap("--policy " + path));
    }
    options.settings.policy = *policy;
  }
  for (auto [flag, target] : {std::pair{"default-requests", &options.settings.default_requests},
                              std::pair{"default-limits", &options.settings.default_limits}}) {
    if (!flags.WasSet(flag)) {
      continue;
    }
    auto list = ParseResourceFlag(flag, flags.Get(flag));
    if (!list) {
      return botsec::core::Fail(list.error());
    }
    for (const auto& [name, value] : *list) {
      (*target)[name] = value;
    }
  }
  auto resync = botsec::policy::ParseDuration(flags.Get("resync-period"));
  if (!resync) {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--resync-period: " + resync.error().message);
  }
  options.resync_period = *resync;
  std::string workers(flags.Get("workers"));
  if (workers.empty() || workers.size() > 3 ||
      workers.find_first_not_of("0123456789") != std::string::npos || std::stoi(workers) < 1) {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--workers: \"" + workers + "\" is not a number from 1 to 999");
  }
  options.workers = std::stoi(workers);
  options.watch_namespace = std::string(flags.Get("watch-namespace"));
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  botsec::core::FlagSet flags("botsec-operator",
                              "reconciles BotSandbox resources (botsec.io/v1alpha1) into "
                              "fenced-in sandboxes");
  flags
      .String("kubeconfig", "PATH", "",
              "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
      .String("workers", "N", "2", "BotSandboxes reconciled at once")
      .String("namespace-prefix", "PREFIX", "bsb-", "prefix of every sandbox namespace")
      .String("policy", "FILE", "", "the policy document (libs/policy): bounds and checks")
      .String("resync-period", "DURATION", "10m", "reconcile every BotSandbox at least this often")
      .String("default-requests", "LIST", "cpu=100m,memory=128Mi,ephemeral-storage=256Mi",
              "the bot container's requests where a BotSandbox leaves them out")
      .String("default-limits", "LIST", "cpu=1,memory=512Mi,ephemeral-storage=1Gi",
              "the bot container's limits where a BotSandbox leaves them out")
      .String("watch-namespace", "NS", "", "reconcile only the BotSandboxes of this namespace")
      .Bool("leader-elect", "run as one of several replicas: only the holder of a Lease reconciles")
      .String("leader-election-namespace", "NS", "",
              "the Lease's namespace (default: $POD_NAMESPACE, else default)")
      .String("pod-security-version", "VERSION", "latest",
              "pod-security.kubernetes.io/enforce-version of every sandbox namespace");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  auto options = Options(outcome.flags);
  if (!options) {
    std::cerr << "botsec-operator: " << options.error().message << "\n";
    return 2;
  }
  auto client = botsec::kube::NewClient(std::string(outcome.flags.Get("kubeconfig")));
  if (!client) {
    std::cerr << "botsec-operator: " << client.error().message << "\n";
    return 2;
  }
  botsec::core::RealClock clock;
  std::atomic<bool> lost{false};
  std::jthread runner;
  if (outcome.flags.Bool("leader-elect")) {
    std::string lease_namespace(outcome.flags.Get("leader-election-namespace"));
    if (lease_namespace.empty()) {
      const char* pod_namespace = std::getenv("POD_NAMESPACE");
      lease_namespace = pod_namespace != nullptr && *pod_namespace != 0 ? pod_namespace : "default";
    }
    std::array<char, 256> host{};
    gethostname(host.data(), host.size() - 1);
    botsec::kube::LeaderElectionConfig election{
        .lease_namespace = lease_namespace,
        .lease_name = "botsec-operator",
        .identity = std::string(host.data()) + "_" + std::to_string(getpid())};
    if (auto valid = botsec::kube::Validate(election); !valid) {
      std::cerr << "botsec-operator: " << valid.error().message << "\n";
      return 2;
    }
    runner = std::jthread([&, election](const std::stop_token& stop) {
      botsec::kube::LeaseElector elector(*client, election, clock);
      auto end = elector.Run(stop, {.on_started_leading =
                                        [&](const std::stop_token& work) {
                                          std::cerr << "Leading lease=" << election.lease_namespace
                                                    << "/" << election.lease_name
                                                    << " identity=" << election.identity << "\n";
                                          botsec::operator_reconcile::Reconciler reconciler(
                                              *client, clock, *options);
                                          reconciler.Run(work);
                                        },
                                    .on_stopped_leading = [] { std::cerr << "Stopped leading\n"; },
                                    .on_new_leader =
                                        [](const std::string& leader) {
                                          std::cerr << "New leader identity=" << leader << "\n";
                                        }});
      if (end == botsec::kube::ElectionEnd::kLost) {
        lost = true;
      }
    });
  } else {
    runner = std::jthread([&](const std::stop_token& stop) {
      botsec::operator_reconcile::Reconciler reconciler(*client, clock, *options);
      reconciler.Run(stop);
    });
  }
  std::cerr << "Starting botsec-operator workers=" << options->workers << "\n";
  while (g_signalled == 0 && !lost) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (lost) {
    // As controller-runtime does: a replica that lost its lease exits and starts afresh.
    std::cerr << "Leader election lost\n";
    runner.request_stop();
    runner.join();
    return 1;
  }
  std::cerr << "Stopping signal=" << g_signalled.load() << "\n";
  runner.request_stop();
  runner.join();
  return 0;
}
