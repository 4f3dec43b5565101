// libs/kube through a fault-injecting proxy (support/fault_proxy.h) in front of the real
// kube-apiserver: an Informer reaches exactly the server's state, with no change lost or
// delivered twice, across dropped and cut connections, a stalled watch, delays, 500, 429, and 410
// both as an HTTP answer and as a watch ERROR event; and single requests come back as the right
// error codes. Every test also checks, through the proxy's counts, that its faults really fired.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "botsec/core/result.h"
#include "botsec/kube/client.h"
#include "botsec/kube/config.h"
#include "botsec/kube/http_transport.h"
#include "botsec/kube/informer.h"
#include "botsec/kube/watch.h"
#include "support/cluster.h"
#include "support/fault_proxy.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::Fault;
using testing::FaultKind;
using testing::FaultProxy;
using testing::SeenRequest;

constexpr std::string_view kList = "/configmaps?";  // a list has no name in its path, ...
constexpr std::string_view kWatch = "watch=true";   // ... and a watch says so

// Short backoffs and watches, so that recovering from each fault takes milliseconds.
ReflectorOptions FastOptions() {
  return ReflectorOptions{.watch_timeout_seconds = 10,
                          .min_backoff = milliseconds(20),
                          .max_backoff = milliseconds(200)};
}

Fault ListFault(FaultKind kind) {
  return Fault{.kind = kind,
               .method = "GET",
               .path_contains = std::string(kList),
               .path_excludes = std::string(kWatch)};
}

Fault WatchFault(FaultKind kind) {
  return Fault{.kind = kind, .method = "GET", .path_contains = std::string(kWatch)};
}

Fault Respond(Fault fault, int status) {
  fault.status = status;
  return fault;
}

// The requests that took fault `id`, in order.
std::vector<SeenRequest> TakenBy(const FaultProxy& proxy, int id) {
  std::vector<SeenRequest> taken;
  for (const SeenRequest& seen : proxy.Requests()) {
    if (seen.fault_id == id) {
      taken.push_back(seen);
    }
  }
  return taken;
}

// The first request after `after` whose path contains `path` and `not_path` does not.
std::optional<SeenRequest> NextRequest(const FaultProxy& proxy, steady_clock::time_point after,
                                       std::string_view path, std::string_view not_path = "") {
  for (const SeenRequest& seen : proxy.Requests()) {
    if (seen.at > after && seen.path.find(path) != std::string::npos &&
        (not_path.empty() || seen.path.find(not_path) == std::string::npos)) {
      return seen;
    }
  }
  return std::nullopt;
}

// The proxy's request log, for failure messages: one line a request, with the fault that took it.
std::string Log(const FaultProxy& proxy) {
  std::string log;
  auto start = proxy.Requests().empty() ? steady_clock::now() : proxy.Requests().front().at;
  for (const SeenRequest& seen : proxy.Requests()) {
    log += "\n  +" +
           std::to_string(std::chrono::duration_cast<milliseconds>(seen.at - start).count()) +
           "ms " + seen.method + " " + seen.path +
           (seen.fault_id != 0 ? " [fault " + std::to_string(seen.fault_id) + "]" : "");
  }
  return log;
}

// An Informer on the namespace's ConfigMaps, running on a thread of its own, that records every
// key it hands out together with the resourceVersion its Store held for that key at that moment
// ("" once deleted): enough to tell a delivery lost from one made twice.
class RecordedInformer {
 public:
  RecordedInformer(const Client& client, const std::string& ns)
      : informer_(client, resources::ConfigMaps(), ns, clock_, FastOptions()) {
    informer_.AddEventHandler(ObjectKey(), [this](const std::string& key) {
      ObjectPtr now = informer_.store().Get(key);
      std::lock_guard<std::mutex> guard(mu_);
      deliveries_[key].push_back(now ? ResourceVersionOf(*now) : "");
    });
    runner_ = std::jthread([this](const std::stop_token& stop) { informer_.Run(stop); });
  }
  RecordedInformer(const RecordedInformer&) = delete;
  RecordedInformer& operator=(const RecordedInformer&) = delete;
  ~RecordedInformer() {
    runner_.request_stop();
    runner_.join();
  }

