// make bench: how fast botsec's policy engine judges pods, on one thread. For each pod in
// bench/policy/pods/*.json and each of the profiles pss-restricted and bot, times Judge(pod,
// policy) on the already-parsed JSON document and prints judgements per second, nanoseconds per
// pod, and the allocations and bytes allocated per judgement (a counting operator new, in this
// binary only); one more row times parsing the raw bytes too. With --peer, runs the peer
// (upstream's Pod Security Admission evaluator, bench/policy/peer) on the same files in the same
// run, checks that both give the same verdict on every pod, and prints the ratios botsec/PSA.
//   judge_bench [--pods DIR] [--seconds S] [--peer PATH]
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <vector>

#include "botsec/core/flags.h"
#include "botsec/core/result.h"
#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "support/peer_process.h"

#ifndef BOTSEC_POLICY_PODS_DIR
#define BOTSEC_POLICY_PODS_DIR "bench/policy/pods"
#endif

namespace {

// Every allocation through operator new on this thread, counted by the replacements below: plain
// integers, as the judging runs on one thread and nothing else allocates while it runs.
constinit thread_local std::uint64_t t_allocations = 0;
constinit thread_local std::uint64_t t_allocated_bytes = 0;

}  // namespace

// The replaceable allocation functions the others (new[], nothrow new, sized and array delete)
// forward to in libstdc++. Over-aligned new is not replaced: nothing here uses it. Out of line, as
// libstdc++'s own are (and so that GCC does not pair an inlined free with operator new).
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++t_allocations;
  t_allocated_bytes += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) {  // NOLINT(*-no-malloc)
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }  // NOLINT(*-no-malloc)
[[gnu::noinline]] void operator delete(void* p, std::size_t /*size*/) noexcept {
  std::free(p);  // NOLINT(*-no-malloc)
}

