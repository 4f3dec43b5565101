// libs/kube's Client against the real kube-apiserver: CRUD, server-side apply, optimistic
// concurrency, pagination, decoded errors, and credentials other than the admin's.
#include "botsec/kube/client.h"

#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "botsec/kube/config.h"
#include "botsec/kube/http_transport.h"
#include "support/cluster.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using testing::Cluster;

using testing::ClientFor;

Json ConfigMap(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"key", value}}}};
}

class ClientIntegrationTest : public testing::KubeTest {
 protected:
  ClientIntegrationTest() : KubeTest("it-client") {}
};

TEST_F(ClientIntegrationTest, CreateGetUpdateDelete) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("a", "1"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_FALSE((*created)["metadata"].value("uid", "").empty());

  auto got = client_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["data"]["key"], "1");

  (*got)["data"]["key"] = "2";
  auto updated = client_->Update(resources::ConfigMaps(), ns_, *got);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ((*updated)["data"]["key"], "2");
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], (*got)["metadata"]["resourceVersion"]);

  auto deleted = client_->Delete(resources::ConfigMaps(), ns_, "a");
  ASSERT_TRUE(deleted) << deleted.error().message;
  auto gone = client_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().http_status, 404);
}

TEST_F(ClientIntegrationTest, ServerSideApplyIsIdempotent) {
  ApplyOptions options{.field_manager = "botsec-test"};
  auto first = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v"), options);
  ASSERT_TRUE(first) << first.error().message;
  auto second = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v"), options);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ((*second)["metadata"]["resourceVersion"], (*first)["metadata"]["resourceVersion"])
      << "an identical apply must not write";
  auto changed = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "w"), options);
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_NE((*changed)["metadata"]["resourceVersion"], (*first)["metadata"]["resourceVersion"]);
  EXPECT_EQ((*changed)["metadata"]["managedFields"][0]["manager"], "botsec-test");
}

TEST_F(ClientIntegrationTest, ApplyConflictsWithAnotherManagerUnlessForced) {
  ASSERT_TRUE(client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("owned", "mine"),
                             {.field_manager = "owner"}));
  auto conflict = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("owned", "theirs"),
                                 {.field_manager = "intruder"});
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  ASSERT_FALSE(conflict.error().causes.empty());
  EXPECT_EQ(conflict.error().causes[0].field, ".data.key");
  auto forced = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("owned", "theirs"),
                               {.field_manager = "intruder", .force = true});
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ((*forced)["data"]["key"], "theirs");
}

TEST_F(ClientIntegrationTest, StaleUpdateIsAConflict) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("c", "0"));
  ASSERT_TRUE(created) << created.error().message;
  Json stale = *created;
  Json fresh = *created;
  fresh["data"]["key"] = "1";
  ASSERT_TRUE(client_->Update(resources::ConfigMaps(), ns_, fresh));
  stale["data"]["key"] = "2";
  auto conflict = client_->Update(resources::ConfigMaps(), ns_, stale);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_EQ(conflict.error().http_status, 409);
}

TEST_F(ClientIntegrationTest, DeletePreconditionOnUid) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("p", "0"));
  ASSERT_TRUE(created) << created.error().message;
  auto wrong = client_->Delete(resources::ConfigMaps(), ns_, "p",
                               {.precondition_uid = "00000000-0000-0000-0000-000000000000"});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kConflict);
  auto right = client_->Delete(resources::ConfigMaps(), ns_, "p",
                               {.precondition_uid = (*created)["metadata"]["uid"]});
  EXPECT_TRUE(right) << right.error().message;
}

