// botsec-operator: watches BotSandbox resources and reconciles each into a fenced-in sandbox.
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "botsec/api/render.h"
#include "botsec/api/settings_flags.h"
#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/kube/leader_election.h"
#include "botsec/operator/metrics.h"
#include "botsec/operator/reconciler.h"
#include "botsec/policy/policy.h"
#include "botsec/serve/probes.h"
#include "botsec/serve/server.h"

namespace {

std::atomic<int> g_signalled{0};

void OnSignal(int signal) { g_signalled = signal; }

botsec::core::Result<botsec::operator_reconcile::ReconcilerOptions> Options(
    const botsec::core::ParsedFlags& flags) {
  botsec::operator_reconcile::ReconcilerOptions options;
  auto settings = botsec::api::SandboxSettingsFromFlags(flags);
  if (!settings) {
    return botsec::core::Fail(settings.error());
  }
  options.settings = std::move(*settings);
  auto resync = botsec::policy::ParseDuration(flags.Get("resync-period"));
  if (!resync) {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--resync-period: " + resync.error().message);
  }
  options.resync_period = *resync;
  auto workers = flags.Int("workers", 1, 999);
  if (!workers) {
    return botsec::core::Fail(workers.error());
  }
  options.workers = *workers;
  options.watch_namespace = std::string(flags.Get("watch-namespace"));
  return options;
}

// The reconciler this replica runs (while it leads, or always without leader election), and
// what the rest of main asks of it: /readyz (a standby replica is ready, to take over; the one
// that reconciles is ready once every informer has listed) and reloaded policies (they go to the
// running reconciler and to the options of the next, for a replica that starts leading later).
class Controller {
 public:
  Controller(botsec::operator_reconcile::ReconcilerOptions options, bool leading)
      : options_(std::move(options)), leading_(leading) {}

  // Reconciles until `stop`.
  void Run(const botsec::kube::Client& client, botsec::core::Clock& clock,
           const std::stop_token& stop) {
    botsec::operator_reconcile::Reconciler reconciler(client, clock, Options());
    {
      std::lock_guard lock(mu_);
      leading_ = true;
      current_ = &reconciler;
    }
    reconciler.Run(stop);
    std::lock_guard lock(mu_);
    current_ = nullptr;
  }

  botsec::core::Result<void> Ready() const {
    std::lock_guard lock(mu_);
    if (!leading_) {
      return {};
    }
    if (current_ == nullptr || !current_->Synced()) {
      return botsec::core::Fail(botsec::core::ErrorCode::kUnavailable,
                                "the informers' caches have not synced yet");
    }
    return {};
  }

  void SetPolicy(const botsec::policy::Policy& policy) {
    std::lock_guard lock(mu_);
    options_.settings.policy = policy;
    if (current_ != nullptr) {
      current_->SetPolicy(policy);
    }
  }

 private:
  botsec::operator_reconcile::ReconcilerOptions Options() const {
    std::lock_guard lock(mu_);
    return options_;
  }

