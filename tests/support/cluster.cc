#include "support/cluster.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"
#include "support/command.h"

#ifndef BOTSEC_SOURCE_DIR
#error "BOTSEC_SOURCE_DIR must name the source tree"
#endif

namespace botsec::testing {
namespace {

using core::ErrorCode;
using core::Fail;

std::string ClusterDir() {
  const char* dir = std::getenv("BOTSEC_CLUSTER_DIR");
  return dir != nullptr && *dir != '\0' ? std::string(dir)
                                        : std::string(BOTSEC_SOURCE_DIR) + "/build/cluster";
}

std::string ScriptPath() { return std::string(BOTSEC_SOURCE_DIR) + "/tools/cluster.sh"; }

// Writes `content` to a fresh file under the cluster's state directory and returns its path.
core::Result<std::string> WriteTempFile(const std::string& dir, const std::string& stem,
                                        const std::string& content) {
  static std::atomic<int> counter{0};
  std::filesystem::path folder = std::filesystem::path(dir) / "tmp";
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return Fail(ErrorCode::kInternal, "creating " + folder.string() + ": " + ec.message());
  }
  std::filesystem::path path =
      folder / (stem + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::ofstream file(path);
  file << content;
  if (!file) {
    return Fail(ErrorCode::kInternal, "writing " + path.string());
  }
  return path.string();
}

std::unique_ptr<Cluster>& SharedCluster() {
  static std::unique_ptr<Cluster> cluster;
  return cluster;
}

std::string& SharedError() {
  static std::string error = "ClusterEnvironment was not registered";
  return error;
}

}  // namespace

bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

namespace {

core::Result<Cluster> Up(Cluster cluster) {
  auto up = cluster.Run({"up"}, std::chrono::seconds(3600));
  if (!up) {
    return Fail(up.error().Wrap("tools/cluster.sh up"));
  }
  if (!up->ok()) {
    return Fail(ErrorCode::kUnavailable,
                "tools/cluster.sh up exited " + std::to_string(up->exit_code) + ": " + up->err);
  }
  return cluster;
}

}  // namespace

Cluster::Cluster(std::vector<std::string> script, std::string dir)
    : script_(std::move(script)),
      dir_(std::move(dir)),
      kubeconfig_(dir_ + "/kubeconfig"),
      kubectl_(dir_ + "/bin/kubectl") {}

core::Result<Cluster> Cluster::Ensure() {
  return Up(Cluster({"bash", ScriptPath()}, ClusterDir()));
}

core::Result<Cluster> Cluster::EnsurePrivate(const std::string& name, int port_base) {
  std::string dir = std::string(BOTSEC_SOURCE_DIR) + "/build/cluster-" + name;
  return Up(Cluster({"env", "BOTSEC_CLUSTER_DIR=" + dir,
                     "BOTSEC_CLUSTER_PORT_BASE=" + std::to_string(port_base), "bash", ScriptPath()},
                    dir));
}

core::Result<CommandOutput> Cluster::Run(const std::vector<std::string>& args,
                                         std::chrono::seconds timeout) const {
  std::vector<std::string> argv = script_;
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, "", timeout);
}

core::Result<void> Cluster::Restart(const std::string& component) const {
  auto run = Run({"restart", component});
  if (!run) {
    return Fail(run.error());
  }
  if (!run->ok()) {
    return Fail(ErrorCode::kUnavailable, "restarting " + component + ": " + run->err);
  }
  return {};
}

core::Result<void> Cluster::Clean() const {
  auto run = Run({"clean"});
  if (!run) {
    return Fail(run.error());
  }
  if (!run->ok()) {
    return Fail(ErrorCode::kInternal, "tools/cluster.sh clean: " + run->err);
  }
  return {};
}

core::Result<CommandOutput> Cluster::Kubectl(const std::vector<std::string>& args,
                                             const std::string& input,
                                             const std::string& kubeconfig) const {
  std::vector<std::string> argv = {
      kubectl_, "--kubeconfig=" + (kubeconfig.empty() ? kubeconfig_ : kubeconfig)};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, input);
}

core::Result<nlohmann::json> Cluster::KubectlJson(const std::vector<std::string>& args) const {
  std::vector<std::string> with_output = args;
  with_output.emplace_back("-o");
  with_output.emplace_back("json");
  auto run = Kubectl(with_output);
  if (!run) {
    return Fail(run.error());
  }
  if (!run->ok()) {
    return Fail(run->err.find("NotFound") != std::string::npos ? ErrorCode::kNotFound
                                                               : ErrorCode::kInternal,
                "kubectl exited " + std::to_string(run->exit_code) + ": " + run->err);
  }
  auto parsed = nlohmann::json::parse(run->out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Fail(ErrorCode::kInternal, "kubectl printed something other than JSON: " + run->out);
  }
  return parsed;
}

