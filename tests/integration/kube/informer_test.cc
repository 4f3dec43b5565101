// The Informer against the real kube-apiserver: it syncs 5,000 objects, stays level with later
// changes, and maps each change to work-queue keys.
#include "botsec/kube/informer.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "botsec/kube/config.h"
#include "botsec/kube/work_queue.h"
#include "support/cluster.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using std::chrono::seconds;

TEST(InformerIntegrationTest, SyncsFiveThousandObjectsAndFeedsTheQueue) {
  BOTSEC_REQUIRE_CLUSTER();
  auto made = testing::ClientFor(cluster.kubeconfig());
  ASSERT_TRUE(made) << made.error().message;
  const Client& client = *made;
  auto ns = cluster.CreateTestNamespace("it-informer");
  ASSERT_TRUE(ns) << ns.error().message;

  constexpr int kCount = 5000;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> writers;
    writers.reserve(4);
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = w; i < kCount; i += 4) {
          Json cm = {
              {"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", "cm-" + std::to_string(i)}, {"labels", {{"set", "bulk"}}}}},
              {"data", {{"i", std::to_string(i)}}}};
          if (!client.Create(resources::ConfigMaps(), *ns, cm)) {
            ++failures;
          }
        }
      });
    }
  }
  ASSERT_EQ(failures, 0);

  core::RealClock clock;
  WorkQueue queue(clock, NewControllerRateLimiter(clock, {}));
  ReflectorOptions options;
  options.selectors.label_selector = "set=bulk";
  Informer informer(client, resources::ConfigMaps(), *ns, clock, options);
  informer.AddEventHandler(ObjectKey(), [&queue](const std::string& key) { queue.Add(key); });
  std::jthread runner([&](const std::stop_token& stop) { informer.Run(stop); });

  ASSERT_TRUE(testing::Eventually([&] { return informer.HasSynced(); }, seconds(120)));
  EXPECT_EQ(informer.store().size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(queue.Len(), static_cast<std::size_t>(kCount)) << "each object queued once";
  EXPECT_EQ(informer.store().ByLabel("set", "bulk").size(), static_cast<std::size_t>(kCount));
  ObjectPtr one = informer.store().Get(*ns + "/cm-42");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ((*one)["data"]["i"], "42");
  EXPECT_FALSE((*one)["metadata"].contains("managedFields"));

  // Drain the queue, then change one object and delete another: exactly their keys come back.
  while (queue.Len() > 0) {
    auto key = queue.Get();
    ASSERT_TRUE(key.has_value());
    queue.Done(*key);
  }
  ASSERT_TRUE(client.Patch(resources::ConfigMaps(), *ns, "cm-7", PatchType::kMerge,
                           {{"data", {{"i", "seven"}}}}));
  ASSERT_TRUE(client.Delete(resources::ConfigMaps(), *ns, "cm-8"));
  std::set<std::string> keys;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        while (queue.Len() > 0) {
          auto key = queue.Get();
          keys.insert(*key);
          queue.Done(*key);
        }
        return keys.size() >= 2;
      },
      seconds(30)));
  EXPECT_EQ(keys, (std::set<std::string>{*ns + "/cm-7", *ns + "/cm-8"}));
  EXPECT_EQ(informer.store().size(), static_cast<std::size_t>(kCount - 1));
  ASSERT_TRUE(testing::Eventually(
      [&] {
        ObjectPtr seven = informer.store().Get(*ns + "/cm-7");
        return seven && (*seven)["data"]["i"] == "seven";
      },
      seconds(10)));
  runner.request_stop();
  runner.join();
  cluster.DeleteNamespace(*ns);
}

}  // namespace
}  // namespace botsec::kube