  [[nodiscard]] const Informer& informer() const { return informer_; }

  // key -> resourceVersion, as the Store has it.
  [[nodiscard]] std::map<std::string, std::string> Versions() const {
    std::map<std::string, std::string> versions;
    for (const ObjectPtr& object : informer_.store().List()) {
      versions[KeyOf(*object)] = ResourceVersionOf(*object);
    }
    return versions;
  }

  [[nodiscard]] std::map<std::string, std::vector<std::string>> deliveries() const {
    std::lock_guard<std::mutex> guard(mu_);
    return deliveries_;
  }

 private:
  core::RealClock clock_;
  Informer informer_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>> deliveries_;
  std::jthread runner_;  // last: stopped and joined before the rest goes
};

class FaultTest : public testing::KubeTest {
 protected:
  FaultTest() : KubeTest("it-fault") {}

  void SetUp() override {
    KubeTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) {
      return;
    }
    auto config = LoadConfig(cluster_->kubeconfig(), "", GetEnv, ReadFile);
    ASSERT_TRUE(config) << config.error().message;
    auto proxy = testing::FaultProxy::Start(cluster_->dir() + "/pki", config->server);
    ASSERT_TRUE(proxy) << proxy.error().message;
    proxy_ = *std::move(proxy);
    config->server = proxy_->url();  // the same credentials and CA, through the proxy
    auto transport = NewHttpTransport(*config);
    ASSERT_TRUE(transport) << transport.error().message;
    proxied_ = std::make_unique<Client>(std::shared_ptr<HttpTransport>(std::move(*transport)));
  }

  static Json ConfigMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", {{"set", "fault"}}}}},
            {"data", {{"key", value}}}};
  }

  // Creates `count` ConfigMaps named `prefix-<i>`, then changes every second and deletes every
  // third, directly (not through the proxy).
  void Churn(const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      auto created = client_->Create(resources::ConfigMaps(), ns_,
                                     ConfigMap(prefix + "-" + std::to_string(i), "0"));
      ASSERT_TRUE(created) << created.error().message;
    }
    for (int i = 0; i < count; i += 2) {
      auto patched = client_->Patch(resources::ConfigMaps(), ns_, prefix + "-" + std::to_string(i),
                                    PatchType::kMerge, {{"data", {{"key", "changed"}}}});
      ASSERT_TRUE(patched) << patched.error().message;
    }
    for (int i = 0; i < count; i += 3) {
      auto deleted =
          client_->Delete(resources::ConfigMaps(), ns_, prefix + "-" + std::to_string(i));
      ASSERT_TRUE(deleted) << deleted.error().message;
    }
  }

  // key -> resourceVersion of every ConfigMap in the namespace, read directly.
  std::map<std::string, std::string> ServerVersions() {
    std::map<std::string, std::string> versions;
    auto list = client_->ListAll(resources::ConfigMaps(), ns_, {});
    EXPECT_TRUE(list) << list.error().message;
    if (list) {
      for (const Json& item : (*list)["items"]) {
        versions[KeyOf(item)] = ResourceVersionOf(item);
      }
    }
    return versions;
  }

  // Waits until the informer's Store holds exactly the server's objects at exactly the server's
  // versions, then checks what it delivered on the way: each key's versions only ever increase
  // (a version delivered twice, or a deletion delivered twice, is a duplicate), and each key's
  // last delivery is its final state (anything else is a lost change).
  void ExpectConverged(const RecordedInformer& watched) {
    std::map<std::string, std::string> server;
    bool converged = testing::Eventually(
        [&] {
          server = ServerVersions();
          return watched.Versions() == server;
        },
        seconds(15));
    ASSERT_TRUE(converged) << "the store has " << watched.Versions().size()
                           << " objects, the server " << server.size();
    for (const auto& [key, versions] : watched.deliveries()) {
      for (std::size_t i = 1; i < versions.size(); ++i) {
        const std::string& before = versions[i - 1];
        const std::string& now = versions[i];
        EXPECT_FALSE(before.empty() && now.empty()) << key << ": deletion delivered twice";
        if (!before.empty() && !now.empty()) {
          // Opaque to clients in general, but on etcd they are its revisions, which only grow.
          EXPECT_LT(std::stoll(before), std::stoll(now))
              << key << ": version " << now << " delivered after " << before;
        }
      }
      auto final_state = server.find(key);
      EXPECT_EQ(versions.back(), final_state == server.end() ? "" : final_state->second)
          << key << ": its last change was never delivered";
    }
    for (const auto& [key, version] : server) {
      EXPECT_TRUE(watched.deliveries().contains(key)) << key << " was never delivered";
    }
  }

  // Waits until the proxy has seen at least `count` watch requests.
  bool WatchRequests(int count) {
    return testing::Eventually([&] { return proxy_->CountRequests("GET", kWatch) >= count; },
                               seconds(10));
  }

  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<Client> proxied_;  // the admin's credentials, through proxy_
};

