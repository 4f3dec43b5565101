// make bench: informer sync of N ConfigMaps on the local control plane. Prints the time to
// synced and the resident memory per cached object next to the objects' own JSON size; with
// --peer, runs the peer (client-go's informer, bench/kube/peer) on the same objects in the same
// run and prints both rows and the ratios botsec/client-go.
//   informer_bench --kubeconfig PATH [--objects N] [--peer PATH]
#include <malloc.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "botsec/core/clock.h"
#include "botsec/core/flags.h"
#include "botsec/core/result.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "botsec/kube/informer.h"
#include "support/peer_process.h"

namespace {

using botsec::core::ErrorCode;
using botsec::core::Fail;
using botsec::kube::Json;

// Resident set size in bytes, from /proc/self/statm.
long Rss() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// RSS after handing freed heap back to the OS, so that what is left is what is live: the peer
// does the same with runtime.GC and debug.FreeOSMemory.
long SettledRss() {
  malloc_trim(0);
  return Rss();
}

// Bytes the program has allocated and not freed (all arenas, mmapped chunks included).
long HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<long>(info.uordblks + info.hblkhd);
}

// One informer's figures for `objects` ConfigMaps.
struct Measurement {
  std::size_t objects = 0;
  double seconds = 0;
  double rss_per_object = 0;      // settled RSS after sync minus before, per object
  double heap_per_object = 0;     // live heap after sync minus before, per object
  double raw_rss_per_object = 0;  // RSS without malloc_trim: what this bench printed at first
};

// Creates the namespace and seeds `count` ConfigMaps once; a later run reuses them.
botsec::core::Result<void> Seed(const botsec::kube::Client& client, const std::string& ns,
                                int count, const botsec::kube::ListOptions& selector) {
  auto made =
      client.Apply(botsec::kube::resources::Namespaces(), "",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}},
                   {.field_manager = "botsec-bench"});
  if (!made) {
    return Fail(ErrorCode::kInternal, "namespace: " + made.error().message);
  }
  auto existing = client.ListAll(botsec::kube::resources::ConfigMaps(), ns, selector);
  std::size_t have = existing ? (*existing)["items"].size() : 0;
  if (have >= static_cast<std::size_t>(count)) {
    return {};
  }
  // Progress every 1,000.
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
  return {};
}

// Syncs botsec's Informer on the seeded objects; the informer is stopped when this returns.
botsec::core::Result<Measurement> MeasureBotsec(const botsec::kube::Client& client,
                                                const std::string& ns, std::size_t objects,
                                                const botsec::kube::ListOptions& selector) {
  long raw_before = Rss();
  long before = SettledRss();
  long heap_before = HeapInUse();
  botsec::core::RealClock clock;
  botsec::kube::ReflectorOptions options;
  options.selectors = selector;
  botsec::kube::Informer informer(client, botsec::kube::resources::ConfigMaps(), ns, clock,
                                  options);
  auto start = std::chrono::steady_clock::now();
  std::jthread runner([&](const std::stop_token& stop) { informer.Run(stop); });
  while (!informer.HasSynced()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long raw_after = Rss();
  long after = SettledRss();
  long heap_after = HeapInUse();
  std::size_t cached = informer.store().size();
  runner.request_stop();
  runner.join();
  if (cached != objects) {
    return Fail(ErrorCode::kInternal, "the store holds " + std::to_string(cached) +
                                          " ConfigMaps, expected " + std::to_string(objects));
  }
  auto n = static_cast<double>(objects);
  return Measurement{.objects = objects,
                     .seconds = seconds,
                     .rss_per_object = static_cast<double>(after - before) / n,
                     .heap_per_object = static_cast<double>(heap_after - heap_before) / n,
                     .raw_rss_per_object = static_cast<double>(raw_after - raw_before) / n};
}

// Runs the peer binary on the same namespace and returns its one JSON line. Its stderr passes
// through; its stdout is read here.
botsec::core::Result<Json> RunPeer(const std::string& path, const std::string& kubeconfig,
                                   const std::string& ns, std::size_t objects) {
  std::vector<std::string> args = {
      path, "--kubeconfig", kubeconfig, "--namespace", ns, "--expect", std::to_string(objects)};
  auto run = botsec::bench::RunPeerProcess(std::move(args));
  if (!run) {
    return Fail(run.error());
  }
  const std::string& output = *run;
  // The last non-empty line is the result.
  std::string line = output.substr(0, output.find_last_not_of('\n') + 1);
  line = line.substr(line.rfind('\n') + 1);
  Json row = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!row.is_object() || !row.contains("peer") || !row["peer"].is_string() ||
      !row.contains("objects") || !row["objects"].is_number_unsigned() ||
      !row.contains("sync_seconds") || !row["sync_seconds"].is_number() ||
      !row.contains("rss_bytes_per_object") || !row["rss_bytes_per_object"].is_number() ||
      !row.contains("heap_bytes_per_object") || !row["heap_bytes_per_object"].is_number()) {
    return Fail(ErrorCode::kInternal, path + " printed no result line; its stdout was: " +
                                          output.substr(0, output.find_last_not_of('\n') + 1));
  }
  if (row["objects"].get<std::size_t>() != objects) {
    return Fail(ErrorCode::kInternal, path + " synced " + row["objects"].dump() +
                                          " objects, expected " + std::to_string(objects));
  }
  return row;
}

