// make bench: botsec-operator making N sandboxes, against the floor: the same objects made by a
// bare client, POSTed; to show what server-side apply itself costs, applied; and, to show what
// the issue's protocol costs, with every write it asks of the operator (the protocol floor). Each
// side runs
// on a fresh private control plane (tools/cluster.sh in $BOTSEC_CLUSTER_DIR on
// $BOTSEC_CLUSTER_PORT_BASE, which tools/bench-operator.sh sets and cleans up), the operator
// first. Prints the time from the first create until every sandbox runs and every object exists,
// the operator's CPU time and peak RSS, the mutating requests per sandbox of each side's identity
// (the kube-apiserver's audit log), the writes of one resync window once converged, and the
// ratios botsec/floor.
//   sandbox_bench [--sandboxes N] [--workers N] [--floor-threads N] [--client-threads N]
//                 [--resync-period D] [--skip-resync-window]
//                 [--phases operator,floor,apply-floor,protocol-floor] [--timeout D]
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "botsec/api/bot_sandbox.h"
#include "botsec/api/render.h"
#include "botsec/core/clock.h"
#include "botsec/core/flags.h"
#include "botsec/core/result.h"
#include "botsec/core/time.h"
#include "botsec/kube/client.h"
#include "botsec/kube/events.h"
#include "botsec/kube/informer.h"
#include "botsec/policy/policy.h"
#include "support/child_process.h"
#include "support/peer_process.h"

#ifndef BOTSEC_SOURCE_DIR
#error "BOTSEC_SOURCE_DIR must name the source tree"
#endif
#ifndef BOTSEC_OPERATOR_PATH
#error "BOTSEC_OPERATOR_PATH must name the botsec-operator binary"
#endif

namespace {

using botsec::api::Json;
using botsec::api::TextAt;
using botsec::core::ErrorCode;
using botsec::core::Fail;
using botsec::core::Result;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr std::string_view kOwnerNamespace = "bench";  // where the BotSandboxes live
constexpr std::string_view kOperatorUser = "botsec-bench-operator";
constexpr std::string_view kClientUser = "botsec-bench-client";  // creates the BotSandboxes
constexpr std::string_view kFloorUser = "botsec-bench-floor";
constexpr seconds kProgressEvery{5};
constexpr seconds kQuietFor{5};       // no operator write for this long: converged
constexpr seconds kResyncMargin{10};  // added to the resync period for the window
constexpr int kMaxAttempts = 100;     // per object; 100 ms apart

struct Options {
  int sandboxes = 1000;
  int workers = 4;
  int floor_threads = 4;
  int client_threads = 4;
  std::string resync_text = "30s";
  seconds resync{30};
  seconds timeout{900};
  bool resync_window = true;
  std::vector<std::string> phases = {"operator", "floor", "apply-floor",
                                     "protocol-floor"};  // in this order
  std::string operator_path;
  std::string script;
  std::string crd;
  std::string cluster_dir;
  int port_base = 0;
  std::string log_dir;  // outlives the cluster: the operator's log, a failed side's cluster logs
};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --- what a sandbox is made of -----------------------------------------------------------------

struct Kind {
  std::string kind;
  botsec::kube::Resource resource;
};

// Every kind Render makes, with where it lives in the API.
const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      {"Namespace", botsec::kube::resources::Namespaces()},
      {"ServiceAccount", {"", "v1", "serviceaccounts", true}},
      {"ResourceQuota", {"", "v1", "resourcequotas", true}},
      {"LimitRange", {"", "v1", "limitranges", true}},
      {"NetworkPolicy", {"networking.k8s.io", "v1", "networkpolicies", true}},
      {"Secret", {"", "v1", "secrets", true}},
      {"Service", {"", "v1", "services", true}},
      {"Pod", botsec::kube::resources::Pods()},
  };
  return kinds;
}

Result<botsec::kube::Resource> ResourceOf(const std::string& kind) {
  for (const Kind& k : Kinds()) {
    if (k.kind == kind) {
      return k.resource;
    }
  }
  return Fail(ErrorCode::kInternal, "no resource for kind " + kind);
}

botsec::kube::Resource BotSandboxes() {
  return {std::string(botsec::api::kGroup), std::string(botsec::api::kVersion),
          std::string(botsec::api::kResource), true};
}

std::string SandboxName(int i) {
  std::string number = std::to_string(i);
  return "bot-" + std::string(number.size() < 4 ? 4 - number.size() : 0, '0') + number;
}

// A BotSandbox as a team would write it: an image, one port, one plain env var, egress to one
// CIDR on one port; no Secrets.
Json SandboxObject(int i) {
  Json spec = {{"image", "ghcr.io/acme/bot:1"},
               {"env", Json::array({{{"name", "MODE"}, {"value", "bench"}}})},
               {"ports", Json::array({{{"name", "http"}, {"containerPort", 8080}}})},
               {"network",
                {{"egress",
                  {{"cidrs", Json::array({{{"cidr", "203.0.113.0/24"},
                                           {"ports", Json::array({{{"port", 443}}})}}})}}}}}};
  return {{"apiVersion", std::string(botsec::api::kApiVersion)},
          {"kind", std::string(botsec::api::kKind)},
          {"metadata", {{"name", SandboxName(i)}, {"namespace", std::string(kOwnerNamespace)}}},
          {"spec", std::move(spec)}};
}

// What Render makes of sandbox `i`, in the order the operator applies it (namespace, fences, Pod),
// with the operator's default settings. The owner uid, which the operator takes from the stored
// BotSandbox, is made up: the floor has no BotSandbox.
Result<std::vector<Json>> RenderedObjects(int i) {
  Json sandbox = SandboxObject(i);
  std::string serial = std::to_string(i);
  sandbox["metadata"]["uid"] =
      "00000000-0000-4000-8000-" + std::string(12 - serial.size(), '0') + serial;
  sandbox["metadata"]["creationTimestamp"] = "2026-12-05T00:00:00Z";
  auto parsed = botsec::api::ParseBotSandbox(sandbox);
  if (!parsed) {
    return Fail(parsed.error().Wrap("the bench's BotSandbox"));
  }
  auto rendered = botsec::api::Render(*parsed, botsec::api::SandboxSettings{}, {});
  if (!rendered) {
    return Fail(rendered.error().Wrap("rendering the bench's BotSandbox"));
  }
  std::vector<Json> objects = {rendered->namespace_, rendered->service_account,
                               rendered->resource_quota, rendered->limit_range};
  objects.insert(objects.end(), rendered->network_policies.begin(),
                 rendered->network_policies.end());
  objects.insert(objects.end(), rendered->secrets.begin(), rendered->secrets.end());
  if (rendered->service) {
    objects.push_back(*rendered->service);
  }
  objects.push_back(rendered->pod);
  return objects;
}

// "Kind/namespace/name".
std::string ObjectKey(const std::string& kind, const Json& object) {
  return kind + "/" + TextAt(object, {"metadata", "namespace"}) + "/" +
         TextAt(object, {"metadata", "name"});
}

// "Namespace, ServiceAccount, ..., 3 NetworkPolicy, ..." for one sandbox's objects.
std::string Describe(const std::vector<Json>& objects) {
  std::vector<std::pair<std::string, int>> counts;
  for (const Json& object : objects) {
    std::string kind = TextAt(object, {"kind"});
    if (counts.empty() || counts.back().first != kind) {
      counts.emplace_back(kind, 0);
    }
    ++counts.back().second;
  }
  std::string text;
  for (const auto& [kind, count] : counts) {
    text += (text.empty() ? "" : ", ") + (count > 1 ? std::to_string(count) + " " : "") + kind;
  }
  return text;
}

// --- the private control plane ----------------------------------------------------------------

// tools/cluster.sh on the state directory and ports in the environment.
class BenchCluster {
 public:
  BenchCluster(std::string script, std::string dir)
      : script_(std::move(script)), dir_(std::move(dir)) {}

  [[nodiscard]] Result<void> Up() const { return Script({"up"}); }
  [[nodiscard]] Result<void> Clean() const { return Script({"clean"}); }