namespace {

using botsec::core::ErrorCode;
using botsec::core::Fail;
using botsec::policy::Json;
using botsec::policy::Profile;

// nlohmann::json's destructor may throw in theory (it frees deep trees with a std::vector as its
// stack), which makes clang-tidy flag this struct's implicit destructor.
struct Pod {         // NOLINT(bugprone-exception-escape)
  std::string name;  // the file's name
  std::string raw;   // its bytes
  Json json;         // parsed once
  std::size_t init_containers = 0;
  std::size_t containers = 0;
};

// How many times each row is timed; its figure is the median, its spread the slowest less the
// fastest over the median. The peer does the same.
constexpr int kRepetitions = 5;

// One row: a timed loop of one operation, in kRepetitions parts.
struct Timing {
  std::uint64_t operations = 0;  // over all repetitions
  double seconds = 0;            // CPU time, over all repetitions
  double ns_per_op = 0;          // median of the repetitions
  double spread = 0;             // (slowest - fastest) / median
  double allocations = 0;        // per operation
  double bytes = 0;              // allocated per operation
  [[nodiscard]] double PerSecond() const { return 1e9 / ns_per_op; }
};

// What the peer measured on one pod.
struct PeerRow {
  std::string peer;
  bool allowed = false;
  std::size_t forbidden_checks = 0;
  std::string forbidden_detail;
  Timing evaluate;
  Timing decode_evaluate;
};

botsec::core::Result<std::vector<Pod>> LoadPods(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  if (error) {
    return Fail(ErrorCode::kInvalidArgument, dir + ": " + error.message());
  }
  if (files.empty()) {
    return Fail(ErrorCode::kInvalidArgument, dir + ": no *.json pods");
  }
  std::sort(files.begin(), files.end());
  std::vector<Pod> pods(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::filesystem::path& file = files[i];
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    Pod& pod = pods[i];
    pod.name = file.filename().string();
    pod.raw = bytes.str();
    pod.json = Json::parse(pod.raw, nullptr, /*allow_exceptions=*/false);
    if (pod.json.is_discarded() || !pod.json.is_object() || pod.json.value("kind", "") != "Pod") {
      return Fail(ErrorCode::kInvalidArgument, file.string() + ": not a Pod in JSON");
    }
    const Json& spec = pod.json["spec"];
    pod.init_containers = spec.contains("initContainers") ? spec["initContainers"].size() : 0;
    pod.containers = spec.contains("containers") ? spec["containers"].size() : 0;
  }
  return pods;
}

// The CPU time this process has run, user and system (getrusage, as the peer reads it): time the
// scheduler gives other processes on a shared machine is not counted. On an idle machine it is
// the wall time, as nothing else runs in this process.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Warms `op` up for a tenth of `seconds`, sizing its batches to about a millisecond on the way so
// that reading the clock costs nothing, then times kRepetitions runs of batches for at least
// `seconds` / kRepetitions of CPU time each. `op` returns how many violations it found, which
// must be `expect` every time: that checks each judgement and keeps the compiler from dropping
// any.
template <typename Op>
botsec::core::Result<Timing> Measure(double seconds, std::size_t expect, Op op) {
  std::uint64_t batch = 1;
  std::uint64_t wrong = 0;
  for (double warm = CpuSeconds(); CpuSeconds() - warm < seconds / 10;) {
    double start = CpuSeconds();
    for (std::uint64_t i = 0; i < batch; ++i) {
      wrong += op() != expect ? 1 : 0;
    }
    if (CpuSeconds() - start < 1e-3) {
      batch *= 2;
    }
  }
  Timing timing;
  std::array<double, kRepetitions> ns{};
  const std::uint64_t allocations = t_allocations;
  const std::uint64_t bytes = t_allocated_bytes;
  for (double& each : ns) {
    std::uint64_t operations = 0;
    const double start = CpuSeconds();
    double elapsed = 0;
    while (elapsed < seconds / kRepetitions) {
      for (std::uint64_t i = 0; i < batch; ++i) {
        wrong += op() != expect ? 1 : 0;
      }
      operations += batch;
      elapsed = CpuSeconds() - start;
    }
    each = elapsed * 1e9 / static_cast<double>(operations);
    timing.operations += operations;
    timing.seconds += elapsed;
  }
  const auto n = static_cast<double>(timing.operations);
  timing.allocations = static_cast<double>(t_allocations - allocations) / n;
  timing.bytes = static_cast<double>(t_allocated_bytes - bytes) / n;
  std::sort(ns.begin(), ns.end());
  timing.ns_per_op = ns[kRepetitions / 2];
  timing.spread = (ns.back() - ns.front()) / timing.ns_per_op;
  if (wrong != 0) {
    return Fail(ErrorCode::kInternal, std::to_string(wrong) + " judgements found other than " +
                                          std::to_string(expect) + " violations");
  }
  return timing;
}

// Runs the peer on the pods' files and returns its row for each, by file name. Its stderr passes
// through; its stdout is read here.
botsec::core::Result<std::map<std::string, PeerRow>> RunPeer(const std::string& path,
                                                             const std::vector<std::string>& files,
                                                             double seconds) {
  std::vector<std::string> args = {path, "--seconds", std::to_string(seconds)};
  args.insert(args.end(), files.begin(), files.end());
  auto run = botsec::bench::RunPeerProcess(std::move(args));
  if (!run) {
    return Fail(run.error());
  }
  const std::string& output = *run;
  auto timing = [](const Json& row, const char* key, Timing& into) {
    if (!row.contains(key) || !row[key].is_object()) {
      return false;
    }
    const Json& t = row[key];
    for (const char* field : {"evaluations", "seconds", "ns_per_op", "ns_per_op_min",
                              "ns_per_op_max", "allocs_per_op", "bytes_per_op"}) {
      if (!t.contains(field) || !t[field].is_number()) {
        return false;
      }
    }
    into = {.operations = t["evaluations"].get<std::uint64_t>(),
            .seconds = t["seconds"].get<double>(),
            .ns_per_op = t["ns_per_op"].get<double>(),
            .spread = 0,
            .allocations = t["allocs_per_op"].get<double>(),
            .bytes = t["bytes_per_op"].get<double>()};
    if (into.operations == 0 || into.ns_per_op <= 0) {
      return false;
    }
    into.spread =
        (t["ns_per_op_max"].get<double>() - t["ns_per_op_min"].get<double>()) / into.ns_per_op;
    return true;
  };
  std::map<std::string, PeerRow> rows;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    Json row = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    PeerRow parsed;
    if (!row.is_object() || !row.contains("pod") || !row["pod"].is_string() ||
        !row.contains("peer") || !row["peer"].is_string() || !row.contains("allowed") ||
        !row["allowed"].is_boolean() || !row.contains("forbidden_checks") ||
        !row["forbidden_checks"].is_number_unsigned() ||
        !timing(row, "evaluate", parsed.evaluate) ||
        !timing(row, "decode_evaluate", parsed.decode_evaluate)) {
      std::string message = path;
      message += " printed a line that is not a result: ";
      message += line;
      return Fail(ErrorCode::kInternal, message);
    }
    parsed.peer = row["peer"].get<std::string>();
    parsed.allowed = row["allowed"].get<bool>();
    parsed.forbidden_checks = row["forbidden_checks"].get<std::size_t>();
    parsed.forbidden_detail = row.value("forbidden_detail", "");
    rows[row["pod"].get<std::string>()] = std::move(parsed);
  }
  return rows;
}

