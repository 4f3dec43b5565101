#include "botsec/kube/events.h"

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::kube {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using TimePoint = core::Clock::TimePoint;

const Json kPod = {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"namespace", "bots"}, {"name", "chat"}, {"uid", "u-1"}}}};

EventRecord Record(const std::string& reason, const std::string& message,
                   EventKind kind = EventKind::kNormal, const Json& object = kPod) {
  return {
      .object = ObjectReference::Of(object), .kind = kind, .reason = reason, .message = message};
}

class EventCorrelatorTest : public ::testing::Test {
 protected:
  EventDecision At(const EventRecord& record, TimePoint::duration offset) {
    return correlator_.Correlate(
        record, TimePoint{} + offset,
        std::chrono::system_clock::time_point{} + offset + std::chrono::hours(24 * 365 * 56));
  }
  EventCorrelator correlator_{{.component = "botsec-operator", .instance = "op-0"}};
};

TEST_F(EventCorrelatorTest, FirstEventIsCreatedWithEverythingTheApiNeeds) {
  EventDecision d = At(Record("Reconciled", "sandbox is ready"), seconds(0));
  ASSERT_EQ(d.action, EventAction::kCreate);
  EXPECT_EQ(d.ns, "bots");
  EXPECT_EQ(d.event["metadata"]["namespace"], "bots");
  EXPECT_EQ(d.event["metadata"]["name"], d.name);
  EXPECT_EQ(d.name.rfind("chat.", 0), 0U) << d.name;
  EXPECT_EQ(d.name.size(), std::string("chat.").size() + 16);
  EXPECT_EQ(d.event["involvedObject"], Json({{"apiVersion", "v1"},
                                             {"kind", "Pod"},
                                             {"namespace", "bots"},
                                             {"name", "chat"},
                                             {"uid", "u-1"}}));
  EXPECT_EQ(d.event["type"], "Normal");
  EXPECT_EQ(d.event["reason"], "Reconciled");
  EXPECT_EQ(d.event["count"], 1);
  EXPECT_EQ(d.event["source"]["component"], "botsec-operator");
  EXPECT_EQ(d.event["reportingInstance"], "op-0");
  EXPECT_EQ(d.event["firstTimestamp"], d.event["lastTimestamp"]);
  std::string stamp = d.event["firstTimestamp"];
  EXPECT_EQ(stamp.size(), std::string("2026-01-01T00:00:00Z").size()) << stamp;
}

TEST_F(EventCorrelatorTest, RepeatsUpdateOneEventsCount) {
  EventDecision first = At(Record("Failed", "image pull failed"), seconds(0));
  EventDecision second = At(Record("Failed", "image pull failed"), seconds(1));
  EventDecision third = At(Record("Failed", "image pull failed"), seconds(2));
  EXPECT_EQ(second.action, EventAction::kUpdate);
  EXPECT_EQ(third.name, first.name);
  EXPECT_EQ(third.patch["count"], 3);
  EXPECT_EQ(third.event["count"], 3);
  EXPECT_EQ(third.event["firstTimestamp"], first.event["firstTimestamp"]);
  EXPECT_NE(third.patch["lastTimestamp"], first.event["lastTimestamp"]);
}

TEST_F(EventCorrelatorTest, DifferentTypeReasonMessageOrObjectAreDifferentEvents) {
  std::set<std::string> names;
  names.insert(At(Record("Failed", "a"), seconds(0)).name);
  names.insert(At(Record("Failed", "a", EventKind::kWarning), seconds(0)).name);
  names.insert(At(Record("Other", "a"), seconds(0)).name);
  names.insert(At(Record("Failed", "b"), seconds(0)).name);
  Json other = kPod;
  other["metadata"]["name"] = "scraper";
  names.insert(At(Record("Failed", "a", EventKind::kNormal, other), seconds(0)).name);
  EXPECT_EQ(names.size(), 5U);
}

TEST_F(EventCorrelatorTest, NamesAreStableAcrossCorrelators) {
  EventCorrelator again({.component = "botsec-operator", .instance = "op-1"});
  EXPECT_EQ(
      At(Record("Failed", "a"), seconds(0)).name,
      again.Correlate(Record("Failed", "a"), TimePoint{}, std::chrono::system_clock::now()).name);
}

TEST_F(EventCorrelatorTest, ManySimilarMessagesFoldIntoOneCombinedEvent) {
  std::set<std::string> names;
  std::vector<EventDecision> decisions;
  for (int i = 1; i <= 15; ++i) {
    decisions.push_back(At(Record("Retrying", "attempt " + std::to_string(i)), seconds(i)));
    names.insert(decisions.back().name);
  }
  const EventDecision& last = decisions.back();
  EXPECT_EQ(names.size(), 10U) << "nine single events and one combined";
  EXPECT_EQ(last.action, EventAction::kUpdate);
  EXPECT_EQ(last.event["message"], "(combined from similar events): attempt 15");
  EXPECT_EQ(last.event["count"], 6);
  // After the window the similar messages are forgotten.
  EventDecision later = At(Record("Retrying", "attempt 16"), minutes(11) + seconds(16));
  EXPECT_EQ(later.event["message"], "attempt 16");
}

TEST_F(EventCorrelatorTest, AnObjectHasABudgetThatRefillsSlowly) {
  int written = 0;
  for (int i = 0; i < 100; ++i) {
    if (At(Record("HotLoop", "same"), seconds(0)).action != EventAction::kDrop) {
      ++written;
    }
  }
  EXPECT_EQ(written, 25);
  EXPECT_EQ(At(Record("HotLoop", "same"), minutes(4)).action, EventAction::kDrop);
  EventDecision refilled = At(Record("HotLoop", "same"), minutes(5) + seconds(1));
  EXPECT_EQ(refilled.action, EventAction::kUpdate);
  EXPECT_EQ(refilled.event["count"], 26);
  // Another object has its own budget.
  Json other = kPod;
  other["metadata"]["name"] = "scraper";
  EXPECT_EQ(At(Record("HotLoop", "same", EventKind::kNormal, other), minutes(4)).action,
            EventAction::kCreate);
}

TEST_F(EventCorrelatorTest, AdoptsTheServersCountAfterARestart) {
  EventDecision first = At(Record("Failed", "a"), seconds(0));
  correlator_.Adopt(first.name, 41, "2025-01-01T00:00:00Z");
  EventDecision next = At(Record("Failed", "a"), seconds(1));
  EXPECT_EQ(next.event["count"], 42);
  EXPECT_EQ(next.event["firstTimestamp"], "2025-01-01T00:00:00Z");
}

TEST(ObjectReference, ClusterScopedObjectsHaveNoNamespaceAndEventsGoToDefault) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bots"}}}};
  EXPECT_FALSE(ObjectReference::Of(ns).ToJson().contains("namespace"));
  EventCorrelator correlator({.component = "c"});
  EXPECT_EQ(correlator
                .Correlate({.object = ObjectReference::Of(ns), .reason = "R", .message = "m"},
                           TimePoint{}, std::chrono::system_clock::now())
                .ns,
            "default");
}

}  // namespace
}  // namespace botsec::kube