// The first list fails every way a list can: 500, 429 (whose Retry-After the informer must
// honour), a connection dropped before any answer, one cut inside the answer's body, and a slow
// answer. The informer keeps trying and ends with exactly the server's state.
TEST_F(FaultTest, InformerConvergesThroughListFaults) {
  Churn("before", 12);
  int failed = proxy_->Add(Respond(ListFault(FaultKind::kRespond), 500));
  int throttled = proxy_->Add(Respond(ListFault(FaultKind::kRespond), 429));
  int dropped = proxy_->Add(ListFault(FaultKind::kDropConnection));
  Fault cut = ListFault(FaultKind::kDropConnection);
  cut.after_bytes = 100;
  int truncated = proxy_->Add(cut);
  Fault delay = ListFault(FaultKind::kDelay);
  delay.duration = milliseconds(700);
  int delayed = proxy_->Add(delay);

  RecordedInformer watched(*proxied_, ns_);
  ASSERT_TRUE(testing::Eventually([&] { return watched.informer().HasSynced(); }, seconds(20)));
  Churn("after", 12);
  ExpectConverged(watched);

  EXPECT_EQ(proxy_->Fired(failed), 1);
  EXPECT_EQ(proxy_->Fired(throttled), 1);
  EXPECT_EQ(proxy_->Fired(dropped), 1);
  EXPECT_EQ(proxy_->Fired(truncated), 1);
  EXPECT_EQ(proxy_->Fired(delayed), 1);
  EXPECT_EQ(watched.informer().reflector().lists(), 1) << "only the sixth list succeeded";
  std::vector<SeenRequest> throttled_at = TakenBy(*proxy_, throttled);
  ASSERT_EQ(throttled_at.size(), 1U);
  std::optional<SeenRequest> retry = NextRequest(*proxy_, throttled_at[0].at, kList, kWatch);
  ASSERT_TRUE(retry.has_value());
  EXPECT_GE(retry->at - throttled_at[0].at, milliseconds(950))
      << "the list after a 429 with Retry-After: 1 came too soon:" << Log(*proxy_);
}

