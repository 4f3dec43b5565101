// The Events recorder on the real control plane: a hot loop leaves one Event with a count, not a
// flood; a restarted recorder counts on; many similar messages fold into one Event.
#include "botsec/kube/events.h"

#include <string>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

class EventsIntegrationTest : public testing::KubeTest {
 protected:
  EventsIntegrationTest() : KubeTest("it-events") {}

  Json ConfigMap(const std::string& name) {
    auto made = client_->Create(
        resources::ConfigMaps(), ns_,
        {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}});
    EXPECT_TRUE(made) << made.error().message;
    return made ? *made : Json();
  }

  Json EventsAbout(const std::string& name) {
    ListOptions about;
    about.field_selector = "involvedObject.name=" + name;
    auto events = client_->ListAll(resources::Events(), ns_, about);
    EXPECT_TRUE(events) << events.error().message;
    return events ? (*events)["items"] : Json::array();
  }

  EventCorrelatorOptions Options() {
    return {.component = "botsec-operator", .instance = "it-" + ns_};
  }

  core::RealClock clock_;
};

TEST_F(EventsIntegrationTest, AHotLoopLeavesOneEventWithACount) {
  Json cm = ConfigMap("hot");
  {
    EventRecorder recorder(*client_, Options(), clock_);
    for (int i = 0; i < 1000; ++i) {
      recorder.Record(cm, EventKind::kWarning, "ReconcileFailed", "quota is exceeded");
    }
    recorder.Flush();
    EXPECT_EQ(recorder.written(), 25U);
    EXPECT_EQ(recorder.dropped(), 975U);
  }
  Json events = EventsAbout("hot");
  ASSERT_EQ(events.size(), 1U) << events.dump(2);
  const Json event = events[0];
  EXPECT_EQ(event["count"], 25);
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["reason"], "ReconcileFailed");
  EXPECT_EQ(event["involvedObject"]["uid"], cm["metadata"]["uid"]);
  EXPECT_EQ(event["source"]["component"], "botsec-operator");

  // A new recorder (a restarted operator) finds the same Event and counts on.
  EventRecorder restarted(*client_, Options(), clock_);
  restarted.Record(cm, EventKind::kWarning, "ReconcileFailed", "quota is exceeded");
  restarted.Flush();
  EXPECT_EQ(restarted.written(), 1U);
  events = EventsAbout("hot");
  ASSERT_EQ(events.size(), 1U) << events.dump(2);
  EXPECT_EQ(events[0]["count"], 26);
  EXPECT_EQ(events[0]["firstTimestamp"], event["firstTimestamp"]);
}

TEST_F(EventsIntegrationTest, SimilarMessagesFoldIntoOneCombinedEvent) {
  Json cm = ConfigMap("similar");
  EventRecorder recorder(*client_, Options(), clock_);
  for (int i = 1; i <= 15; ++i) {
    recorder.Record(cm, EventKind::kNormal, "Retrying", "attempt " + std::to_string(i));
  }
  recorder.Flush();
  EXPECT_EQ(recorder.written(), 15U);
  Json events = EventsAbout("similar");
  ASSERT_EQ(events.size(), 10U) << events.dump(2);
  int combined = 0;
  for (const Json& event : events) {
    if (event["message"] == "(combined from similar events): attempt 15") {
      ++combined;
      EXPECT_EQ(event["count"], 6);
    }
  }
  EXPECT_EQ(combined, 1);
}

}  // namespace
}  // namespace botsec::kube
