// A process that campaigns for a Lease with libs/kube's LeaseElector, for the leader-election
// integration tests: they run two and kill or stop them. Prints one line per transition, with
// the wall-clock time in milliseconds, so the test can measure handovers:
//   leading <ms>    this process started leading
//   stopped <ms>    its leading work stopped (loss or shutdown)
//   exit <reason>   Run returned (stopped | lost)
// SIGTERM and SIGINT stop it cleanly, releasing the Lease.
//   lease_holder --kubeconfig PATH --namespace NS --name NAME --identity ID
//                [--lease-duration-ms N --renew-deadline-ms N --retry-period-ms N]
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "botsec/core/clock.h"
#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "botsec/kube/leader_election.h"

namespace {

volatile std::sig_atomic_t g_signalled = 0;

void OnSignal(int /*signal*/) { g_signalled = 1; }

long long WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds Millis(const botsec::core::ParsedFlags& flags, std::string_view name) {
  return std::chrono::milliseconds(std::stoll(std::string(flags.Get(name))));
}

int Run(const botsec::core::ParsedFlags& flags) {
  auto client = botsec::kube::NewClient(std::string(flags.Get("kubeconfig")));
  if (!client) {
    std::cerr << "lease_holder: " << client.error().message << "\n";
    return 2;
  }
  botsec::kube::LeaderElectionConfig election{
      .lease_namespace = std::string(flags.Get("namespace")),
      .lease_name = std::string(flags.Get("name")),
      .identity = std::string(flags.Get("identity")),
      .lease_duration = Millis(flags, "lease-duration-ms"),
      .renew_deadline = Millis(flags, "renew-deadline-ms"),
      .retry_period = Millis(flags, "retry-period-ms")};
  if (auto valid = botsec::kube::Validate(election); !valid) {
    std::cerr << "lease_holder: " << valid.error().message << "\n";
    return 2;
  }
  botsec::core::RealClock clock;
  botsec::kube::LeaseElector elector(*client, election, clock);
  std::jthread election_thread([&](const std::stop_token& stop) {
    botsec::kube::ElectionEnd end = elector.Run(
        stop, {.on_started_leading =
                   [](const std::stop_token& work) {
                     std::cout << "leading " << WallMillis() << "\n" << std::flush;
                     while (!work.stop_requested()) {
                       std::this_thread::sleep_for(std::chrono::milliseconds(5));
                     }
                   },
               .on_stopped_leading =
                   [] { std::cout << "stopped " << WallMillis() << "\n"
                                  << std::flush; },
               .on_new_leader = nullptr});
    std::cout << "exit " << (end == botsec::kube::ElectionEnd::kLost ? "lost" : "stopped") << "\n"
              << std::flush;
  });
  while (g_signalled == 0 && election_thread.joinable()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  election_thread.request_stop();
  election_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  botsec::core::FlagSet flags("lease_holder", "Campaigns for a Lease (leader-election tests).");
  flags.String("kubeconfig", "PATH", "", "kubeconfig file")
      .String("namespace", "NS", "default", "the Lease's namespace")
      .String("name", "NAME", "lease-holder", "the Lease's name")
      .String("identity", "ID", "", "this candidate's identity")
      .String("lease-duration-ms", "N", "15000", "lease duration")
      .String("renew-deadline-ms", "N", "10000", "renew deadline")
      .String("retry-period-ms", "N", "2000", "retry period");
  try {
    auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
    if (outcome.exit_code) {
      return *outcome.exit_code;
    }
    return Run(outcome.flags);
  } catch (const std::exception& e) {
    std::cerr << "lease_holder: " << e.what() << "\n";
    return 2;
  }
}
