// The real control plane that integration tests run against: tools/cluster.sh brings up etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and KWOK on 127.0.0.1, or reuses the
// ones already running. Nothing here imitates the API server.
//
// Every integration test binary registers ClusterEnvironment. When the control plane cannot be
// started, its tests fail under CI=true and are skipped (with the reason) elsewhere.
#ifndef BOTSEC_TESTS_SUPPORT_CLUSTER_H_
#define BOTSEC_TESTS_SUPPORT_CLUSTER_H_

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "botsec/core/result.h"
#include "support/command.h"

namespace botsec::testing {

class Cluster {
 public:
  // Brings the control plane up, or reuses a running one, and returns a handle to it.
  static core::Result<Cluster> Ensure();
  // A control plane of a test's own, for tests that restart or break components: state in
  // build/cluster-<name>, ports from `port_base`, always started from empty state (a previous
  // run's objects would leak into this one). Remove it with Clean().
  static core::Result<Cluster> EnsurePrivate(const std::string& name, int port_base);

  // Stops one component and starts it again as it was (tools/cluster.sh restart).
  [[nodiscard]] core::Result<void> Restart(const std::string& component) const;
  // Stops every component of this control plane and deletes its state.
  [[nodiscard]] core::Result<void> Clean() const;

  // The admin kubeconfig (user botsec-admin in group system:masters).
  [[nodiscard]] const std::string& kubeconfig() const { return kubeconfig_; }
  // The state directory (logs/, pki/, bin/).
  [[nodiscard]] const std::string& dir() const { return dir_; }

  // Runs kubectl with the given kubeconfig (the admin's by default).
  [[nodiscard]] core::Result<CommandOutput> Kubectl(const std::vector<std::string>& args,
                                                    const std::string& input = "",
                                                    const std::string& kubeconfig = "") const;
  // Runs kubectl and parses its standard output as JSON; a non-zero exit is an error.
  [[nodiscard]] core::Result<nlohmann::json> KubectlJson(
      const std::vector<std::string>& args) const;

  // Mints credentials for someone other than the admin and returns the path of a kubeconfig:
  // a user with a client certificate (CN=user, O=each group) signed by the cluster's CA ...
  [[nodiscard]] core::Result<std::string> UserKubeconfig(
      const std::string& user, const std::vector<std::string>& groups = {}) const;
  // ... or a ServiceAccount with a one-hour token.
  [[nodiscard]] core::Result<std::string> ServiceAccountKubeconfig(const std::string& ns,
                                                                   const std::string& name) const;

  // Creates a namespace for one test, named `prefix-<pid>-<n>`, and waits until pods can be
  // created in it (its default ServiceAccount exists).
  [[nodiscard]] core::Result<std::string> CreateTestNamespace(const std::string& prefix) const;
  // Installs the project's CRDs (crds/) by server-side apply and waits until they are served.
  [[nodiscard]] core::Result<void> InstallCrds() const;
  // Compacts etcd's history up to its current revision, as kube-apiserver does every five
  // minutes: a watch from an older resourceVersion is then answered with 410 Gone.
  [[nodiscard]] core::Result<void> CompactEtcd() const;
  // Starts deleting a test's namespace and returns without waiting: cleanup, best effort.
  void DeleteNamespace(const std::string& name) const;

  // Runs tools/cluster.sh with `args` for this control plane.
  [[nodiscard]] core::Result<CommandOutput> Run(
      const std::vector<std::string>& args,
      std::chrono::seconds timeout = std::chrono::seconds(300)) const;

 private:
  Cluster(std::vector<std::string> script, std::string dir);

  std::vector<std::string> script_;  // argv prefix that runs tools/cluster.sh for this cluster
  std::string dir_;
  std::string kubeconfig_;
  std::string kubectl_;
};

// Polls `condition` every 200 ms until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Brings the cluster up once per test binary; see the file comment for CI behaviour.
class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  // The cluster, or nullptr when it could not be started (then `error()` says why).
  static const Cluster* cluster();
  static const std::string& error();
};

}  // namespace botsec::testing

// Use at the start of an integration test: yields `const Cluster&` named `cluster`, failing the
// test under CI=true and skipping it elsewhere when the control plane is not available.
#define BOTSEC_REQUIRE_CLUSTER()                                                                 \
  if (::botsec::testing::ClusterEnvironment::cluster() == nullptr) {                             \
    if (::botsec::testing::RunningInCi()) {                                                      \
      FAIL() << "control plane unavailable: " << ::botsec::testing::ClusterEnvironment::error(); \
    }                                                                                            \
    GTEST_SKIP() << "control plane unavailable: "                                                \
                 << ::botsec::testing::ClusterEnvironment::error();                              \
  }                                                                                              \
  const ::botsec::testing::Cluster& cluster = *::botsec::testing::ClusterEnvironment::cluster()

namespace botsec::testing {
// True when CI=true is set in the environment.
bool RunningInCi();
}  // namespace botsec::testing

#endif  // BOTSEC_TESTS_SUPPORT_CLUSTER_H_