void PrintComparison(const Measurement& botsec, const Json& peer) {
  const std::string name = peer["peer"].get<std::string>();
  const double seconds = peer["sync_seconds"].get<double>();
  const double rss = peer["rss_bytes_per_object"].get<double>();
  const double heap = peer["heap_bytes_per_object"].get<double>();
  const auto objects = static_cast<double>(botsec.objects);
  std::printf("\ninformer sync, botsec against its peer %s (bench/kube/peer), same run,\n",
              name.c_str());
  std::printf("same API server, same %zu ConfigMaps (peer run after botsec):\n", botsec.objects);
  std::printf("  %-20s %9s %10s %14s %14s\n", "", "sync s", "objects/s", "RSS B/object",
              "heap B/object");
  std::printf("  %-20s %9.3f %10.0f %14.0f %14.0f\n", "botsec", botsec.seconds,
              objects / botsec.seconds, botsec.rss_per_object, botsec.heap_per_object);
  std::printf("  %-20s %9.3f %10.0f %14.0f %14.0f\n", name.c_str(), seconds, objects / seconds, rss,
              heap);
  std::printf("  %-20s %8.2fx %10s %13.2fx %13.2fx\n", "ratio botsec/peer",
              botsec.seconds / seconds, "", botsec.rss_per_object / rss,
              botsec.heap_per_object / heap);
  std::printf("  (ratios below 1x: botsec is faster / smaller)\n");
  std::printf(
      "  how: both caches drop managedFields (peer: %s);\n"
      "  sync s: informer start to synced; peer's initial sync: %s;\n"
      "  RSS B/object: (RSS after sync - RSS before) / objects, /proc/self/statm, each read after\n"
      "  returning freed heap to the OS (botsec: malloc_trim(0); peer: runtime.GC,\n"
      "  debug.FreeOSMemory); heap B/object: the same for live heap (mallinfo2; HeapAlloc).\n",
      peer.value("managed_fields", "?").c_str(), peer.value("initial_sync", "?").c_str());
}

int Run(const std::string& kubeconfig, int count, const std::string& peer) {
  auto connected = botsec::kube::NewClient(kubeconfig);
  if (!connected) {
    std::cerr << "informer_bench: " << connected.error().message << "\n";
    return 1;
  }
  const botsec::kube::Client& client = *connected;
  const std::string ns = "bench-informer-" + std::to_string(count);
  botsec::kube::ListOptions bulk;
  bulk.label_selector = "bench=informer";
  if (auto seeded = Seed(client, ns, count, bulk); !seeded) {
    std::cerr << "informer_bench: " << seeded.error().message << "\n";
    return 1;
  }
  // The objects' own size: the JSON the server sends for them, managedFields included.
  std::size_t json_bytes = 0;
  std::size_t objects = 0;
  {
    auto listed = client.ListAll(botsec::kube::resources::ConfigMaps(), ns, bulk);
    if (!listed) {
      std::cerr << "informer_bench: " << listed.error().message << "\n";
      return 1;
    }
    for (const Json& item : (*listed)["items"]) {
      json_bytes += item.dump().size();
    }
    objects = (*listed)["items"].size();
  }
  if (objects == 0) {
    std::cerr << "informer_bench: no ConfigMaps labelled bench=informer in " << ns << "\n";
    return 1;
  }

  auto measured = MeasureBotsec(client, ns, objects, bulk);
  if (!measured) {
    std::cerr << "informer_bench: " << measured.error().message << "\n";
    return 1;
  }
  const Measurement& botsec = *measured;
  double per_object_json = static_cast<double>(json_bytes) / static_cast<double>(objects);
  std::printf("informer sync: %zu ConfigMaps in %.2f s (%.0f objects/s)\n", objects, botsec.seconds,
              static_cast<double>(objects) / botsec.seconds);
  std::printf(
      "memory: %.0f bytes RSS per cached object; its JSON is %.0f bytes; ratio %.2fx "
      "(goal <= 2x)\n",
      botsec.rss_per_object, per_object_json, botsec.rss_per_object / per_object_json);
  std::printf(
      "  (%.0f bytes without malloc_trim before each reading: an undercount, as the informer\n"
      "  reuses heap freed by the list above instead of growing RSS)\n",
      botsec.raw_rss_per_object);
  std::fflush(stdout);
  if (peer.empty()) {
    return 0;
  }

  auto row = RunPeer(peer, kubeconfig, ns, objects);
  if (!row) {
    std::cerr << "informer_bench: peer: " << row.error().message << "\n";
    return 1;
  }
  PrintComparison(botsec, *row);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  botsec::core::FlagSet flags("informer_bench", "time and memory of an informer sync");
  flags.String("kubeconfig", "PATH", "build/cluster/kubeconfig", "The cluster to use.")
      .String("objects", "N", "10000", "How many ConfigMaps to sync.")
      .String("peer", "PATH", "",
              "The peer to compare with (tools/build-bench-peer.sh builds it): run on the same "
              "objects after botsec, and print both rows and the ratios.");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  int count = std::atoi(std::string(outcome.flags.Get("objects")).c_str());
  if (count <= 0) {
    std::cerr << "informer_bench: --objects: must be a positive number\n";
    return 2;
  }
  return Run(std::string(outcome.flags.Get("kubeconfig")), count,
             std::string(outcome.flags.Get("peer")));
} catch (const std::exception& e) {
  std::cerr << "informer_bench: " << e.what() << "\n";
  return 1;
}
