// For integration tests of libs/kube: a Client on the real transport, and a fixture with the shared
// control plane, an admin Client and a fresh namespace per test.
#ifndef BOTSEC_TESTS_SUPPORT_KUBE_TEST_H_
#define BOTSEC_TESTS_SUPPORT_KUBE_TEST_H_

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "botsec/core/result.h"
#include "botsec/kube/client.h"
#include "support/cluster.h"

namespace botsec::testing {

// A Client for `kubeconfig`, through the transport on the wire.
core::Result<kube::Client> ClientFor(const std::string& kubeconfig);

// SetUp fails (CI) or skips the test when the control plane is unavailable; TearDown deletes
// the namespace.
class KubeTest : public ::testing::Test {
 protected:
  // `prefix` names the test's namespace.
  explicit KubeTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override;
  void TearDown() override;

  const Cluster* cluster_ = nullptr;
  std::unique_ptr<kube::Client> client_;
  std::string ns_;

 private:
  std::string prefix_;
};

}  // namespace botsec::testing

#endif  // BOTSEC_TESTS_SUPPORT_KUBE_TEST_H_