// Each watch fails once in turn: 500, 429, a connection dropped before any answer, and a delay.
// None of these needs a relist; the informer resumes from the list's version and misses nothing
// written meanwhile.
TEST_F(FaultTest, InformerConvergesThroughWatchFaults) {
  Churn("before", 10);
  int failed = proxy_->Add(Respond(WatchFault(FaultKind::kRespond), 500));
  int throttled = proxy_->Add(Respond(WatchFault(FaultKind::kRespond), 429));
  int dropped = proxy_->Add(WatchFault(FaultKind::kDropConnection));
  Fault delay = WatchFault(FaultKind::kDelay);
  delay.duration = milliseconds(500);
  int delayed = proxy_->Add(delay);

  RecordedInformer watched(*proxied_, ns_);
  ASSERT_TRUE(testing::Eventually([&] { return watched.informer().HasSynced(); }, seconds(20)));
  Churn("during", 10);
  ASSERT_TRUE(WatchRequests(4)) << Log(*proxy_);  // the delayed one carries on
  Churn("after", 10);
  ExpectConverged(watched);

  EXPECT_EQ(proxy_->Fired(failed), 1);
  EXPECT_EQ(proxy_->Fired(throttled), 1);
  EXPECT_EQ(proxy_->Fired(dropped), 1);
  EXPECT_EQ(proxy_->Fired(delayed), 1);
  EXPECT_EQ(watched.informer().reflector().lists(), 1) << "no fault here calls for a relist";
  std::vector<SeenRequest> throttled_at = TakenBy(*proxy_, throttled);
  ASSERT_EQ(throttled_at.size(), 1U);
  std::optional<SeenRequest> retry = NextRequest(*proxy_, throttled_at[0].at, kWatch);
  ASSERT_TRUE(retry.has_value());
  EXPECT_GE(retry->at - throttled_at[0].at, milliseconds(950))
      << "the watch after a 429 with Retry-After: 1 came too soon:" << Log(*proxy_);
}

// 410 Gone, once as an HTTP answer to a watch and once as a watch ERROR event: each time the
// informer lists again, and the relist reports only what really changed.
TEST_F(FaultTest, InformerRelistsOnGoneAndDeliversNothingTwice) {
  Churn("before", 10);
  RecordedInformer watched(*proxied_, ns_);
  ASSERT_TRUE(testing::Eventually([&] { return watched.informer().HasSynced(); }, seconds(20)));
  ASSERT_TRUE(WatchRequests(1));
  Churn("first", 10);
  ExpectConverged(watched);

  int gone = proxy_->Add(Respond(WatchFault(FaultKind::kRespond), 410));
  int expired = proxy_->Add(WatchFault(FaultKind::kErrorEvent410));
  EXPECT_GE(proxy_->DropAll(), 1) << "the watch was open";
  Churn("second", 10);
  ASSERT_TRUE(testing::Eventually([&] { return proxy_->Fired(expired) == 1; }, seconds(10)));
  Churn("third", 10);
  ExpectConverged(watched);

  EXPECT_EQ(proxy_->Fired(gone), 1);
  EXPECT_EQ(proxy_->Fired(expired), 1);
  EXPECT_EQ(watched.informer().reflector().lists(), 3) << "one list, and one relist per 410";
}

// Watches are cut: in the middle of their first event, and by resetting every connection while
// objects change. The informer resumes each time and ends exactly level.
TEST_F(FaultTest, InformerResumesAfterCutAndResetStreams) {
  Churn("before", 10);
  RecordedInformer watched(*proxied_, ns_);
  ASSERT_TRUE(testing::Eventually([&] { return watched.informer().HasSynced(); }, seconds(20)));
  ASSERT_TRUE(WatchRequests(1));

  Fault cut = WatchFault(FaultKind::kDropConnection);
  cut.after_bytes = 40;  // inside the first event's line
  cut.times = 2;
  int cuts = proxy_->Add(cut);
  EXPECT_GE(proxy_->DropAll(), 1) << "the watch was open";
  int resets = 0;
  // Four rounds, and more while no reset has met an open watch yet (on a loaded machine the
  // informer may still be reconnecting when a round ends).
  for (int round = 0; round < 4 || (resets == 0 && round < 40); ++round) {
    Churn("round" + std::to_string(round), 6);
    resets += proxy_->DropAll();
    std::this_thread::sleep_for(milliseconds(100));
  }
  ExpectConverged(watched);

  EXPECT_EQ(proxy_->Fired(cuts), 2);
  EXPECT_GE(resets, 1);
  EXPECT_GE(proxy_->CountRequests("GET", kWatch), 4);
}