  mutable std::mutex mu_;
  botsec::operator_reconcile::ReconcilerOptions options_;
  bool leading_;
  botsec::operator_reconcile::Reconciler* current_ = nullptr;
};

// Starts a server for `routes` on the address of `flag`, or none when it is "0"; an error naming
// the flag when the address is wrong or cannot be listened on.
botsec::core::Result<std::unique_ptr<botsec::serve::Server>> Serve(std::string_view flag,
                                                                   std::string_view address,
                                                                   botsec::serve::Routes routes) {
  if (address == "0") {
    return std::unique_ptr<botsec::serve::Server>();
  }
  auto bind = botsec::serve::ParseBindAddress(address);
  if (!bind) {
    return botsec::core::Fail(bind.error().Wrap("--" + std::string(flag)));
  }
  std::string paths;
  for (const auto& [path, handler] : routes) {
    paths += (paths.empty() ? "" : ",") + path;
  }
  auto server = botsec::serve::Server::Start({.bind_address = std::string(address), .threads = 1},
                                             std::move(routes));
  if (!server) {
    return botsec::core::Fail(server.error().Wrap("--" + std::string(flag)));
  }
  std::cerr << "Serving paths=" << paths << " address=" << bind->host << ":" << (*server)->port()
            << "\n";
  return server;
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
      .String("resync-period", "DURATION", "10m", "reconcile every BotSandbox at least this often")
      .String("watch-namespace", "NS", "", "reconcile only the BotSandboxes of this namespace")
      .Bool("leader-elect", "run as one of several replicas: only the holder of a Lease reconciles")
      .String("leader-election-namespace", "NS", "",
              "the Lease's namespace (default: $POD_NAMESPACE, else default)")
      .String("metrics-bind-address", "ADDRESS", "0",
              "serve /metrics on host:port (:port for every interface; 0: not at all)")
      .String("health-probe-bind-address", "ADDRESS", ":8081",
              "serve /healthz and /readyz on host:port (:port for every interface; 0: not at all)");
  botsec::api::AddSandboxSettingsFlags(flags);
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  auto options = Options(outcome.flags);
  if (!options) {
    std::cerr << "botsec-operator: " << options.error().message << "\n";
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  botsec::operator_reconcile::ControllerMetrics metrics(*registry);
  options->metrics = &metrics;
  Controller controller(*options, /*leading=*/!outcome.flags.Bool("leader-elect"));
  metrics.SetLeader(!outcome.flags.Bool("leader-elect"));
  auto ping = [] { return botsec::core::Result<void>{}; };
  botsec::serve::Routes probes{
      {"/healthz", botsec::serve::HealthHandler("healthz", {{"ping", ping}})},
      {"/readyz",
       botsec::serve::HealthHandler("readyz", {{"ping", ping}, {"informers-synced", [&controller] {
                                                                  return controller.Ready();
                                                                }}})}};
  botsec::serve::Routes metric_routes{{"/metrics", botsec::serve::MetricsHandler(registry)}};
  std::string metrics_address(outcome.flags.Get("metrics-bind-address"));
  std::string probe_address(outcome.flags.Get("health-probe-bind-address"));
  if (metrics_address == probe_address && metrics_address != "0" &&
      !metrics_address.ends_with(":0")) {
    probes.merge(metric_routes);  // one address, one server (port 0 picks one for each)
    metrics_address = "0";
  }
  auto probe_server = Serve("health-probe-bind-address", probe_address, std::move(probes));
  auto metrics_server = Serve("metrics-bind-address", metrics_address, std::move(metric_routes));
  for (const auto* server : {&probe_server, &metrics_server}) {
    if (!*server) {
      std::cerr << "botsec-operator: " << server->error().message << "\n";
      return 2;
    }
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
                                          metrics.SetLeader(true);
                                          controller.Run(*client, clock, work);
                                        },
                                    .on_stopped_leading =
                                        [&] {
                                          metrics.SetLeader(false);
                                          std::cerr << "Stopped leading\n";
                                        },
                                    .on_new_leader =
                                        [](const std::string& leader) {
                                          std::cerr << "New leader identity=" << leader << "\n";
                                        }});
      if (end == botsec::kube::ElectionEnd::kLost) {
        lost = true;
      }
    });
  } else {
    runner =
        std::jthread([&](const std::stop_token& stop) { controller.Run(*client, clock, stop); });
  }
  std::cerr << "Starting botsec-operator workers=" << options->workers << "\n";
  std::string policy_path(outcome.flags.Get("policy"));
  botsec::policy::PolicyReloader reloader(policy_path);
  for (int tick = 1; g_signalled == 0 && !lost; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!policy_path.empty() && tick % 40 == 0) {  // every 2 s
      reloader.PollAndApply([&controller](const auto& policy) { controller.SetPolicy(policy); },
                            std::cerr);
    }
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