  [[nodiscard]] Result<void> InstallCrd(const std::string& crd) const {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"apply", "--server-side", "--force-conflicts", "-f", crd},
          std::vector<std::string>{"wait", "--for=condition=Established", "--timeout=60s",
                                   "crd/botsandboxes.botsec.io"}}) {
      args.insert(args.begin(), {dir_ + "/bin/kubectl", "--kubeconfig=" + kubeconfig()});
      if (auto run = botsec::bench::RunPeerProcess(args); !run) {
        return Fail(run.error().Wrap("installing the CRD"));
      }
    }
    return {};
  }

  // A kubeconfig for `user` in group system:masters, with a client certificate of its own so
  // that the audit log names it.
  [[nodiscard]] Result<std::string> UserKubeconfig(std::string_view user) const {
    auto minted = botsec::bench::RunPeerProcess(
        {script_, "kubeconfig", "--user", std::string(user), "--group", "system:masters"});
    if (!minted) {
      return Fail(minted.error().Wrap("minting credentials for " + std::string(user)));
    }
    std::filesystem::create_directories(dir_ + "/tmp");
    std::string path = dir_ + "/tmp/" + std::string(user) + ".kubeconfig";
    std::ofstream file(path);
    file << *minted;
    if (!file) {
      return Fail(ErrorCode::kInternal, "writing " + path);
    }
    return path;
  }

  // CPU seconds the control plane's processes (etcd, kube-apiserver, kube-controller-manager,
  // kube-scheduler, kwok) have used so far.
  [[nodiscard]] double ControlPlaneCpu() const {
    double total = 0;
    for (const char* component :
         {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}) {
      std::ifstream pid_file(dir_ + "/run/" + component + ".pid");
      pid_t pid = 0;
      if (pid_file >> pid) {
        auto usage = botsec::bench::ReadUsage(pid);
        total += usage ? usage->cpu_seconds : 0;
      }
    }
    return total;
  }

  [[nodiscard]] std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  [[nodiscard]] std::string audit_log() const { return dir_ + "/logs/audit.log"; }
  [[nodiscard]] std::string logs() const { return dir_ + "/logs"; }

 private:
  [[nodiscard]] Result<void> Script(std::vector<std::string> args) const {
    args.insert(args.begin(), script_);
    if (auto run = botsec::bench::RunPeerProcess(args); !run) {
      return Fail(run.error());
    }
    return {};
  }

  std::string script_;
  std::string dir_;
};

// --- watching the sandboxes come up --------------------------------------------------------------

// Watches everything labelled as the operator labels what it makes, and counts what has come: the
// expected objects that exist, and the sandboxes whose bot runs, by the BotSandbox's status.phase
// (the operator's side) or by the Pod's (the floor's). Informer event handlers do the counting, so
// a poll costs nothing.
//
// Thread-safety: the counts may be read from any thread.
class Progress {
 public:
  enum class RunningBy { kBotSandbox, kPod };

  Progress(const botsec::kube::Client& client, std::unordered_set<std::string> expected,
           RunningBy by)
      : expected_(std::move(expected)) {
    botsec::kube::ReflectorOptions ours;
    ours.selectors.label_selector =
        std::string(botsec::api::kManagedByLabel) + "=" + std::string(botsec::api::kManagedBy);
    for (const Kind& kind : Kinds()) {
      auto informer =
          std::make_unique<botsec::kube::Informer>(client, kind.resource, "", clock_, ours);
      const bool pod = kind.kind == "Pod";
      const bool pod_phase = by == RunningBy::kPod && pod;
      informer->AddEventHandler(
          [this, name = kind.kind, pod, pod_phase](const Json& object) {
            Saw(ObjectKey(name, object));
            if (pod) {
              const std::string ns = TextAt(object, {"metadata", "namespace"});
              const bool running = TextAt(object, {"status", "phase"}) == "Running";
              PodPhase(ns, running);
              if (pod_phase) {
                Phase(ns, running);
              }
            }
            return std::vector<std::string>{};
          },
          [](const std::string&) {});
      informers_.push_back(std::move(informer));
    }
    if (by == RunningBy::kBotSandbox) {
      auto informer = std::make_unique<botsec::kube::Informer>(
          client, BotSandboxes(), std::string(kOwnerNamespace), clock_);
      informer->AddEventHandler(
          [this](const Json& object) {
            Phase(TextAt(object, {"metadata", "name"}),
                  TextAt(object, {"status", "phase"}) == "Running");
            return std::vector<std::string>{};
          },
          [](const std::string&) {});
      informers_.push_back(std::move(informer));
    }
  }