TEST_F(ClientIntegrationTest, InvalidObjectReportsEachFieldAndDuplicatesAlreadyExist) {
  Json bad = ConfigMap("Not_A_Valid_Name", "x");
  auto invalid = client_->Create(resources::ConfigMaps(), ns_, bad);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(invalid.error().http_status, 422);
  ASSERT_FALSE(invalid.error().causes.empty());
  EXPECT_EQ(invalid.error().causes[0].field, "metadata.name");

  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("dup", "x")));
  auto dup = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("dup", "x"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(ClientIntegrationTest, ListAllPaginatesOverAThousandObjects) {
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    Json cm = ConfigMap("page-" + std::to_string(i), std::to_string(i));
    cm["metadata"]["labels"] = {{"set", "paged"}};
    auto created = client_->Create(resources::ConfigMaps(), ns_, cm);
    ASSERT_TRUE(created) << i << ": " << created.error().message;
  }
  ListOptions one_page;
  one_page.label_selector = "set=paged";
  one_page.limit = 100;
  auto first = client_->List(resources::ConfigMaps(), ns_, one_page);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ((*first)["items"].size(), 100U);
  EXPECT_FALSE((*first)["metadata"].value("continue", "").empty());

  auto all = client_->ListAll(resources::ConfigMaps(), ns_, one_page);
  ASSERT_TRUE(all) << all.error().message;
  std::set<std::string> names;
  for (const Json& item : (*all)["items"]) {
    names.insert(item["metadata"]["name"].get<std::string>());
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kCount)) << "every object once, none twice";
  EXPECT_EQ((*all)["items"].size(), static_cast<std::size_t>(kCount));
}

TEST_F(ClientIntegrationTest, ForbiddenForAUserWithoutRbac) {
  auto kubeconfig = cluster_->UserKubeconfig("mallory-" + ns_);
  ASSERT_TRUE(kubeconfig) << kubeconfig.error().message;
  auto client = ClientFor(*kubeconfig);
  ASSERT_TRUE(client) << client.error().message;
  auto denied = client->Get(resources::ConfigMaps(), ns_, "anything");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
  EXPECT_NE(denied.error().message.find("mallory-" + ns_), std::string::npos)
      << denied.error().message;
}

TEST_F(ClientIntegrationTest, ServiceAccountTokenAuthenticates) {
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("seen", "x")));
  Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "reader"}}}};
  ASSERT_TRUE(client_->Create(Resource{"", "v1", "serviceaccounts", true}, ns_, sa));
  Json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", {{"name", "reader-view"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
      {"subjects",
       Json::array({{{"kind", "ServiceAccount"}, {"name", "reader"}, {"namespace", ns_}}})}};
  ASSERT_TRUE(client_->Create(Resource{"rbac.authorization.k8s.io", "v1", "rolebindings", true},
                              ns_, binding));
  auto kubeconfig = cluster_->ServiceAccountKubeconfig(ns_, "reader");
  ASSERT_TRUE(kubeconfig) << kubeconfig.error().message;
  auto client = ClientFor(*kubeconfig);
  ASSERT_TRUE(client) << client.error().message;
  bool read = testing::Eventually(
      [&] { return client->Get(resources::ConfigMaps(), ns_, "seen").has_value(); },
      std::chrono::seconds(30));
  EXPECT_TRUE(read);
  auto write = client->Create(resources::ConfigMaps(), ns_, ConfigMap("nope", "x"));
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, ErrorCode::kForbidden);
}

TEST(ClientTransportTest, RefusedConnectionIsUnavailable) {
  ClusterConfig config;
  config.server = "https://127.0.0.1:1";
  config.source = "test";
  auto transport = NewHttpTransport(config);
  ASSERT_TRUE(transport) << transport.error().message;
  Client client(std::shared_ptr<HttpTransport>(std::move(*transport)));
  auto got = client.Get(resources::Namespaces(), "", "default");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;
}

TEST(ClientTransportTest, BadClientCertificateIsReportedUpFront) {
  ClusterConfig config;
  config.server = "https://127.0.0.1:1";
  config.source = "kubeconfig /x, context y";
  config.client_cert_pem = "-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n";
  config.client_key_pem = "junk";
  auto transport = NewHttpTransport(config);
  ASSERT_FALSE(transport);
  EXPECT_EQ(transport.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(
      transport.error().message.find("kubeconfig /x, context y: the CA or client certificate"),
      std::string::npos)
      << transport.error().message;
}

}  // namespace
}  // namespace botsec::kube
