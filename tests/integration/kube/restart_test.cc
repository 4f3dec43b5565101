// The client under faults of the control plane itself, each test on a control plane of its own:
// a Reflector rides out a kube-apiserver restart, and a watch from before an etcd compaction is
// answered with 410 Gone once the API server no longer has that history cached.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "botsec/kube/status.h"
#include "botsec/kube/watch.h"
#include "support/cluster.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using std::chrono::seconds;

// Brings up the test's own control plane, from empty state, and removes it in TearDown.
class PrivateClusterTest : public ::testing::Test {
 protected:
  void StartCluster(const std::string& name, int port_base) {
    auto cluster = testing::Cluster::EnsurePrivate(name, port_base);
    ASSERT_TRUE(cluster) << cluster.error().message;
    cluster_ = std::make_unique<testing::Cluster>(*std::move(cluster));
    auto client = testing::ClientFor(cluster_->kubeconfig());
    ASSERT_TRUE(client) << client.error().message;
    client_ = std::make_unique<Client>(*std::move(client));
  }
  void TearDown() override {
    if (cluster_) {
      auto cleaned = cluster_->Clean();
      EXPECT_TRUE(cleaned) << cleaned.error().message;
    }
  }
  static Json ConfigMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", {{"set", "watched"}}}}},
            {"data", {{"key", value}}}};
  }

  std::unique_ptr<testing::Cluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(PrivateClusterTest, ReflectorConvergesAcrossAnApiserverRestart) {
  StartCluster("restart", 16460);
  if (HasFatalFailure()) {
    return;
  }
  const std::string ns = "default";
  std::mutex mu;
  std::map<std::string, std::string> mirror;
  ReflectorHandlers handlers{
      .replace =
          [&](const std::vector<Json>& items, const std::string& /*rv*/) {
            std::lock_guard<std::mutex> guard(mu);
            mirror.clear();
            for (const Json& item : items) {
              mirror[item["metadata"]["name"]] = item["data"]["key"];
            }
          },
      .event =
          [&](const WatchEvent& event) {
            std::lock_guard<std::mutex> guard(mu);
            if (event.type == EventType::kDeleted) {
              mirror.erase(event.object["metadata"]["name"].get<std::string>());
            } else {
              mirror[event.object["metadata"]["name"]] = event.object["data"]["key"];
            }
          }};
  ReflectorOptions options;
  options.selectors.label_selector = "set=watched";
  options.min_backoff = std::chrono::milliseconds(200);
  core::RealClock clock;
  Reflector reflector(*client_, resources::ConfigMaps(), ns, handlers, clock, options);
  std::jthread runner([&](const std::stop_token& stop) { reflector.Run(stop); });

  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        client_->Create(resources::ConfigMaps(), ns, ConfigMap("a" + std::to_string(i), "1")));
  }
  auto restarted = cluster_->Restart("kube-apiserver");
  ASSERT_TRUE(restarted) << restarted.error().message;
  // The first requests after the restart may meet a pooled connection the old server closed;
  // like a controller, retry what failed to reach the server.
  for (int i = 0; i < 10; ++i) {
    std::string name = "b" + std::to_string(i);
    ASSERT_TRUE(testing::Eventually(
        [&] {
          auto created = client_->Create(resources::ConfigMaps(), ns, ConfigMap(name, "2"));
          return created || created.error().code == core::ErrorCode::kAlreadyExists;
        },
        seconds(60)))
        << name;
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns, "a" + std::to_string(i)));
  }
  ASSERT_TRUE(client_->Patch(resources::ConfigMaps(), ns, "a5", PatchType::kMerge,
                             {{"data", {{"key", "changed"}}}}));

  std::map<std::string, std::string> expected;
  ListOptions watched;
  watched.label_selector = "set=watched";
  auto list = client_->ListAll(resources::ConfigMaps(), ns, watched);
  ASSERT_TRUE(list) << list.error().message;
  for (const Json& item : (*list)["items"]) {
    expected[item["metadata"]["name"]] = item["data"]["key"];
  }
  ASSERT_EQ(expected.size(), 17U);
  bool converged = testing::Eventually(
      [&] {
        std::lock_guard<std::mutex> guard(mu);
        return mirror == expected;
      },
      seconds(60));
  std::lock_guard<std::mutex> guard(mu);
  EXPECT_TRUE(converged) << "mirror has " << mirror.size() << " of 17 objects";
}

TEST_F(PrivateClusterTest, WatchFromBeforeACompactionIsGoneAfterARestart) {
  StartCluster("compact", 16470);
  if (HasFatalFailure()) {
    return;
  }
  auto created = client_->Create(resources::ConfigMaps(), "default", ConfigMap("old", "1"));
  ASSERT_TRUE(created) << created.error().message;
  std::string old_rv = ResourceVersionOf(*created);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Create(resources::ConfigMaps(), "default",
                                ConfigMap("new" + std::to_string(i), "1")));
  }
  auto compacted = cluster_->CompactEtcd();
  ASSERT_TRUE(compacted) << compacted.error().message;
  // A fresh API server has no cached history older than its first list: etcd must answer.
  auto restarted = cluster_->Restart("kube-apiserver");
  ASSERT_TRUE(restarted) << restarted.error().message;

  WatchOptions options;
  options.resource_version = old_rv;
  options.timeout_seconds = 10;
  HttpRequest request{
      .path = ResourcePath(resources::ConfigMaps(), "default") + WatchQuery(options),
      .timeout = seconds(40)};
  std::optional<core::Error> gone;
  auto response = client_->transport().Stream(
      request,
      [&](std::string_view line) {
        auto event = DecodeWatchEvent(line);
        if (event && event->type == EventType::kError) {
          gone = DecodeStatus(event->object.value("code", 0), event->object.dump(), "");
        }
        return false;
      },
      std::stop_token());
  ASSERT_TRUE(response) << response.error().message;
  if (response->status != 200) {
    gone = DecodeStatus(response->status, response->body, response->retry_after);
  }
  ASSERT_TRUE(gone.has_value()) << "the watch from resourceVersion " << old_rv << " was served";
  EXPECT_EQ(gone->code, core::ErrorCode::kGone) << gone->message;
}

}  // namespace
}  // namespace botsec::kube