// The watch stream stops for a while without closing: a change made meanwhile arrives only once
// the stream moves again, on the same watch, with no relist.
TEST_F(FaultTest, InformerWaitsOutAStalledStream) {
  Churn("before", 6);
  Fault stall = WatchFault(FaultKind::kStallStream);
  stall.duration = milliseconds(2500);
  int stalled = proxy_->Add(stall);
  RecordedInformer watched(*proxied_, ns_);
  ASSERT_TRUE(testing::Eventually([&] { return watched.informer().HasSynced(); }, seconds(20)));
  ASSERT_TRUE(WatchRequests(1));
  ASSERT_EQ(proxy_->Fired(stalled), 1);
  auto made = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("during-stall", "1"));
  ASSERT_TRUE(made) << made.error().message;

  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_EQ(watched.informer().store().Get(ns_ + "/during-stall"), nullptr)
      << "the stalled stream still delivered";
  ASSERT_TRUE(testing::Eventually(
      [&] { return watched.informer().store().Get(ns_ + "/during-stall") != nullptr; },
      seconds(10)));
  ExpectConverged(watched);
  EXPECT_EQ(proxy_->CountRequests("GET", kWatch), 1) << "the same watch carried the change";
  EXPECT_EQ(watched.informer().reflector().lists(), 1);
}

// Everything at once while objects keep changing: list and watch faults of every kind, taken in
// whatever order the informer's requests come, and every connection reset now and then, until
// each fault has fired.
TEST_F(FaultTest, InformerConvergesUnderAStorm) {
  Churn("before", 10);
  std::vector<int> faults;
  faults.push_back(proxy_->Add(Respond(WatchFault(FaultKind::kRespond), 500)));
  faults.push_back(proxy_->Add(Respond(ListFault(FaultKind::kRespond), 500)));
  faults.push_back(proxy_->Add(WatchFault(FaultKind::kErrorEvent410)));
  faults.push_back(proxy_->Add(Respond(ListFault(FaultKind::kRespond), 429)));
  faults.push_back(proxy_->Add(Respond(WatchFault(FaultKind::kRespond), 410)));
  faults.push_back(proxy_->Add(ListFault(FaultKind::kDropConnection)));
  Fault cut = WatchFault(FaultKind::kDropConnection);
  cut.after_bytes = 300;
  faults.push_back(proxy_->Add(cut));
  Fault stall = WatchFault(FaultKind::kStallStream);
  stall.duration = milliseconds(400);
  stall.after_bytes = 100;
  faults.push_back(proxy_->Add(stall));
  Fault delay{.kind = FaultKind::kDelay, .method = "GET", .times = 3};
  delay.duration = milliseconds(150);
  faults.push_back(proxy_->Add(delay));
  auto all_fired = [&] {
    return std::all_of(faults.begin(), faults.end(), [&](int id) { return proxy_->Fired(id) > 0; });
  };

  RecordedInformer watched(*proxied_, ns_);
  auto deadline = steady_clock::now() + seconds(20);
  for (int round = 0; !all_fired() && steady_clock::now() < deadline; ++round) {
    ASSERT_NO_FATAL_FAILURE(Churn("storm" + std::to_string(round), 4));
    std::this_thread::sleep_for(milliseconds(100));
    if (round % 3 == 2) {
      proxy_->DropAll();
    }
  }
  ASSERT_TRUE(all_fired()) << "some fault never fired:" << Log(*proxy_);
  proxy_->Clear();
  Churn("calm", 5);
  ExpectConverged(watched);
  EXPECT_GE(watched.informer().reflector().lists(), 3) << "two 410s mean two relists at least";
}

