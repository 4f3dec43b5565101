// The Reflector against the real kube-apiserver: it converges to exactly the server's state while
// objects are created, changed and deleted, and it stops promptly. (410 Gone: restart_test.cc.)
#include "botsec/kube/watch.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "support/cluster.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using std::chrono::seconds;

class WatchIntegrationTest : public testing::KubeTest {
 protected:
  WatchIntegrationTest() : KubeTest("it-watch") {}

  // name -> data.key, as the server has it now.
  std::map<std::string, std::string> ServerState() {
    std::map<std::string, std::string> state;
    ListOptions watched;
    watched.label_selector = "set=watched";
    auto list = client_->ListAll(resources::ConfigMaps(), ns_, watched);
    EXPECT_TRUE(list) << list.error().message;
    for (const Json& item : (*list)["items"]) {
      state[item["metadata"]["name"]] = item.value(Json::json_pointer("/data/key"), "");
    }
    return state;
  }

  Json ConfigMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns_}, {"labels", {{"set", "watched"}}}}},
            {"data", {{"key", value}}}};
  }
};

// A consumer that mirrors what the reflector reports.
class Mirror {
 public:
  ReflectorHandlers Handlers() {
    return {.replace =
                [this](const std::vector<Json>& items, const std::string& /*rv*/) {
                  std::lock_guard<std::mutex> guard(mu_);
                  state_.clear();
                  for (const Json& item : items) {
                    state_[item["metadata"]["name"]] =
                        item.value(Json::json_pointer("/data/key"), "");
                  }
                },
            .event =
                [this](const WatchEvent& event) {
                  std::lock_guard<std::mutex> guard(mu_);
                  std::string name = event.object["metadata"]["name"];
                  if (event.type == EventType::kDeleted) {
                    state_.erase(name);
                  } else {
                    state_[name] = event.object.value(Json::json_pointer("/data/key"), "");
                  }
                  ++events_;
                }};
  }
  std::map<std::string, std::string> state() {
    std::lock_guard<std::mutex> guard(mu_);
    return state_;
  }
  int events() {
    std::lock_guard<std::mutex> guard(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> state_;
  int events_ = 0;
};

TEST_F(WatchIntegrationTest, ReflectorConvergesToTheServerState) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_,
                                ConfigMap("before-" + std::to_string(i), "0")));
  }
  Mirror mirror;
  core::RealClock clock;
  // The selector keeps out kube-root-ca.crt, which the controller-manager puts in every namespace.
  ReflectorOptions options;
  options.selectors.label_selector = "set=watched";
  Reflector reflector(*client_, resources::ConfigMaps(), ns_, mirror.Handlers(), clock, options);
  std::jthread runner([&](const std::stop_token& stop) { reflector.Run(stop); });
  ASSERT_TRUE(testing::Eventually([&] { return mirror.state().size() >= 20; }, seconds(30)))
      << "the initial list never arrived";

  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_,
                                ConfigMap("after-" + std::to_string(i), "0")));
  }
  for (int i = 0; i < 20; i += 2) {
    ASSERT_TRUE(client_->Patch(resources::ConfigMaps(), ns_, "before-" + std::to_string(i),
                               PatchType::kMerge, {{"data", {{"key", "changed"}}}}));
  }
  for (int i = 1; i < 20; i += 2) {
    ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "after-" + std::to_string(i)));
  }
  std::map<std::string, std::string> expected = ServerState();
  ASSERT_EQ(expected.size(), 30U);
  bool converged = testing::Eventually([&] { return mirror.state() == expected; }, seconds(30));
  EXPECT_TRUE(converged) << "mirror has " << mirror.state().size() << " objects";
  EXPECT_GE(mirror.events(), 40) << "20 adds, 10 changes, 10 deletes came as events";

  auto stop_started = std::chrono::steady_clock::now();
  runner.request_stop();
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, seconds(5))
      << "an idle watch must end promptly when stopped";
}

}  // namespace
}  // namespace botsec::kube