  // Runs the informers and waits until each has listed.
  Result<void> Start(seconds timeout) {
    for (auto& informer : informers_) {
      threads_.emplace_back(
          [&informer = *informer](const std::stop_token& stop) { informer.Run(stop); });
    }
    auto deadline = Clock::now() + timeout;
    while (!std::ranges::all_of(informers_, [](const auto& i) { return i->HasSynced(); })) {
      if (Clock::now() > deadline) {
        return Fail(ErrorCode::kTimeout, "the bench's informers did not sync");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return {};
  }

  [[nodiscard]] std::size_t running() const {
    std::scoped_lock lock(mu_);
    return running_.size();
  }
  [[nodiscard]] std::size_t present() const {
    std::scoped_lock lock(mu_);
    return present_.size();
  }
  [[nodiscard]] std::size_t expected() const { return expected_.size(); }
  // Whether the bot's Pod in sandbox namespace `ns` runs, whatever `by` counts.
  [[nodiscard]] bool PodRunning(const std::string& ns) const {
    std::scoped_lock lock(mu_);
    return pods_running_.contains(ns);
  }

  // The expected objects missing from the caches themselves (events count an object once seen,
  // even if it went away again): "" when none.
  [[nodiscard]] std::string Missing() const {
    std::unordered_set<std::string> cached;
    for (std::size_t i = 0; i < Kinds().size(); ++i) {
      for (const std::string& key : informers_[i]->store().Keys()) {
        cached.insert(Kinds()[i].kind + "/" + (key.find('/') == std::string::npos ? "/" : "") +
                      key);
      }
    }
    std::size_t missing = 0;
    std::string first;
    for (const std::string& key : expected_) {
      if (!cached.contains(key)) {
        first = first.empty() ? key : first;
        ++missing;
      }
    }
    return missing == 0 ? "" : std::to_string(missing) + " objects missing, e.g. " + first;
  }

 private:
  void Saw(const std::string& key) {
    if (expected_.contains(key)) {
      std::scoped_lock lock(mu_);
      present_.insert(key);
    }
  }
  void Phase(const std::string& who, bool running) {
    std::scoped_lock lock(mu_);
    if (running) {
      running_.insert(who);
    } else {
      running_.erase(who);
    }
  }

  void PodPhase(const std::string& ns, bool running) {
    std::scoped_lock lock(mu_);
    if (running) {
      pods_running_.insert(ns);
    } else {
      pods_running_.erase(ns);
    }
  }

  botsec::core::RealClock clock_;
  const std::unordered_set<std::string> expected_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> present_;
  std::unordered_set<std::string> running_;
  std::unordered_set<std::string> pods_running_;  // sandbox namespaces
  std::vector<std::unique_ptr<botsec::kube::Informer>> informers_;
  std::vector<std::jthread> threads_;  // last: stopped and joined before the informers go
};

// Waits until `sandboxes` run and every expected object exists, printing progress every 5 s.
// `problem` is asked on every poll for a reason to give up ("" for none). The seconds since
// `start`.
Result<double> WaitConverged(const Progress& progress, std::size_t sandboxes,
                             Clock::time_point start, seconds timeout, const std::string& label,
                             const std::function<std::string()>& problem) {
  auto next_report = start + kProgressEvery;
  while (true) {
    std::size_t running = progress.running();
    std::size_t present = progress.present();
    if (running >= sandboxes && present >= progress.expected()) {
      return SecondsSince(start);
    }
    if (std::string why = problem(); !why.empty()) {
      return Fail(ErrorCode::kInternal, label + ": " + std::move(why));
    }
    auto now = Clock::now();
    if (now >= next_report) {
      std::printf("  %s: running %zu/%zu, objects %zu/%zu (%.0f s)\n", label.c_str(), running,
                  sandboxes, present, progress.expected(), SecondsSince(start));
      std::fflush(stdout);
      next_report += kProgressEvery;
    }
    if (now - start > timeout) {
      return Fail(ErrorCode::kTimeout,
                  label + ": not converged after " + std::to_string(timeout.count()) +
                      " s: running " + std::to_string(running) + "/" + std::to_string(sandboxes) +
                      ", objects " + std::to_string(present) + "/" +
                      std::to_string(progress.expected()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// --- counting writes -----------------------------------------------------------------------------

// Mutating requests by one user in the kube-apiserver's audit log (JSON lines; the local control
// plane logs create, update, patch and delete only: tools/audit-policy.yaml), read on from where
// the last read stopped.
class AuditLog {
 public:
  AuditLog(std::string path, std::string_view user)
      : path_(std::move(path)), needle_(R"("username":")" + std::string(user) + "\"") {}

  void SkipToEnd() {
    std::ifstream log(path_, std::ios::ate | std::ios::binary);
    offset_ = log ? static_cast<std::streamoff>(log.tellg()) : 0;
  }

  // Reads what was appended since; returns how many of the new lines are the user's.
  std::size_t ReadNew() {
    std::ifstream log(path_, std::ios::binary | std::ios::ate);
    const auto size = static_cast<std::streamoff>(log.tellg());
    if (size < offset_) {
      offset_ = 0;  // rotated
    }
    std::string text(static_cast<std::size_t>(std::max<std::streamoff>(size - offset_, 0)), '\0');
    log.seekg(offset_);
    log.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(log.gcount()));
    std::size_t end = text.rfind('\n');
    if (end == std::string::npos) {
      return 0;
    }
    offset_ += static_cast<std::streamoff>(end + 1);
    std::size_t seen = 0;
    for (std::size_t at = 0; at <= end;) {
      std::size_t line_end = text.find('\n', at);
      std::string_view line(text.data() + at, line_end - at);
      at = line_end + 1;
      if (line.find(needle_) == std::string_view::npos) {
        continue;
      }
      Json entry = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (entry.is_discarded()) {
        continue;
      }
      std::string request =
          entry.value("verb", "") + " " + entry.value("/objectRef/resource"_json_pointer, "");
      if (std::string sub = entry.value("/objectRef/subresource"_json_pointer, ""); !sub.empty()) {
        request += "/" + sub;
      }
      ++requests_[request];
      latency_ms_[request] +=
          LatencyMs(entry.value("requestReceivedTimestamp", ""), entry.value("stageTimestamp", ""));
      ++total_;
      ++seen;
      if (int code = entry.value("/responseStatus/code"_json_pointer, 0); code >= 400) {
        ++failed_;
        if (first_failure_.empty()) {
          first_failure_ = request + " " + entry.value("/objectRef/namespace"_json_pointer, "") +
                           "/" + entry.value("/objectRef/name"_json_pointer, "") + ": " +
                           std::to_string(code) + " " +
                           entry.value("/responseStatus/message"_json_pointer, "");
        }
      }
    }
    return seen;
  }

  // Forgets the counts (not the place in the log).
  void Clear() {
    requests_.clear();
    latency_ms_.clear();
    total_ = 0;
    failed_ = 0;
    first_failure_.clear();
  }

  [[nodiscard]] const std::map<std::string, std::size_t>& requests() const { return requests_; }
  [[nodiscard]] const std::map<std::string, double>& latency_ms() const { return latency_ms_; }
  [[nodiscard]] std::size_t total() const { return total_; }
  [[nodiscard]] std::size_t failed() const { return failed_; }
  [[nodiscard]] const std::string& first_failure() const { return first_failure_; }

 private:
  std::string path_;
  std::string needle_;
  std::streamoff offset_ = 0;
  // Milliseconds from "2026-12-05T01:30:35.187432Z" to another such time of the same or the next
  // day (the audit log's requestReceivedTimestamp and stageTimestamp).
  static double LatencyMs(std::string_view from, std::string_view to) {
    auto seconds_of_day = [](std::string_view t) {
      if (t.size() < 20 || t[10] != 'T') {
        return 0.0;
      }
      return std::stod(std::string(t.substr(11, 2))) * 3600 +
             std::stod(std::string(t.substr(14, 2))) * 60 +
             std::stod(std::string(t.substr(17, t.size() - 18)));
    };
    double diff = seconds_of_day(to) - seconds_of_day(from);
    return (diff < 0 ? diff + 86400 : diff) * 1000;
  }

  std::map<std::string, std::size_t> requests_;  // "patch botsandboxes/status" -> count
  std::map<std::string, double> latency_ms_;     // summed over the requests
  std::size_t total_ = 0;
  std::size_t failed_ = 0;
  std::string first_failure_;
};

// --- writing -------------------------------------------------------------------------------------

// Runs `work(i)` for every i below `count` on `threads` threads, each taking the next i, until one
// fails. Counts the CPU time the threads used.
//
// Thread-safety: problem() and done() may be called from any thread.
class Writers {
 public:
  Writers(int threads, int count, std::function<Result<void>(int)> work)
      : count_(count), work_(std::move(work)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this] { Loop(); });
    }
  }

  void Join() { threads_.clear(); }
  [[nodiscard]] std::string problem() const {
    std::scoped_lock lock(mu_);
    return problem_;
  }
  [[nodiscard]] double cpu_seconds() const {
    std::scoped_lock lock(mu_);
    return cpu_seconds_;
  }
  // When the last thread ran out of work (after Join).
  [[nodiscard]] Clock::time_point finished() const {
    std::scoped_lock lock(mu_);
    return finished_;
  }

 private:
  void Loop() {
    for (int i = next_++; i < count_; i = next_++) {
      if (auto done = work_(i); !done) {
        std::scoped_lock lock(mu_);
        problem_ = problem_.empty() ? done.error().message : problem_;
        next_ = count_;
      }
    }
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    std::scoped_lock lock(mu_);
    finished_ = Clock::now();
    cpu_seconds_ += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }

  const int count_;
  std::function<Result<void>(int)> work_;
  std::atomic<int> next_{0};
  mutable std::mutex mu_;
  std::string problem_;
  double cpu_seconds_ = 0;
  Clock::time_point finished_;
  std::vector<std::jthread> threads_;  // last: joined first
};

// How the floor writes: POST (create), or server-side apply as the operator writes.
enum class FloorWrite { kCreate, kApply };

// POSTs (or applies, `how`) `object`, retrying a refusal every 100 ms (an AlreadyExists after a
// retry counts as made).
Result<void> CreateObject(const botsec::kube::Client& client,
                          const botsec::kube::Resource& resource, const Json& object,
                          std::atomic<int>& retries, FloorWrite how = FloorWrite::kCreate) {
  const std::string ns = TextAt(object, {"metadata", "namespace"});
  const botsec::kube::ApplyOptions apply{.field_manager = std::string(kFloorUser), .force = true};
  for (int attempt = 1;; ++attempt) {
    auto created = how == FloorWrite::kApply ? client.Apply(resource, ns, object, apply)
                                             : client.Create(resource, ns, object);
    if (created || (attempt > 1 && created.error().code == ErrorCode::kAlreadyExists)) {
      return {};
    }
    if (attempt == kMaxAttempts) {
      return Fail(created.error().Wrap((how == FloorWrite::kApply ? "applying " : "creating ") +
                                       ObjectKey(TextAt(object, {"kind"}), object)));
    }
    ++retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// --- the two sides -------------------------------------------------------------------------------

struct Writes {
  std::size_t total = 0;
  std::size_t failed = 0;
  std::string first_failure;
  std::map<std::string, std::size_t> requests;
  std::map<std::string, double> latency_ms;
};

Writes WritesOf(const AuditLog& audit) {
  return {audit.total(), audit.failed(), audit.first_failure(), audit.requests(),
          audit.latency_ms()};
}

struct OperatorFigures {
  double converge_seconds = 0;
  double control_plane_cpu_seconds = 0;  // from the first create until converged
  double cpu_seconds = 0;                // at convergence, since the operator started
  double peak_rss_mib = 0;               // at the end of the resync window
  Writes writes;                         // from the first create until it went quiet
  double quiet_after_seconds = 0;
  Writes resync;
  double resync_window_seconds = 0;
  double resync_cpu_seconds = 0;
  std::size_t reconciles_logged = 0;  // reconciles that wrote something
  std::size_t reconcile_failures = 0;
  std::string first_reconcile_failure;
  std::size_t client_retries = 0;
  double created_seconds = 0;  // until the last BotSandbox was created
};

struct FloorFigures {
  double converge_seconds = 0;
  double control_plane_cpu_seconds = 0;  // from the first create until converged
  double created_seconds = 0;            // until the last object was created
  double cpu_seconds = 0;
  Writes writes;
  std::size_t retries = 0;
};

Result<void> WaitForLine(const std::string& path, std::string_view line,
                         botsec::bench::ChildProcess& process, seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::ifstream log(path);
    std::stringstream text;
    text << log.rdbuf();
    if (text.str().find(line) != std::string::npos) {
      return {};
    }
    if (!process.Running()) {
      return Fail(ErrorCode::kInternal,
                  "botsec-operator " + process.status() + " (log: " + path + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Fail(ErrorCode::kTimeout, "no \"" + std::string(line) + "\" in " + path);
}

// Reconciles the operator logged (those that wrote) and failed, from its log.
void SummarizeLog(const std::string& path, OperatorFigures& figures) {
  std::ifstream log(path);
  for (std::string line; std::getline(log, line);) {
    if (line.starts_with("Reconciled sandbox=")) {
      ++figures.reconciles_logged;
    } else if (line.starts_with("Reconcile failed")) {
      ++figures.reconcile_failures;
      if (figures.first_reconcile_failure.empty()) {
        figures.first_reconcile_failure = line;
      }
    }
  }
}

// Waits until `user` has sent no write for kQuietFor (at most two minutes); the seconds waited.
double WaitQuiet(AuditLog& audit) {
  auto start = Clock::now();
  auto last_write = start;
  while (Clock::now() - last_write < kQuietFor && Clock::now() - start < seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (audit.ReadNew() > 0) {
      last_write = Clock::now();
    }
  }
  return SecondsSince(start);
}

std::unordered_set<std::string> ExpectedKeys(const std::vector<std::vector<Json>>& rendered) {
  std::unordered_set<std::string> keys;
  for (const auto& objects : rendered) {
    for (const Json& object : objects) {
      keys.insert(ObjectKey(TextAt(object, {"kind"}), object));
    }
  }
  return keys;
}

Result<botsec::kube::Client> ClientFor(const Result<std::string>& kubeconfig) {
  if (!kubeconfig) {
    return Fail(kubeconfig.error());
  }
  return botsec::kube::NewClient(*kubeconfig);
}

// Starts botsec-operator with its own identity, as `options` say, and waits until its caches
// have synced.
Result<std::unique_ptr<botsec::bench::ChildProcess>> StartOperator(const Options& options,
                                                                   const std::string& kubeconfig,
                                                                   const std::string& log) {
  std::filesystem::remove(log);
  std::vector<std::string> argv = {options.operator_path, "--kubeconfig=" + kubeconfig,
                                   "--watch-namespace=" + std::string(kOwnerNamespace),
                                   "--workers=" + std::to_string(options.workers),
                                   "--resync-period=" + options.resync_text};
  // Health probes stay on, as deployed, but on a port of the bench cluster's own.
  if (auto help = botsec::bench::RunPeerProcess({options.operator_path, "--help"});
      help && help->find("--health-probe-bind-address") != std::string::npos) {
    argv.push_back("--health-probe-bind-address=127.0.0.1:" +
                   std::to_string(options.port_base + 9));
  }
  auto launched = botsec::bench::ChildProcess::Start(argv, log);
  if (!launched) {
    return Fail(launched.error());
  }
  if (auto synced = WaitForLine(log, "Caches synced", **launched, seconds(60)); !synced) {
    return Fail(synced.error());
  }
  return launched;
}

// One resync window once the operator has gone quiet: its writes and CPU time in the window.
// Every key is queued again one resync period after its last reconcile, and the last one was
// before the window opens: the window holds a resync of every BotSandbox.
Result<void> MeasureResync(const Options& options, botsec::bench::ChildProcess& op, AuditLog& audit,
                           OperatorFigures& figures) {
  audit.Clear();
  auto before = botsec::bench::ReadUsage(op.pid());
  auto window_start = Clock::now();
  const seconds window = options.resync + kResyncMargin;
  while (Clock::now() - window_start < window) {
    std::this_thread::sleep_for(kProgressEvery);
    audit.ReadNew();
    std::printf("  resync window: %.0f/%lld s, %zu writes by %s\n", SecondsSince(window_start),
                static_cast<long long>(window.count()), audit.total(), kOperatorUser.data());
    std::fflush(stdout);
    if (!op.Running()) {
      return Fail(ErrorCode::kInternal, op.status() + " during the resync window");
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  audit.ReadNew();
  figures.resync = WritesOf(audit);
  figures.resync_window_seconds = SecondsSince(window_start);
  auto after = botsec::bench::ReadUsage(op.pid());
  if (!before || !after) {
    return Fail(ErrorCode::kInternal, "ended during the resync window");
  }
  figures.resync_cpu_seconds = after->cpu_seconds - before->cpu_seconds;
  return {};
}

// The operator's side: N BotSandboxes created by a client of their own, made into sandboxes by
// botsec-operator; then one resync window with nothing changed.
// The namespace the BotSandboxes live in.
Result<void> CreateOwnerNamespace(const botsec::kube::Client& admin) {
  Json owner_namespace = {{"apiVersion", "v1"},
                          {"kind", "Namespace"},
                          {"metadata", {{"name", std::string(kOwnerNamespace)}}}};
  if (auto made = admin.Create(botsec::kube::resources::Namespaces(), "", owner_namespace); !made) {
    return Fail(made.error().Wrap("creating namespace " + std::string(kOwnerNamespace)));
  }
  return {};
}

Result<OperatorFigures> RunOperator(const Options& options, const BenchCluster& cluster,
                                    const std::vector<std::vector<Json>>& rendered) {
  if (auto crd = cluster.InstallCrd(options.crd); !crd) {
    return Fail(crd.error());
  }
  auto admin = botsec::kube::NewClient(cluster.kubeconfig());
  auto operator_kubeconfig = cluster.UserKubeconfig(kOperatorUser);
  auto creator = ClientFor(cluster.UserKubeconfig(kClientUser));
  for (const auto* failed : {&admin, &creator}) {
    if (!*failed) {
      return Fail(failed->error());
    }
  }
  if (!operator_kubeconfig) {
    return Fail(operator_kubeconfig.error());
  }
  if (auto made = CreateOwnerNamespace(*admin); !made) {
    return Fail(made.error());
  }
  Progress progress(*admin, ExpectedKeys(rendered), Progress::RunningBy::kBotSandbox);
  if (auto started = progress.Start(seconds(60)); !started) {
    return Fail(started.error());
  }

  const std::string log = options.log_dir + "/botsec-operator.log";
  auto launched = StartOperator(options, *operator_kubeconfig, log);
  if (!launched) {
    return Fail(launched.error());
  }
  botsec::bench::ChildProcess& op = **launched;

  OperatorFigures figures;
  AuditLog audit(cluster.audit_log(), kOperatorUser);
  audit.SkipToEnd();
  std::atomic<int> retries{0};
  const int count = options.sandboxes;
  const double control_plane_before = cluster.ControlPlaneCpu();
  auto start = Clock::now();
  Writers creators(options.client_threads, count, [&](int i) {
    return CreateObject(*creator, BotSandboxes(), SandboxObject(i), retries);
  });
  auto converged =
      WaitConverged(progress, static_cast<std::size_t>(count), start, options.timeout,
                    "botsec-operator", [&]() -> std::string {
                      if (!op.Running()) {
                        return "botsec-operator " + op.status() + " (log: " + log + ")";
                      }
                      return creators.problem();
                    });
  if (!converged) {
    return Fail(converged.error());
  }
  figures.converge_seconds = *converged;
  figures.control_plane_cpu_seconds = cluster.ControlPlaneCpu() - control_plane_before;
  auto usage = botsec::bench::ReadUsage(op.pid());
  if (!usage) {
    return Fail(usage.error());
  }
  figures.cpu_seconds = usage->cpu_seconds;
  creators.Join();
  figures.client_retries = static_cast<std::size_t>(retries.load());
  figures.created_seconds = std::chrono::duration<double>(creators.finished() - start).count();
  if (std::string missing = progress.Missing(); !missing.empty()) {
    return Fail(ErrorCode::kInternal, "converged by events, but " + missing);
  }
  std::printf("  botsec-operator: converged in %.1f s; waiting for its last writes\n",
              figures.converge_seconds);
  std::fflush(stdout);

  figures.quiet_after_seconds = WaitQuiet(audit);
  figures.writes = WritesOf(audit);

  if (options.resync_window) {
    if (auto window = MeasureResync(options, op, audit, figures); !window) {
      return Fail(window.error().Wrap("botsec-operator (log: " + log + ")"));
    }
  }
  auto usage_at_end = botsec::bench::ReadUsage(op.pid());
  if (!usage_at_end) {
    return Fail(ErrorCode::kInternal, "botsec-operator " + op.status() + " (log: " + log + ")");
  }
  figures.peak_rss_mib = usage_at_end->peak_rss_mib;
  op.Stop(SIGTERM, std::chrono::seconds(10));
  SummarizeLog(log, figures);
  return figures;
}

// The floor: the same objects POSTed (or applied server-side, `how`) by a bare client of its own,
// in the operator's order, on `floor_threads` threads, each making one sandbox after another.
Result<FloorFigures> RunFloor(const Options& options, const BenchCluster& cluster,
                              const std::vector<std::vector<Json>>& rendered, FloorWrite how) {
  auto admin = botsec::kube::NewClient(cluster.kubeconfig());
  auto floor = ClientFor(cluster.UserKubeconfig(kFloorUser));
  for (const auto* failed : {&admin, &floor}) {
    if (!*failed) {
      return Fail(failed->error());
    }
  }
  Progress progress(*admin, ExpectedKeys(rendered), Progress::RunningBy::kPod);
  if (auto started = progress.Start(seconds(60)); !started) {
    return Fail(started.error());
  }
  FloorFigures figures;
  AuditLog audit(cluster.audit_log(), kFloorUser);
  audit.SkipToEnd();
  std::atomic<int> retries{0};
  const double control_plane_before = cluster.ControlPlaneCpu();
  auto start = Clock::now();
  Writers writers(options.floor_threads, options.sandboxes, [&](int i) -> Result<void> {
    for (const Json& object : rendered[static_cast<std::size_t>(i)]) {
      auto resource = ResourceOf(TextAt(object, {"kind"}));
      if (!resource) {
        return Fail(resource.error());
      }
      if (auto made = CreateObject(*floor, *resource, object, retries, how); !made) {
        return made;
      }
    }
    return {};
  });
  auto converged = WaitConverged(progress, rendered.size(), start, options.timeout,
                                 how == FloorWrite::kApply ? "floor (apply)" : "floor",
                                 [&] { return writers.problem(); });
  if (!converged) {
    return Fail(converged.error());
  }
  figures.converge_seconds = *converged;
  figures.control_plane_cpu_seconds = cluster.ControlPlaneCpu() - control_plane_before;
  writers.Join();
  if (std::string missing = progress.Missing(); !missing.empty()) {
    return Fail(ErrorCode::kInternal, "converged by events, but " + missing);
  }
  figures.cpu_seconds = writers.cpu_seconds();
  figures.created_seconds = std::chrono::duration<double>(writers.finished() - start).count();
  figures.retries = static_cast<std::size_t>(retries.load());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  audit.ReadNew();
  figures.writes = WritesOf(audit);
  return figures;
}

// The status the operator writes for a sandbox whose objects are all applied: Pending until the
// Pod runs, then Running; the same fields and conditions, so that each apply weighs the same.
Json SandboxStatus(const std::string& sandbox_namespace, bool running) {
  const std::string now = botsec::core::FormatRfc3339(std::chrono::system_clock::now());
  auto condition = [&](std::string type, bool value, std::string reason, std::string message) {
    return botsec::api::Condition{.type = std::move(type),
                                  .status = value ? "True" : "False",
                                  .reason = std::move(reason),
                                  .message = std::move(message),
                                  .last_transition_time = now,
                                  .observed_generation = 1};
  };
  botsec::api::BotSandboxStatus status;
  status.phase = running ? botsec::api::Phase::kRunning : botsec::api::Phase::kPending;
  status.namespace_ = sandbox_namespace;
  status.pod_name = std::string(botsec::api::kBotName);
  status.observed_generation = 1;
  if (running) {
    status.pod_ip = "10.0.0.1";
    status.start_time = now;
    status.bot = botsec::api::BotState{.state = "Running", .ready = true};
  }
  status.conditions = {
      condition("Ready", running, running ? "Running" : "Starting",
                running ? "the bot is running in its sandbox" : "the sandbox is starting"),
      condition("Isolated", true, "FencesInPlace",
                "every fence of " + sandbox_namespace + " is in place"),
      condition("PodReady", running, running ? "PodReady" : "PodNotReady",
                running ? "the bot's Pod is ready" : "the bot's Pod is not ready"),
      condition("Degraded", false, "AsExpected", "")};
  return botsec::api::StatusToJson(status);
}

// The protocol floor's writes for one sandbox, callable from any thread.
class ProtocolWriter {
 public:
  ProtocolWriter(const botsec::kube::Client& client, const std::vector<std::vector<Json>>& rendered,
                 const Progress& progress, Clock::time_point deadline)
      : client_(client), rendered_(rendered), progress_(progress), deadline_(deadline) {}

  // The BotSandbox, its finalizer, an Event, its objects applied, an Event, status Pending.
  Result<void> Make(int i) {
    auto sandbox = client_.Create(BotSandboxes(), owner_ns_, SandboxObject(i));
    if (!sandbox) {
      return Fail(sandbox.error().Wrap("creating BotSandbox " + SandboxName(i)));
    }
    Json finalizer = {{"metadata",
                       {{"resourceVersion", TextAt(*sandbox, {"metadata", "resourceVersion"})},
                        {"finalizers", Json::array({std::string(botsec::api::kFinalizer)})}}}};
    if (auto patched = client_.Patch(BotSandboxes(), owner_ns_, SandboxName(i),
                                     botsec::kube::PatchType::kMerge, finalizer);
        !patched) {
      return Fail(patched.error().Wrap("adding the finalizer to " + SandboxName(i)));
    }
    const std::string ns = SandboxNamespace(i);
    if (auto recorded = Record(*sandbox, "Creating", "creating sandbox namespace " + ns);
        !recorded) {
      return recorded;
    }
    for (const Json& object : rendered_[static_cast<std::size_t>(i)]) {
      auto resource = ResourceOf(TextAt(object, {"kind"}));
      if (!resource) {
        return Fail(resource.error());
      }
      if (auto applied = CreateObject(client_, *resource, object, retries_, FloorWrite::kApply);
          !applied) {
        return applied;
      }
    }
    if (auto recorded = Record(*sandbox, "PodCreated", "creating the bot's Pod in " + ns);
        !recorded) {
      return recorded;
    }
    return WriteStatus(i, false);
  }

  // Status Running, once the bench's informer has seen the sandbox's Pod run.
  Result<void> ReportRunning(int i) {
    while (!progress_.PodRunning(SandboxNamespace(i))) {
      if (Clock::now() > deadline_) {
        return Fail(ErrorCode::kTimeout, "the Pod of " + SandboxName(i) + " never ran");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return WriteStatus(i, true);
  }

  [[nodiscard]] std::size_t retries() const { return static_cast<std::size_t>(retries_.load()); }

 private:
  [[nodiscard]] std::string SandboxNamespace(int i) const {
    return TextAt(rendered_[static_cast<std::size_t>(i)].front(), {"metadata", "name"});
  }

  // A Normal Event about `sandbox`, written as the operator's recorder first writes one.
  Result<void> Record(const Json& sandbox, const std::string& reason, const std::string& message) {
    const botsec::kube::EventDecision decision = [&] {
      std::scoped_lock lock(events_mu_);
      return events_.Correlate({.object = botsec::kube::ObjectReference::Of(sandbox),
                                .kind = botsec::kube::EventKind::kNormal,
                                .reason = reason,
                                .message = message},
                               Clock::now(), std::chrono::system_clock::now());
    }();
    const botsec::kube::Resource events{"", "v1", "events", true};
    if (auto event = client_.Create(events, decision.ns, decision.event); !event) {
      return Fail(
          event.error().Wrap("recording an Event about " + TextAt(sandbox, {"metadata", "name"})));
    }
    return {};
  }

  Result<void> WriteStatus(int i, bool running) {
    Json status = {{"apiVersion", std::string(botsec::api::kApiVersion)},
                   {"kind", std::string(botsec::api::kKind)},
                   {"metadata", {{"name", SandboxName(i)}, {"namespace", owner_ns_}}},
                   {"status", SandboxStatus(SandboxNamespace(i), running)}};
    const botsec::kube::ApplyOptions apply{.field_manager = std::string(kFloorUser), .force = true};
    if (auto applied = client_.Apply(BotSandboxes(), owner_ns_, status, apply, "status");
        !applied) {
      return Fail(applied.error().Wrap("writing the status of " + SandboxName(i)));
    }
    return {};
  }

  const botsec::kube::Client& client_;
  const std::vector<std::vector<Json>>& rendered_;
  const Progress& progress_;
  const Clock::time_point deadline_;
  const std::string owner_ns_{kOwnerNamespace};
  std::atomic<int> retries_{0};
  std::mutex events_mu_;
  botsec::kube::EventCorrelator events_{{.component = std::string(kFloorUser)}};  // guarded
};

// The floor (protocol): a bare client making every write the issue asks of the operator, and
// only those, with no cache, plan or comparison: for each sandbox the BotSandbox created, its
// finalizer added, an Event, its 9 objects applied (namespace, fences, Pod), an Event, the status
// applied as Pending; then, on the same threads, for each sandbox once its Pod runs (the bench's
// own informer says so), the status applied as Running. What no implementation of the issue can
// go below; the operator's distance from it is what the operator itself adds.
Result<FloorFigures> RunProtocolFloor(const Options& options, const BenchCluster& cluster,
                                      const std::vector<std::vector<Json>>& rendered) {
  if (auto crd = cluster.InstallCrd(options.crd); !crd) {
    return Fail(crd.error());
  }
  auto admin = botsec::kube::NewClient(cluster.kubeconfig());
  auto floor = ClientFor(cluster.UserKubeconfig(kFloorUser));
  for (const auto* failed : {&admin, &floor}) {
    if (!*failed) {
      return Fail(failed->error());
    }
  }
  const std::string owner_ns(kOwnerNamespace);
  if (auto made = CreateOwnerNamespace(*admin); !made) {
    return Fail(made.error());
  }
  // The API server is slow with a new CRD's first objects (tens of ms a create for the first
  // few, against 10-20): one BotSandbox made and deleted before the clock starts keeps that out
  // of the floor. The operator's side pays it in its own time, so the floor stays a floor.
  Json warm_up = SandboxObject(0);
  warm_up["metadata"]["name"] = "warm-up";
  if (auto made = admin->Create(BotSandboxes(), owner_ns, warm_up); !made) {
    return Fail(made.error().Wrap("creating BotSandbox warm-up"));
  }
  if (auto deleted = admin->Delete(BotSandboxes(), owner_ns, "warm-up"); !deleted) {
    return Fail(deleted.error().Wrap("deleting BotSandbox warm-up"));
  }
  Progress progress(*admin, ExpectedKeys(rendered), Progress::RunningBy::kBotSandbox);
  if (auto started = progress.Start(seconds(60)); !started) {
    return Fail(started.error());
  }
  FloorFigures figures;
  AuditLog audit(cluster.audit_log(), kFloorUser);
  audit.SkipToEnd();
  const double control_plane_before = cluster.ControlPlaneCpu();
  const auto start = Clock::now();
  ProtocolWriter writer(*floor, rendered, progress, start + options.timeout);
  const std::array<std::function<Result<void>(int)>, 2> passes = {
      [&writer](int i) { return writer.Make(i); },
      [&writer](int i) { return writer.ReportRunning(i); }};
  // Both passes on one driver thread, so that progress is printed meanwhile.
  std::mutex mu;
  std::string problem;
  double cpu_seconds = 0;
  Clock::time_point written;
  std::jthread driver([&] {
    for (const auto& pass : passes) {
      Writers writers(options.floor_threads, options.sandboxes, pass);
      writers.Join();
      std::scoped_lock lock(mu);
      cpu_seconds += writers.cpu_seconds();
      written = writers.finished();
      problem = writers.problem();
      if (!problem.empty()) {
        return;
      }
    }
  });
  auto converged =
      WaitConverged(progress, rendered.size(), start, options.timeout, "floor (protocol)", [&] {
        std::scoped_lock lock(mu);
        return problem;
      });
  driver.join();
  if (!converged) {
    return Fail(converged.error());
  }
  figures.converge_seconds = *converged;
  figures.control_plane_cpu_seconds = cluster.ControlPlaneCpu() - control_plane_before;
  if (std::string missing = progress.Missing(); !missing.empty()) {
    return Fail(ErrorCode::kInternal, "converged by events, but " + missing);
  }
  figures.cpu_seconds = cpu_seconds;
  figures.created_seconds = std::chrono::duration<double>(written - start).count();
  figures.retries = writer.retries();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  audit.ReadNew();
  figures.writes = WritesOf(audit);
  return figures;
}

// --- the report ----------------------------------------------------------------------------------

// "2.00 create events (4 ms), ...": requests per sandbox, each with its mean time in the API
// server.
std::string Breakdown(const Writes& writes, double sandboxes) {
  std::string text;
  for (const auto& [request, count] : writes.requests) {
    std::array<char, 160> part{};
    std::snprintf(part.data(), part.size(), "%s%.2f %s (%.0f ms)", text.empty() ? "" : ", ",
                  static_cast<double>(count) / sandboxes, request.c_str(),
                  writes.latency_ms.at(request) / static_cast<double>(count));
    text += part.data();
  }
  return text.empty() ? "none" : text;
}

// The goals' verdicts, and the operator against the protocol floor.
void PrintGoals(const Options& options, const std::optional<OperatorFigures>& op,
                const std::optional<FloorFigures>& floor,
                const std::optional<FloorFigures>& protocol_floor) {
  std::printf("goals:");
  if (op && floor) {
    double ratio = op->converge_seconds / floor->converge_seconds;
    std::printf(" time <= 1.3x floor: %s (%.2fx);", ratio <= 1.3 ? "met" : "NOT met", ratio);
  }
  if (op) {
    std::printf(" peak RSS <= 64 MiB: %s (%.1f MiB);", op->peak_rss_mib <= 64 ? "met" : "NOT met",
                op->peak_rss_mib);
    if (options.resync_window) {
      std::printf(" resync writes 0: %s (%zu)", op->resync.total == 0 ? "met" : "NOT met",
                  op->resync.total);
    }
  }
  std::printf("\n");
  if (op && protocol_floor) {
    std::printf(
        "against the floor of the issue's protocol (every write it asks for, nothing else): "
        "%.2fx the time, %.2fx the control plane's CPU",
        op->converge_seconds / protocol_floor->converge_seconds,
        op->control_plane_cpu_seconds / protocol_floor->control_plane_cpu_seconds);
    if (floor) {
      std::printf("; the protocol itself takes %.2fx the POST floor's time",
                  protocol_floor->converge_seconds / floor->converge_seconds);
    }
    std::printf("\n");
  }
}

void PrintReport(const Options& options, const std::vector<Json>& one,
                 const std::optional<OperatorFigures>& op, const std::optional<FloorFigures>& floor,
                 const std::optional<FloorFigures>& apply_floor,
                 const std::optional<FloorFigures>& protocol_floor) {
  const auto n = static_cast<double>(options.sandboxes);
  std::printf("\nsandboxes: %d BotSandboxes in one namespace, each made into %zu objects (%s);\n",
              options.sandboxes, one.size(), Describe(one).c_str());
  std::printf(
      "each side on a fresh private control plane; time from the first create until every\n"
      "sandbox runs and every object exists.\n");
  std::printf("  %-28s %10s %11s %7s %15s %13s %14s\n", "", "converge s", "sandboxes/s", "CPU s",
              "ctl-plane CPU s", "peak RSS MiB", "writes/sandbox");
  const std::string op_label = "botsec-operator, " + std::to_string(options.workers) + " workers";
  const std::string threads = ", " + std::to_string(options.floor_threads) + " threads";
  if (op) {
    std::printf("  %-28s %10.1f %11.1f %7.1f %15.1f %13.1f %14.2f\n", op_label.c_str(),
                op->converge_seconds, n / op->converge_seconds, op->cpu_seconds,
                op->control_plane_cpu_seconds, op->peak_rss_mib,
                static_cast<double>(op->writes.total) / n);
  }
  auto floor_row = [&](const std::string& label, const FloorFigures& figures) {
    std::printf("  %-28s %10.1f %11.1f %7.1f %15.1f %13s %14.2f\n", label.c_str(),
                figures.converge_seconds, n / figures.converge_seconds, figures.cpu_seconds,
                figures.control_plane_cpu_seconds, "-",
                static_cast<double>(figures.writes.total) / n);
  };
  auto ratio_row = [&](const std::string& label, double converge, double cpu, double control_plane,
                       std::size_t writes, const FloorFigures& base) {
    std::printf("  %-28s %9.2fx %11s %6.1fx %14.2fx %13s %13.2fx\n", label.c_str(),
                converge / base.converge_seconds, "", cpu / base.cpu_seconds,
                control_plane / base.control_plane_cpu_seconds, "",
                static_cast<double>(writes) / static_cast<double>(base.writes.total));
  };
  if (floor) {
    floor_row("floor (POST)" + threads, *floor);
  }
  if (apply_floor) {
    floor_row("floor (apply)" + threads, *apply_floor);
  }
  if (protocol_floor) {
    floor_row("floor (protocol)" + threads, *protocol_floor);
  }
  if (op && floor) {
    ratio_row("ratio botsec/floor", op->converge_seconds, op->cpu_seconds,
              op->control_plane_cpu_seconds, op->writes.total, *floor);
  }
  if (op && apply_floor) {
    ratio_row("ratio botsec/floor (apply)", op->converge_seconds, op->cpu_seconds,
              op->control_plane_cpu_seconds, op->writes.total, *apply_floor);
  }
  if (floor && apply_floor) {
    ratio_row("ratio floor apply/POST", apply_floor->converge_seconds, apply_floor->cpu_seconds,
              apply_floor->control_plane_cpu_seconds, apply_floor->writes.total, *floor);
  }
  if (op && protocol_floor) {
    ratio_row("ratio botsec/floor (protocol)", op->converge_seconds, op->cpu_seconds,
              op->control_plane_cpu_seconds, op->writes.total, *protocol_floor);
  }
  if (floor && protocol_floor) {
    ratio_row("ratio floor protocol/POST", protocol_floor->converge_seconds,
              protocol_floor->cpu_seconds, protocol_floor->control_plane_cpu_seconds,
              protocol_floor->writes.total, *floor);
  }
  std::printf(
      "  (CPU s: the operator process, utime + stime from /proc; the floor's writer threads.\n"
      "  ctl-plane CPU s: etcd, kube-apiserver, controller-manager, scheduler and kwok, over\n"
      "  the same interval. Writes: create/update/patch/delete by each side's own user in\n"
      "  the audit log. The floor POSTs; the operator applies server-side, as the issue asks,\n"
      "  and so does the floor (apply) with the same objects: the goal is against the POSTs,\n"
      "  the apply row shows how much of the gap server-side apply itself makes. The floor\n"
      "  (protocol) makes every write the issue asks of the operator and no other: the\n"
      "  BotSandbox, its finalizer, two Events, the objects applied, status Pending then\n"
      "  Running; its writes include the BotSandbox's create, the operator's do not.)\n");
  if (op) {
    std::printf("operator writes per sandbox (%s): %s\n", kOperatorUser.data(),
                Breakdown(op->writes, n).c_str());
    std::printf(
        "  refused: %zu%s%s; quiet %.1f s after converging; BotSandboxes all created after "
        "%.1f s, %zu creates retried; its log: %zu reconciles that wrote, %zu failed%s%s\n",
        op->writes.failed, op->writes.failed > 0 ? ", first: " : "",
        op->writes.first_failure.c_str(), op->quiet_after_seconds, op->created_seconds,
        op->client_retries, op->reconciles_logged, op->reconcile_failures,
        op->reconcile_failures > 0 ? "; first: " : "", op->first_reconcile_failure.c_str());
    if (options.resync_window) {
      std::printf(
          "steady state: one resync window (--resync-period=%s + %lld s) after the last "
          "write: %zu mutating requests (%s), operator CPU %.2f s\n",
          options.resync_text.c_str(), static_cast<long long>(kResyncMargin.count()),
          op->resync.total, Breakdown(op->resync, 1).c_str(), op->resync_cpu_seconds);
    } else {
      std::printf("steady state: not measured (--skip-resync-window)\n");
    }
  }
  for (const auto* figures : {&floor, &apply_floor, &protocol_floor}) {
    if (*figures) {
      std::printf(
          "floor (%s) writes per sandbox (%s): %s; %zu refused and retried; all written after "
          "%.1f s\n",
          figures == &floor ? "POST" : (figures == &apply_floor ? "apply" : "protocol"),
          kFloorUser.data(), Breakdown((*figures)->writes, n).c_str(), (*figures)->retries,
          (*figures)->created_seconds);
    }
  }
  PrintGoals(options, op, floor, protocol_floor);
  std::fflush(stdout);
}

// --- main ----------------------------------------------------------------------------------------

// Refuses to run on the shared cluster: the bench cleans its cluster between and after the sides.
Result<std::pair<std::string, int>> PrivateCluster() {
  const char* dir = std::getenv("BOTSEC_CLUSTER_DIR");
  const char* base = std::getenv("BOTSEC_CLUSTER_PORT_BASE");
  if (dir == nullptr || *dir == '\0' || base == nullptr || *base == '\0') {
    return Fail(ErrorCode::kInvalidArgument,
                "set BOTSEC_CLUSTER_DIR and BOTSEC_CLUSTER_PORT_BASE to a cluster of the bench's "
                "own (tools/bench-operator.sh does): it is cleaned when the bench ends");
  }
  std::filesystem::path shared =
      std::filesystem::weakly_canonical(std::string(BOTSEC_SOURCE_DIR) + "/build/cluster");
  if (std::filesystem::weakly_canonical(dir) == shared || std::string(base) == "16440") {
    return Fail(ErrorCode::kInvalidArgument,
                "BOTSEC_CLUSTER_DIR/PORT_BASE name the shared cluster (build/cluster, 16440); "
                "the bench needs one of its own");
  }
  if (std::string(base).find_first_not_of("0123456789") != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, "BOTSEC_CLUSTER_PORT_BASE is not a number");
  }
  return std::pair{std::string(dir), std::stoi(base)};
}

Result<Options> ReadOptions(const botsec::core::ParsedFlags& flags) {
  Options options;
  for (auto [name, target] :
       {std::pair{"sandboxes", &options.sandboxes}, std::pair{"workers", &options.workers},
        std::pair{"client-threads", &options.client_threads}}) {
    auto value = flags.Int(name, 1, 999999);
    if (!value) {
      return Fail(value.error());
    }
    *target = *value;
  }
  options.floor_threads = options.workers;
  if (flags.WasSet("floor-threads")) {
    auto value = flags.Int("floor-threads", 1, 999999);
    if (!value) {
      return Fail(value.error());
    }
    options.floor_threads = *value;
  }
  options.resync_text = std::string(flags.Get("resync-period"));
  for (auto [name, target] :
       {std::pair{"resync-period", &options.resync}, std::pair{"timeout", &options.timeout}}) {
    auto value = botsec::policy::ParseDuration(flags.Get(name));
    if (!value || value->count() <= 0) {
      return Fail(ErrorCode::kInvalidArgument, "--" + std::string(name) + ": \"" +
                                                   std::string(flags.Get(name)) +
                                                   "\" is not a duration such as 30s");
    }
    *target = *value;
  }
  options.resync_window = !flags.Bool("skip-resync-window");
  options.phases.clear();
  std::stringstream phases{std::string(flags.Get("phases"))};
  for (std::string phase; std::getline(phases, phase, ',');) {
    if ((phase != "operator" && phase != "floor" && phase != "apply-floor" &&
         phase != "protocol-floor") ||
        std::ranges::find(options.phases, phase) != options.phases.end()) {
      return Fail(
          ErrorCode::kInvalidArgument,
          "--phases: \"" + phase +
              "\": name operator, floor, apply-floor and protocol-floor, each at most once, in "
              "order");
    }
    options.phases.push_back(phase);
  }
  if (options.phases.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--phases: name one or more of operator, floor, apply-floor, protocol-floor");
  }
  options.operator_path = std::string(flags.Get("operator"));
  options.script = std::string(BOTSEC_SOURCE_DIR) + "/tools/cluster.sh";
  options.crd = std::string(BOTSEC_SOURCE_DIR) + "/crds/botsec.io_botsandboxes.yaml";
  auto cluster = PrivateCluster();
  if (!cluster) {
    return Fail(cluster.error());
  }
  std::tie(options.cluster_dir, options.port_base) = *cluster;
  options.log_dir = options.cluster_dir + "-logs";
  return options;
}

// Brings up a fresh control plane, runs one side on it, and cleans it whatever happened.
template <typename Figures>
Result<Figures> OnFreshCluster(const BenchCluster& cluster, const std::string& side,
                               const std::string& log_dir,
                               const std::function<Result<Figures>()>& run) {
  std::printf("%s: starting a fresh control plane\n", side.c_str());
  std::fflush(stdout);
  Result<Figures> figures = [&]() -> Result<Figures> {
    if (auto up = cluster.Up(); !up) {
      return Fail(up.error().Wrap("tools/cluster.sh up"));
    }
    return run();
  }();
  if (!figures) {
    // The control plane's logs, for the reason: clean removes them.
    std::error_code ignored;
    std::filesystem::copy(cluster.logs(), log_dir + "/" + side + "-cluster-logs",
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing,
                          ignored);
  }
  if (auto cleaned = cluster.Clean(); !cleaned && figures) {
    return Fail(cleaned.error().Wrap("tools/cluster.sh clean"));
  }
  return figures;
}

int Run(const Options& options) {
  if (std::getenv("BOTSEC_KWOK_NODES") == nullptr) {
    // 100 sandboxes a node of 110 pods, and two to spare.
    setenv("BOTSEC_KWOK_NODES", std::to_string((options.sandboxes + 99) / 100 + 2).c_str(), 1);
  }
  // Every sandbox has a Service: the cluster's /24 of Service IPs holds 254, so the bench's
  // API server gets a range with room for all (the flag given last wins).
  int prefix = 24;
  while (prefix > 12 && (1 << (32 - prefix)) < options.sandboxes + 16) {
    --prefix;
  }
  const char* extra = std::getenv("BOTSEC_APISERVER_EXTRA_ARGS");
  std::string apiserver_args = (extra != nullptr ? std::string(extra) + " " : std::string()) +
                               "--service-cluster-ip-range=10.0.0.0/" + std::to_string(prefix);
  setenv("BOTSEC_APISERVER_EXTRA_ARGS", apiserver_args.c_str(), 1);
  std::vector<std::vector<Json>> rendered;
  for (int i = 0; i < options.sandboxes; ++i) {
    auto objects = RenderedObjects(i);
    if (!objects) {
      std::cerr << "sandbox_bench: " << objects.error().message << "\n";
      return 1;
    }
    rendered.push_back(std::move(*objects));
  }
  BenchCluster cluster(options.script, options.cluster_dir);
  std::filesystem::create_directories(options.log_dir);
  std::printf("operator benchmark: %d sandboxes, %s KWOK nodes, cluster %s\n", options.sandboxes,
              std::getenv("BOTSEC_KWOK_NODES"), options.cluster_dir.c_str());
  std::optional<OperatorFigures> op;
  std::optional<FloorFigures> floor;
  std::optional<FloorFigures> apply_floor;
  std::optional<FloorFigures> protocol_floor;
  for (const std::string& phase : options.phases) {
    std::string error;
    if (phase == "operator") {
      auto figures =
          OnFreshCluster<OperatorFigures>(cluster, "botsec-operator", options.log_dir,
                                          [&] { return RunOperator(options, cluster, rendered); });
      figures ? void(op = *figures) : void(error = figures.error().message);
    } else if (phase == "protocol-floor") {
      auto figures = OnFreshCluster<FloorFigures>(cluster, phase, options.log_dir, [&] {
        return RunProtocolFloor(options, cluster, rendered);
      });
      figures ? void(protocol_floor = *figures) : void(error = figures.error().message);
    } else {
      const bool apply = phase == "apply-floor";
      auto figures = OnFreshCluster<FloorFigures>(cluster, phase, options.log_dir, [&] {
        return RunFloor(options, cluster, rendered,
                        apply ? FloorWrite::kApply : FloorWrite::kCreate);
      });
      figures ? void((apply ? apply_floor : floor) = *figures)
              : void(error = figures.error().message);
    }
    if (!error.empty()) {
      std::cerr << "sandbox_bench: " << error << "\n";
      return 1;
    }
  }
  PrintReport(options, rendered.front(), op, floor, apply_floor, protocol_floor);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  botsec::core::FlagSet flags(
      "sandbox_bench",
      "botsec-operator making N sandboxes against the floor (the same objects made by a bare "
      "client), each on a fresh private control plane");
  flags.String("sandboxes", "N", "1000", "BotSandboxes to create, all in one namespace.")
      .String("workers", "N", "4", "The operator's --workers.")
      .String("floor-threads", "N", "", "The floor's writer threads (default: --workers).")
      .String("client-threads", "N", "4", "Threads creating the BotSandboxes.")
      .String("resync-period", "DURATION", "30s",
              "The operator's --resync-period; the steady-state window is this plus 10 s.")
      .String("timeout", "DURATION", "15m", "Give up on a side that has not converged by then.")
      .Bool("skip-resync-window",
            "Stop the operator once converged, without the steady-state window (to time "
            "convergence with a resync period too long to wait through).")
      .String("phases", "LIST", "operator,floor,apply-floor,protocol-floor",
              "Which sides to run: the operator, the floor POSTing, the floor applying, the "
              "floor making every write the issue asks of the operator.")
      .String("operator", "PATH", BOTSEC_OPERATOR_PATH, "The botsec-operator binary.");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  auto options = ReadOptions(outcome.flags);
  if (!options) {
    std::cerr << "sandbox_bench: " << options.error().message << "\n";
    return 2;
  }
  return Run(*options);
} catch (const std::exception& e) {
  std::cerr << "sandbox_bench: " << e.what() << "\n";
  return 1;
}