core::Result<void> Cluster::InstallCrds() const {
  const std::string crds = std::string(BOTSEC_SOURCE_DIR) + "/crds/botsec.io_botsandboxes.yaml";
  auto applied = Kubectl({"apply", "--server-side", "--force-conflicts", "-f", crds});
  if (!applied || !applied->ok()) {
    return core::Fail(core::ErrorCode::kUnavailable,
                      "installing the CRDs: " + (applied ? applied->err : applied.error().message));
  }
  auto established = Kubectl(
      {"wait", "--for=condition=Established", "--timeout=60s", "crd/botsandboxes.botsec.io"});
  if (!established || !established->ok()) {
    return core::Fail(
        core::ErrorCode::kUnavailable,
        "waiting for the CRDs: " + (established ? established->err : established.error().message));
  }
  return {};
}

core::Result<std::string> Cluster::UserKubeconfig(const std::string& user,
                                                  const std::vector<std::string>& groups) const {
  std::vector<std::string> args = {"kubeconfig", "--user", user};
  for (const std::string& g : groups) {
    args.emplace_back("--group");
    args.push_back(g);
  }
  auto run = Run(args);
  if (!run) {
    return Fail(run.error());
  }
  if (!run->ok()) {
    return Fail(ErrorCode::kInternal, "minting credentials for " + user + ": " + run->err);
  }
  return WriteTempFile(dir_, "user-" + user, run->out);
}

core::Result<std::string> Cluster::ServiceAccountKubeconfig(const std::string& ns,
                                                            const std::string& name) const {
  auto run = Run({"kubeconfig", "--serviceaccount", ns + "/" + name});
  if (!run) {
    return Fail(run.error());
  }
  if (!run->ok()) {
    return Fail(ErrorCode::kInternal,
                "minting a token for ServiceAccount " + ns + "/" + name + ": " + run->err);
  }
  return WriteTempFile(dir_, "sa-" + ns + "-" + name, run->out);
}

core::Result<std::string> Cluster::CreateTestNamespace(const std::string& prefix) const {
  static std::atomic<int> counter{0};
  std::string name = prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  auto created = Kubectl({"create", "namespace", name});
  if (!created) {
    return Fail(created.error());
  }
  if (!created->ok()) {
    return Fail(ErrorCode::kInternal, "creating namespace " + name + ": " + created->err);
  }
  bool ready = Eventually(
      [&] {
        auto sa = Kubectl({"-n", name, "get", "serviceaccount", "default"});
        return sa && sa->ok();
      },
      std::chrono::seconds(30));
  if (!ready) {
    return Fail(ErrorCode::kTimeout,
                "namespace " + name + " got no default ServiceAccount in 30 s");
  }
  return name;
}

core::Result<void> Cluster::CompactEtcd() const {
  std::ifstream endpoint(dir_ + "/etcd-endpoint");
  std::string url;
  if (!std::getline(endpoint, url) || url.empty()) {
    return Fail(ErrorCode::kNotFound, "no etcd-endpoint in " + dir_);
  }
  // etcd's JSON gateway: read the current revision, then compact to it.
  auto status = RunCommand(
      {"curl", "-fsS", "-X", "POST", url + "/v3/kv/range", "-d", R"({"key":"AA==","limit":1})"});
  if (!status || !status->ok()) {
    return Fail(ErrorCode::kUnavailable,
                "etcd range: " + (status ? status->err : status.error().message));
  }
  auto parsed = nlohmann::json::parse(status->out, nullptr, false);
  std::string revision = parsed.is_object() ? parsed["header"].value("revision", "") : "";
  if (revision.empty()) {
    return Fail(ErrorCode::kInternal, "etcd range answered without a revision: " + status->out);
  }
  auto compact = RunCommand({"curl", "-fsS", "-X", "POST", url + "/v3/kv/compaction", "-d",
                             R"({"revision":")" + revision + R"(","physical":true})"});
  if (!compact || !compact->ok()) {
    return Fail(
        ErrorCode::kUnavailable,
        "etcd compaction: " + (compact ? compact->err + compact->out : compact.error().message));
  }
  return {};
}

void Cluster::DeleteNamespace(const std::string& name) const {
  // A failed cleanup must not fail the test that used the namespace.
  (void)Kubectl({"delete", "namespace", name, "--wait=false", "--ignore-not-found"});
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void ClusterEnvironment::SetUp() {
  auto cluster = Cluster::Ensure();
  if (cluster) {
    SharedCluster() = std::make_unique<Cluster>(*std::move(cluster));
    SharedError().clear();
  } else {
    SharedError() = cluster.error().message;
  }
}

const Cluster* ClusterEnvironment::cluster() { return SharedCluster().get(); }

const std::string& ClusterEnvironment::error() { return SharedError(); }

}  // namespace botsec::testing
