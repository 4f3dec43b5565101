#include "support/kube_test.h"

#include <memory>
#include <string>
#include <utility>

#include "botsec/kube/config.h"
#include "botsec/kube/http_transport.h"

namespace botsec::testing {

core::Result<kube::Client> ClientFor(const std::string& kubeconfig) {
  return kube::NewClient(kubeconfig);
}

void KubeTest::SetUp() {
  if (ClusterEnvironment::cluster() == nullptr) {
    if (RunningInCi()) {
      FAIL() << "control plane unavailable: " << ClusterEnvironment::error();
    }
    GTEST_SKIP() << "control plane unavailable: " << ClusterEnvironment::error();
  }
  cluster_ = ClusterEnvironment::cluster();
  auto client = ClientFor(cluster_->kubeconfig());
  ASSERT_TRUE(client) << client.error().message;
  client_ = std::make_unique<kube::Client>(*std::move(client));
  auto ns = cluster_->CreateTestNamespace(prefix_);
  ASSERT_TRUE(ns) << ns.error().message;
  ns_ = *ns;
}

void KubeTest::TearDown() {
  if (cluster_ != nullptr && !ns_.empty()) {
    cluster_->DeleteNamespace(ns_);
  }
}

}  // namespace botsec::testing