void PrintHeader() {
  std::printf("  %-34s %12s %9s %7s %10s %10s  %s\n", "", "judgements/s", "ns/pod", "spread",
              "allocs/pod", "bytes/pod", "verdict");
}

void PrintRow(const std::string& name, const Timing& t, const std::string& verdict) {
  std::printf("  %-34s %12.0f %9.0f %6.0f%% %10.1f %10.0f  %s\n", name.c_str(), t.PerSecond(),
              t.ns_per_op, t.spread * 100, t.allocations, t.bytes, verdict.c_str());
}

void PrintRatio(const std::string& name, const Timing& botsec, const Timing& peer) {
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("  %-34s %12s %8.2fx %7s %9.2fx %9.2fx\n", name.c_str(), "",
              ratio(botsec.ns_per_op, peer.ns_per_op), "",
              ratio(botsec.allocations, peer.allocations), ratio(botsec.bytes, peer.bytes));
}

std::string Verdict(std::size_t violations, const char* unit) {
  return violations == 0 ? "allowed" : "denied: " + std::to_string(violations) + " " + unit;
}

// The figures of one pod.
struct PodFigures {
  Timing restricted;
  Timing bot;
  Timing restricted_parse;
  std::size_t restricted_violations = 0;
  std::size_t bot_violations = 0;
  std::vector<botsec::policy::Violation> restricted_list;
};

botsec::core::Result<PodFigures> MeasurePod(const Pod& pod, double seconds) {
  const botsec::policy::Policy restricted =
      botsec::policy::Policy::ForProfile(Profile::kPssRestricted);
  const botsec::policy::Policy bot = botsec::policy::Policy::ForProfile(Profile::kBot);
  PodFigures figures;
  auto first = botsec::policy::Judge(pod.json, restricted);
  auto first_bot = botsec::policy::Judge(pod.json, bot);
  if (!first || !first_bot) {
    return Fail(ErrorCode::kInvalidArgument,
                pod.name + ": " + (first ? first_bot.error() : first.error()).message);
  }
  figures.restricted_violations = first->size();
  figures.bot_violations = first_bot->size();
  figures.restricted_list = *first;

  auto judge = [&pod](const botsec::policy::Policy& policy) {
    return [&pod, &policy] {
      auto violations = botsec::policy::Judge(pod.json, policy);
      return violations ? violations->size() : SIZE_MAX;
    };
  };
  auto timed = Measure(seconds, figures.restricted_violations, judge(restricted));
  if (!timed) {
    return Fail(timed.error().Wrap(pod.name + ", pss-restricted"));
  }
  figures.restricted = *timed;
  timed = Measure(seconds, figures.bot_violations, judge(bot));
  if (!timed) {
    return Fail(timed.error().Wrap(pod.name + ", bot"));
  }
  figures.bot = *timed;
  timed = Measure(seconds, figures.restricted_violations, [&pod, &restricted] {
    Json parsed = Json::parse(pod.raw);
    auto violations = botsec::policy::Judge(parsed, restricted);
    return violations ? violations->size() : SIZE_MAX;
  });
  if (!timed) {
    return Fail(timed.error().Wrap(pod.name + ", pss-restricted with parsing"));
  }
  figures.restricted_parse = *timed;
  return figures;
}

