#include "botsec/kube/leader_election.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"

namespace botsec::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = core::Clock::TimePoint;

LeaderElectionConfig Config(std::string identity) {
  return {.lease_namespace = "botsec-system",
          .lease_name = "botsec-operator",
          .identity = std::move(identity)};
}

Json LeaseHeldBy(const std::string& holder, const std::string& renew_time = "t1") {
  return {{"metadata", {{"name", "botsec-operator"}, {"resourceVersion", "7"}}},
          {"spec",
           {{"holderIdentity", holder},
            {"leaseDurationSeconds", 15},
            {"acquireTime", "t0"},
            {"renewTime", renew_time},
            {"leaseTransitions", 3}}}};
}

TEST(LeaderElectionValidate, AcceptsTheDefaults) { EXPECT_TRUE(Validate(Config("a"))); }

TEST(LeaderElectionValidate, NamesTheFieldThatIsWrong) {
  struct Case {
    std::function<void(LeaderElectionConfig&)> change;
    std::string expected;
  };
  std::vector<Case> cases = {
      {[](LeaderElectionConfig& c) { c.identity.clear(); }, "identity: Required value"},
      {[](LeaderElectionConfig& c) { c.lease_name.clear(); }, "lease name: Required value"},
      {[](LeaderElectionConfig& c) { c.lease_namespace.clear(); },
       "lease namespace: Required value"},
      {[](LeaderElectionConfig& c) { c.lease_duration = milliseconds(15500); },
       "lease duration: Invalid value: 15500ms: must be whole seconds"},
      {[](LeaderElectionConfig& c) { c.renew_deadline = milliseconds(2400); },
       "renew deadline: Invalid value: 2400ms"},
      // 12 s < 10 s + 2.4 s: the leader could still be acting when its lease is taken.
      {[](LeaderElectionConfig& c) { c.lease_duration = seconds(12); },
       "lease duration: Invalid value: 12000ms: must be longer than the renew deadline plus the "
       "retry period with jitter (12400ms)"},
      {[](LeaderElectionConfig& c) { c.retry_period = milliseconds(0); },
       "retry period: Invalid value"},
  };
  for (const Case& c : cases) {
    LeaderElectionConfig config = Config("a");
    c.change(config);
    auto valid = Validate(config);
    ASSERT_FALSE(valid) << c.expected;
    EXPECT_EQ(valid.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(valid.error().message.find(c.expected), std::string::npos) << valid.error().message;
  }
}

TEST(LeaderElection, FormatsMicroTimeAsTheApiDoes) {
  std::chrono::system_clock::time_point t{std::chrono::microseconds(1796410800123456LL)};
  EXPECT_EQ(FormatMicroTime(t), "2026-12-04T19:00:00.123456Z");
  EXPECT_EQ(FormatMicroTime(std::chrono::system_clock::time_point{}),
            "1970-01-01T00:00:00.000000Z");
}

TEST(LeaderElection, ParsesALeaseAndToleratesMissingFields) {
  LeaseRecord record = ParseLease(LeaseHeldBy("a"));
  EXPECT_EQ(record.holder, "a");
  EXPECT_EQ(record.lease_duration_seconds, 15);
  EXPECT_EQ(record.renew_time, "t1");
  EXPECT_EQ(record.transitions, 3);
  EXPECT_EQ(record.resource_version, "7");
  LeaseRecord empty = ParseLease({{"spec", {{"holderIdentity", nullptr}}}});
  EXPECT_EQ(empty.holder, "");
  EXPECT_EQ(empty.transitions, 0);
}

TEST(LeaderElection, CreatesTheLeaseWhenThereIsNone) {
  LeaseDecision decision =
      DecideLease(std::nullopt, {}, Config("a"), TimePoint{}, std::chrono::system_clock::now());
  ASSERT_EQ(decision.action, LeaseAction::kCreate);
  EXPECT_EQ(decision.lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(decision.lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(decision.lease["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(decision.lease["metadata"]["namespace"], "botsec-system");
  EXPECT_EQ(decision.lease["spec"]["acquireTime"], decision.lease["spec"]["renewTime"]);
}

TEST(LeaderElection, WaitsWhileAnotherHolderIsLiveAndTakesOverAfterTheLeaseDuration) {
  LeaderElectionConfig config = Config("b");
  TimePoint t0 = TimePoint{} + seconds(100);
  LeaseObservation seen =
      Observe({}, ParseLease(LeaseHeldBy("a")), t0, t0 + milliseconds(5), config);
  Json current = LeaseHeldBy("a");
  auto wall = std::chrono::system_clock::now();
  EXPECT_EQ(DecideLease(current, seen, config, t0 + seconds(14), wall).action, LeaseAction::kWait);
  LeaseDecision take = DecideLease(current, seen, config, t0 + seconds(16), wall);
  ASSERT_EQ(take.action, LeaseAction::kUpdate);
  EXPECT_EQ(take.lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(take.lease["spec"]["leaseTransitions"], 4);
  EXPECT_EQ(take.lease["metadata"]["resourceVersion"], "7") << "the write is conditional";
  EXPECT_EQ(take.lease["spec"]["acquireTime"], FormatMicroTime(wall));
}

TEST(LeaderElection, TakesAReleasedLeaseAtOnce) {
  LeaderElectionConfig config = Config("b");
  Json released = ReleasedLease(LeaseHeldBy("a"), std::chrono::system_clock::now());
  EXPECT_EQ(released["spec"]["holderIdentity"], "");
  EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
  TimePoint t0 = TimePoint{} + seconds(100);
  LeaseObservation seen = Observe({}, ParseLease(released), t0, t0, config);
  EXPECT_EQ(DecideLease(released, seen, config, t0, std::chrono::system_clock::now()).action,
            LeaseAction::kUpdate);
}

TEST(LeaderElection, RenewingKeepsAcquireTimeAndTransitions) {
  LeaderElectionConfig config = Config("a");
  Json current = LeaseHeldBy("a");
  LeaseDecision renew =
      DecideLease(current, {}, config, TimePoint{}, std::chrono::system_clock::now());
  ASSERT_EQ(renew.action, LeaseAction::kUpdate);
  EXPECT_EQ(renew.lease["spec"]["acquireTime"], "t0");
  EXPECT_EQ(renew.lease["spec"]["leaseTransitions"], 3);
  EXPECT_NE(renew.lease["spec"]["renewTime"], "t1");
}

TEST(LeaderElection, CountsTheLeaseFromTheLastReadThatShowedTheOldRecord) {
  LeaderElectionConfig config = Config("b");
  TimePoint t0 = TimePoint{} + seconds(100);
  // First sight: nothing is known about when it was written, so count from the answer.
  LeaseObservation seen =
      Observe({}, ParseLease(LeaseHeldBy("a", "r1")), t0, t0 + milliseconds(10), config);
  EXPECT_EQ(seen.unchanged_since, t0 + milliseconds(10));
  // Unchanged two seconds later: the clock keeps running from the first sight.
  seen = Observe(seen, ParseLease(LeaseHeldBy("a", "r1")), t0 + seconds(2),
                 t0 + seconds(2) + milliseconds(10), config);
  EXPECT_EQ(seen.unchanged_since, t0 + milliseconds(10));
  // Renewed: the write came after the read at t0+2s started.
  seen = Observe(seen, ParseLease(LeaseHeldBy("a", "r2")), t0 + seconds(4),
                 t0 + seconds(4) + milliseconds(10), config);
  EXPECT_EQ(seen.unchanged_since, t0 + seconds(2));
}

TEST(LeaderElection, ASlowReadNeverLetsTheCandidateCountFromTooEarly) {
  LeaderElectionConfig config = Config("b");  // 15 s lease, 10 s deadline: 5 s margin
  TimePoint t0 = TimePoint{} + seconds(100);
  LeaseObservation seen =
      Observe({}, ParseLease(LeaseHeldBy("a", "r1")), t0, t0 + milliseconds(10), config);
  // The next read started 1 s later but took 9 s to answer: the renewal may have been written as
  // late as t0+10s, so the candidate must not count from t0.
  seen =
      Observe(seen, ParseLease(LeaseHeldBy("a", "r2")), t0 + seconds(1), t0 + seconds(10), config);
  EXPECT_EQ(seen.unchanged_since, t0 + seconds(5));
  // The leader stops at the latest at t0+10s+10s; the candidate may take over at t0+5s+15s.
  EXPECT_GE(seen.unchanged_since + config.lease_duration, t0 + seconds(10) + config.renew_deadline);
}

// An in-memory Lease endpoint with resourceVersion preconditions, that can be made to fail.
class LeaseServer final : public HttpTransport {
 public:
  core::Result<HttpResponse> Send(const HttpRequest& request) override {
    if (failing.load()) {
      return core::Fail(core::ErrorCode::kUnavailable, "connection refused");
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++requests;
    if (request.method == "GET") {
      if (!lease_) {
        return Status(404, "NotFound");
      }
      return HttpResponse{.status = 200, .body = lease_->dump(), .retry_after = ""};
    }
    Json body = Json::parse(request.body);
    if (request.method == "POST") {
      if (lease_) {
        return Status(409, "AlreadyExists");
      }
    } else if (!lease_ ||
               body["metadata"]["resourceVersion"] != (*lease_)["metadata"]["resourceVersion"]) {
      return Status(409, "Conflict");
    }
    body["metadata"]["resourceVersion"] = std::to_string(++version_);
    lease_ = body;
    history.push_back(body["spec"].value("holderIdentity", ""));
    return HttpResponse{.status = 200, .body = body.dump(), .retry_after = ""};
  }
  core::Result<HttpResponse> Stream(const HttpRequest& request,
                                    const std::function<bool(std::string_view)>& /*on_line*/,
                                    std::stop_token /*stop*/) override {
    return Send(request);
  }
  std::optional<Json> lease() {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_;
  }

  std::atomic<bool> failing{false};
  int requests = 0;
  std::vector<std::string> history;  // holderIdentity after each write

 private:
  static HttpResponse Status(int code, const std::string& reason) {
    Json status = {{"kind", "Status"}, {"status", "Failure"}, {"reason", reason}, {"code", code}};
    return HttpResponse{.status = code, .body = status.dump(), .retry_after = ""};
  }
  std::mutex mu_;
  std::optional<Json> lease_;
  int version_ = 0;
};

// Short timings on the real clock: these tests watch threads hand over.
LeaderElectionConfig Fast(std::string identity) {
  LeaderElectionConfig config = Config(std::move(identity));
  config.lease_duration = seconds(2);
  config.renew_deadline = milliseconds(1200);
  config.retry_period = milliseconds(300);
  return config;
}

template <typename Predicate>
bool WaitFor(Predicate predicate, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return predicate();
}

TEST(LeaseElector, LeadsThenStopsTheWorkBeforeReleasingOnShutdown) {
  auto server = std::make_shared<LeaseServer>();
  core::RealClock clock;
  LeaseElector elector(Client(server), Fast("a"), clock);
  std::atomic<bool> working{false};
  std::atomic<bool> work_stopped_before_release{false};
  std::atomic<bool> stopped_called{false};
  std::optional<ElectionEnd> end;
  std::jthread run([&](const std::stop_token& stop) {
    end = elector.Run(stop, {.on_started_leading =
                                 [&](const std::stop_token& work) {
                                   working = true;
                                   while (!work.stop_requested()) {
                                     std::this_thread::sleep_for(milliseconds(5));
                                   }
                                   working = false;
                                   work_stopped_before_release =
                                       server->lease()->at("spec").at("holderIdentity") == "a";
                                 },
                             .on_stopped_leading = [&] { stopped_called = true; },
                             .on_new_leader = nullptr});
  });
  ASSERT_TRUE(WaitFor([&] { return working.load(); }, seconds(5)));
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_EQ(elector.Leader(), "a");
  // It keeps renewing.
  ASSERT_TRUE(WaitFor(
      [&] {
        return std::stoi(
                   server->lease()->at("metadata").at("resourceVersion").get<std::string>()) >= 3;
      },
      seconds(5)));
  run.request_stop();
  run.join();
  EXPECT_EQ(end, ElectionEnd::kStopped);
  EXPECT_FALSE(working.load());
  EXPECT_TRUE(work_stopped_before_release.load());
  EXPECT_TRUE(stopped_called.load());
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(server->lease()->at("spec").at("holderIdentity"), "") << "released";
}

TEST(LeaseElector, ALeaderThatCannotRenewStopsBeforeItsLeaseCanBeTaken) {
  auto server = std::make_shared<LeaseServer>();
  core::RealClock clock;
  LeaseElector elector(Client(server), Fast("a"), clock);
  std::atomic<bool> working{false};
  std::chrono::steady_clock::time_point stopped_at;
  std::jthread run([&](const std::stop_token& stop) {
    EXPECT_EQ(elector.Run(stop, {.on_started_leading =
                                     [&](const std::stop_token& work) {
                                       working = true;
                                       while (!work.stop_requested()) {
                                         std::this_thread::sleep_for(milliseconds(1));
                                       }
                                       stopped_at = std::chrono::steady_clock::now();
                                     },
                                 .on_stopped_leading = nullptr,
                                 .on_new_leader = nullptr}),
              ElectionEnd::kLost);
  });
  ASSERT_TRUE(WaitFor([&] { return working.load(); }, seconds(5)));
  auto cut = std::chrono::steady_clock::now();
  server->failing = true;
  run.join();
  // The last renewal started before the cut, so the work stopped within the renew deadline of it,
  // and well before a candidate could count the lease duration.
  EXPECT_LT(stopped_at - cut, Fast("a").renew_deadline + milliseconds(100));
  EXPECT_LT(stopped_at - cut, Fast("a").lease_duration);
}

TEST(LeaseElector, TwoCandidatesNeverLeadAtOnceAndHandOverOnRelease) {
  auto server = std::make_shared<LeaseServer>();
  core::RealClock clock;
  std::atomic<int> leaders{0};
  std::atomic<int> most{0};
  auto callbacks = [&](std::atomic<bool>& flag) {
    return LeaderCallbacks{.on_started_leading =
                               [&](const std::stop_token& work) {
                                 int now = ++leaders;
                                 most = std::max(most.load(), now);
                                 flag = true;
                                 while (!work.stop_requested()) {
                                   std::this_thread::sleep_for(milliseconds(1));
                                 }
                                 --leaders;
                                 flag = false;
                               },
                           .on_stopped_leading = nullptr,
                           .on_new_leader = nullptr};
  };
  std::atomic<bool> a_leads{false};
  std::atomic<bool> b_leads{false};
  LeaseElector a(Client(server), Fast("a"), clock);
  LeaseElector b(Client(server), Fast("b"), clock);
  LeaderCallbacks a_callbacks = callbacks(a_leads);
  LeaderCallbacks b_callbacks = callbacks(b_leads);
  std::jthread run_a([&](const std::stop_token& stop) { a.Run(stop, a_callbacks); });
  ASSERT_TRUE(WaitFor([&] { return a_leads.load(); }, seconds(5)));
  std::jthread run_b([&](const std::stop_token& stop) { b.Run(stop, b_callbacks); });
  ASSERT_TRUE(WaitFor([&] { return b.Leader() == "a"; }, seconds(5)));
  std::this_thread::sleep_for(Fast("a").lease_duration);  // b must keep waiting while a renews
  EXPECT_FALSE(b_leads.load());
  auto released = std::chrono::steady_clock::now();
  run_a.request_stop();
  run_a.join();
  ASSERT_TRUE(WaitFor([&] { return b_leads.load(); }, seconds(5)));
  // Within one retry period (with jitter) of the release, plus scheduling.
  EXPECT_LT(std::chrono::steady_clock::now() - released, milliseconds(360 + 200));
  run_b.request_stop();
  run_b.join();
  EXPECT_EQ(most.load(), 1);
}

}  // namespace
}  // namespace botsec::kube