// Single requests: an injected answer decodes to the code that says what to do next.
TEST_F(FaultTest, ClientDecodesInjectedAnswers) {
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("a", "1")));
  Fault fault{.kind = FaultKind::kRespond, .method = "GET", .path_contains = "/configmaps/a"};
  fault.status = 429;
  fault.retry_after_seconds = 2;
  int throttled = proxy_->Add(fault);
  auto got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kTooManyRequests) << got.error().message;
  EXPECT_EQ(got.error().http_status, 429);
  EXPECT_EQ(got.error().retry_after, seconds(2));

  fault.status = 500;
  int failed = proxy_->Add(fault);
  got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kInternal) << got.error().message;
  EXPECT_EQ(got.error().http_status, 500);
  EXPECT_NE(got.error().message.find("injected by the fault proxy"), std::string::npos)
      << got.error().message;

  fault.kind = FaultKind::kDelay;
  fault.duration = milliseconds(500);
  int delayed = proxy_->Add(fault);
  auto started = steady_clock::now();
  got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["data"]["key"], "1");
  EXPECT_GE(steady_clock::now() - started, milliseconds(500));

  EXPECT_EQ(proxy_->Fired(throttled), 1);
  EXPECT_EQ(proxy_->Fired(failed), 1);
  EXPECT_EQ(proxy_->Fired(delayed), 1);
}

// An expired continue token (410 on a later page) fails the whole ListAll as kGone: the caller
// must start over, never stitch pages of two snapshots together.
TEST_F(FaultTest, ListAllReportsAnExpiredContinueTokenAsGone) {
  Churn("page", 6);
  Fault fault{.kind = FaultKind::kRespond, .method = "GET", .path_contains = "continue="};
  fault.status = 410;
  int gone = proxy_->Add(fault);
  auto list = proxied_->ListAll(resources::ConfigMaps(), ns_, ListOptions{.limit = 2});
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, ErrorCode::kGone) << list.error().message;
  EXPECT_EQ(proxy_->Fired(gone), 1);
  auto again = proxied_->ListAll(resources::ConfigMaps(), ns_, ListOptions{.limit = 2});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)["items"].size(), ServerVersions().size());
}

// A connection dropped before or during the answer is kUnavailable, promptly: no hang, no
// crash, and a write the server never saw did not happen.
TEST_F(FaultTest, ClientReportsADroppedConnectionAsUnavailable) {
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("a", "1")));
  auto started = steady_clock::now();
  int before = proxy_->Add(
      Fault{.kind = FaultKind::kDropConnection, .method = "GET", .path_contains = "/configmaps/a"});
  auto got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;

  int during = proxy_->Add(Fault{.kind = FaultKind::kDropConnection,
                                 .method = "GET",
                                 .path_contains = "/configmaps/a",
                                 .after_bytes = 20});
  got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  ASSERT_FALSE(got) << "a truncated answer was taken whole";
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;

  int create = proxy_->Add(Fault{.kind = FaultKind::kDropConnection, .method = "POST"});
  auto made = proxied_->Create(resources::ConfigMaps(), ns_, ConfigMap("b", "1"));
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code, ErrorCode::kUnavailable) << made.error().message;
  EXPECT_LT(steady_clock::now() - started, seconds(10)) << "a dropped connection must not hang";

  EXPECT_EQ(proxy_->Fired(before), 1);
  EXPECT_EQ(proxy_->Fired(during), 1);
  EXPECT_EQ(proxy_->Fired(create), 1);
  auto b = client_->Get(resources::ConfigMaps(), ns_, "b");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kNotFound);
  got = proxied_->Get(resources::ConfigMaps(), ns_, "a");
  EXPECT_TRUE(got) << "the proxy answers again once the faults are spent: " << got.error().message;
}

}  // namespace
}  // namespace botsec::kube