int Run(const std::string& dir, double seconds, const std::string& peer) {
  auto loaded = LoadPods(dir);
  if (!loaded) {
    std::cerr << "judge_bench: " << loaded.error().message << "\n";
    return 1;
  }
  const std::vector<Pod>& pods = *loaded;
  std::printf(
      "policy judgements on one thread: %zu pods from %s, %.2g s per row after a %.2g s "
      "warm-up\n",
      pods.size(), dir.c_str(), seconds, seconds / 10);
  std::printf(
      "(Judge(pod, policy) on the parsed JSON, policy built once; allocs and bytes: "
      "operator new per judgement)\n");
  std::fflush(stdout);

  std::vector<PodFigures> measured;
  for (const Pod& pod : pods) {
    auto figures = MeasurePod(pod, seconds);
    if (!figures) {
      std::cerr << "judge_bench: " << figures.error().message << "\n";
      return 1;
    }
    measured.push_back(*figures);
  }

  std::map<std::string, PeerRow> peer_rows;
  if (!peer.empty()) {
    std::vector<std::string> files;
    files.reserve(pods.size());
    for (const Pod& pod : pods) {
      files.push_back((std::filesystem::path(dir) / pod.name).string());
    }
    auto rows = RunPeer(peer, files, seconds);
    if (!rows) {
      std::cerr << "judge_bench: peer: " << rows.error().message << "\n";
      return 1;
    }
    peer_rows = *std::move(rows);
  }

  int disagreements = 0;
  for (std::size_t i = 0; i < pods.size(); ++i) {
    const Pod& pod = pods[i];
    const PodFigures& f = measured[i];
    std::printf("\n%s: %zu bytes of JSON, %zu init + %zu containers\n", pod.name.c_str(),
                pod.raw.size(), pod.init_containers, pod.containers);
    PrintHeader();
    PrintRow("botsec pss-restricted", f.restricted, Verdict(f.restricted_violations, "violations"));
    PrintRow("botsec bot", f.bot, Verdict(f.bot_violations, "violations"));
    auto found = peer_rows.find(pod.name);
    if (!peer.empty() && found == peer_rows.end()) {
      std::cerr << "judge_bench: peer: no result for " << pod.name << "\n";
      return 1;
    }
    if (found != peer_rows.end()) {
      const PeerRow& p = found->second;
      const std::string psa = "PSA " + p.peer.substr(p.peer.rfind(' ') + 1) + " restricted";
      PrintRow(psa, p.evaluate, Verdict(p.forbidden_checks, "checks"));
      PrintRatio("ratio botsec/PSA (restricted)", f.restricted, p.evaluate);
      PrintRow("botsec pss-restricted + parse", f.restricted_parse,
               Verdict(f.restricted_violations, "violations"));
      PrintRow(psa + " + decode", p.decode_evaluate, Verdict(p.forbidden_checks, "checks"));
      PrintRatio("ratio botsec/PSA (+ parse)", f.restricted_parse, p.decode_evaluate);
      if ((f.restricted_violations == 0) != p.allowed) {
        ++disagreements;
        std::printf("  DISAGREEMENT: botsec pss-restricted %s, %s %s\n",
                    f.restricted_violations == 0 ? "allows it" : "denies it", p.peer.c_str(),
                    p.allowed ? "allows it" : "denies it");
        for (const auto& v : f.restricted_list) {
          std::printf("    botsec: %s: %s\n", v.field.c_str(), v.message.c_str());
        }
        std::printf("    PSA: %s\n", p.forbidden_detail.c_str());
      }
    } else {
      PrintRow("botsec pss-restricted + parse", f.restricted_parse,
               Verdict(f.restricted_violations, "violations"));
    }
  }
  std::printf("\npods judged per second on one core, bot profile:\n");
  for (std::size_t i = 0; i < pods.size(); ++i) {
    std::printf("  %-34s %12.0f\n", pods[i].name.c_str(), measured[i].bot.PerSecond());
  }
  std::printf(
      "\n  ns/pod: CPU time of the process (getrusage) per pod, median of %d timed parts;\n"
      "  spread: (slowest - fastest) / median.\n"
      "  ratios: botsec/PSA of ns/pod, allocs/pod and bytes/pod; below 1x: botsec is faster /"
      " allocates less.\n"
      "  botsec judges a parsed nlohmann::json document; PSA evaluates a typed corev1.Pod decoded\n"
      "  once (EvaluatePod + AggregateCheckResults, + ForbiddenDetail when denied, as its\n"
      "  admission plugin does), GOMAXPROCS=1, its GC in the figures. \"+ parse\": the raw bytes\n"
      "  parsed (nlohmann::json::parse) or decoded (sigs.k8s.io/json into corev1.Pod) each time.\n"
      "  botsec counts one violation per field; PSA one failed check per kind of problem.\n",
      kRepetitions);
  if (disagreements != 0) {
    std::cerr << "judge_bench: botsec pss-restricted and the peer disagree on " << disagreements
              << " pod(s): see above\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  botsec::core::FlagSet flags("judge_bench", "pods judged per second by the policy engine");
  flags.String("pods", "DIR", BOTSEC_POLICY_PODS_DIR, "The pods to judge: DIR/*.json.")
      .String("seconds", "S", "1", "Time each row for at least this long, after a warm-up.")
      .String("peer", "PATH", "",
              "The peer to compare with (tools/build-bench-peer.sh policy builds it): run on the "
              "same pods after botsec, and print its rows and the ratios.");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  const std::string seconds_text(outcome.flags.Get("seconds"));
  char* end = nullptr;
  const double seconds = std::strtod(seconds_text.c_str(), &end);
  if (end == seconds_text.c_str() || *end != '\0' || !(seconds > 0)) {
    std::cerr << "judge_bench: --seconds: must be a positive number\n";
    return 2;
  }
  return Run(std::string(outcome.flags.Get("pods")), seconds,
             std::string(outcome.flags.Get("peer")));
} catch (const std::exception& e) {
  std::cerr << "judge_bench: " << e.what() << "\n";
  return 1;
}
