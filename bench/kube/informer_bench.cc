// make bench: informer sync of N ConfigMaps on the local control plane. Prints the time to
// synced and the resident memory per cached object next to the objects' own JSON size.
//   informer_bench --kubeconfig PATH [--objects N]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "botsec/core/clock.h"
#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "botsec/kube/informer.h"

namespace {

using botsec::kube::Json;

// Resident set size in bytes, from /proc/self/statm.
long Rss() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int Run(const std::string& kubeconfig, int count) {
  auto config =
      botsec::kube::LoadConfig(kubeconfig, "", botsec::kube::GetEnv, botsec::kube::ReadFile);
  if (!config) {
    std::cerr << "informer_bench: " << config.error().message << "\n";
    return 1;
  }
  auto transport = botsec::kube::NewHttpTransport(*config);
  if (!transport) {
    std::cerr << "informer_bench: " << transport.error().message << "\n";
    return 1;
  }
  botsec::kube::Client client(std::shared_ptr<botsec::kube::HttpTransport>(std::move(*transport)));
  const std::string ns = "bench-informer-" + std::to_string(count);
  auto made =
      client.Apply(botsec::kube::resources::Namespaces(), "",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}},
                   {.field_manager = "botsec-bench"});
  if (!made) {
    std::cerr << "informer_bench: namespace: " << made.error().message << "\n";
    return 1;
  }
  // Seed the objects once; a later run reuses them. Progress every 1,000.
  botsec::kube::ListOptions bulk;
  bulk.label_selector = "bench=informer";
  auto existing = client.ListAll(botsec::kube::resources::ConfigMaps(), ns, bulk);
  std::size_t have = existing ? (*existing)["items"].size() : 0;
  if (have < static_cast<std::size_t>(count)) {
    std::cout << "seeding " << count << " ConfigMaps in " << ns << "\n";
    std::atomic<int> done{0};
    std::vector<std::jthread> writers;
    writers.reserve(4);
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = w; i < count; i += 4) {
          Json cm = {{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata",
                      {{"name", "cm-" + std::to_string(i)},
                       {"labels", {{"bench", "informer"}, {"shard", std::to_string(i % 16)}}}}},
                     {"data", {{"prompt", std::string(200, 'p')}, {"model", "bot-small"}}}};
          (void)client.Apply(botsec::kube::resources::ConfigMaps(), ns, cm,
                             {.field_manager = "botsec-bench"});
          if (int n = ++done; n % 1000 == 0) {
            std::cout << "  " << n << "/" << count << "\n" << std::flush;
          }
        }
      });
    }
  }
  // The objects' own size: the JSON the server sends for them, managedFields included.
  auto listed = client.ListAll(botsec::kube::resources::ConfigMaps(), ns, bulk);
  if (!listed) {
    std::cerr << "informer_bench: " << listed.error().message << "\n";
    return 1;
  }
  std::size_t json_bytes = 0;
  for (const Json& item : (*listed)["items"]) {
    json_bytes += item.dump().size();
  }
  std::size_t objects = (*listed)["items"].size();
  listed = {};

  long rss_before = Rss();
  botsec::core::RealClock clock;
  botsec::kube::ReflectorOptions options;
  options.selectors = bulk;
  botsec::kube::Informer informer(client, botsec::kube::resources::ConfigMaps(), ns, clock,
                                  options);
  auto start = std::chrono::steady_clock::now();
  std::jthread runner([&](const std::stop_token& stop) { informer.Run(stop); });
  while (!informer.HasSynced()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long rss_after = Rss();
  runner.request_stop();

  double per_object_rss =
      static_cast<double>(rss_after - rss_before) / static_cast<double>(objects);
  double per_object_json = static_cast<double>(json_bytes) / static_cast<double>(objects);
  std::printf("informer sync: %zu ConfigMaps in %.2f s (%.0f objects/s)\n", objects, seconds,
              static_cast<double>(objects) / seconds);
  std::printf(
      "memory: %.0f bytes RSS per cached object; its JSON is %.0f bytes; ratio %.2fx "
      "(goal <= 2x)\n",
      per_object_rss, per_object_json, per_object_rss / per_object_json);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  botsec::core::FlagSet flags("informer_bench", "time and memory of an informer sync");
  flags.String("kubeconfig", "PATH", "build/cluster/kubeconfig", "The cluster to use.")
      .String("objects", "N", "10000", "How many ConfigMaps to sync.");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  int count = std::atoi(std::string(outcome.flags.Get("objects")).c_str());
  if (count <= 0) {
    std::cerr << "informer_bench: --objects: must be a positive number\n";
    return 2;
  }
  return Run(std::string(outcome.flags.Get("kubeconfig")), count);
} catch (const std::exception& e) {
  std::cerr << "informer_bench: " << e.what() << "\n";
  return 1;
}
