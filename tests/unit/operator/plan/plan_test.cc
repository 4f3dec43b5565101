#include "botsec/operator/plan.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/time.h"

namespace botsec::operator_plan {
namespace {

using std::chrono::seconds;

const std::string kCreated = "2026-12-04T10:00:00Z";

std::chrono::system_clock::time_point At(int seconds_after_creation) {
  return *core::ParseRfc3339(kCreated) + seconds(seconds_after_creation);
}

Json SandboxJson(const Json& spec) {
  return {{"apiVersion", "botsec.io/v1alpha1"},
          {"kind", "BotSandbox"},
          {"metadata",
           {{"name", "chat"},
            {"namespace", "team-a"},
            {"uid", "uid-1"},
            {"generation", 1},
            {"creationTimestamp", kCreated},
            {"finalizers", {"botsec.io/cleanup"}}}},
          {"spec", spec}};
}

Observed Fresh(const Json& spec, int now = 10) {
  auto sandbox = api::ParseBotSandbox(SandboxJson(spec));
  EXPECT_TRUE(sandbox) << sandbox.error().message;
  Observed observed;
  observed.sandbox = *sandbox;
  observed.now = At(now);
  return observed;
}

// What the API server would hold after the plan ran: each applied object with a uid and a field
// the server defaults, removals gone, the status written.
void Carry(Observed& observed, const ReconcilePlan& plan) {
  static int next_uid = 0;
  for (Json object : plan.apply) {
    object["metadata"]["uid"] = "child-" + std::to_string(++next_uid);
    object["metadata"]["resourceVersion"] = "1";
    if (object["kind"] == "Namespace") {
      object["metadata"]["labels"]["kubernetes.io/metadata.name"] = object["metadata"]["name"];
      observed.namespace_ = object;
    } else {
      if (object["kind"] == "Pod") {
        object["spec"]["dnsPolicy"] = "ClusterFirst";  // a server default
      }
      observed.children[ChildKey(object)] = object;
    }
  }
  for (const Removal& removal : plan.remove) {
    if (removal.kind == "Namespace") {
      observed.namespace_->at("metadata")["deletionTimestamp"] = kCreated;
    } else {
      observed.children.erase(removal.kind + "/" + removal.name);
    }
  }
  if (plan.status) {
    observed.sandbox.status = *plan.status;
  }
  if (plan.add_finalizer) {
    observed.sandbox.metadata.finalizers.emplace_back(api::kFinalizer);
  }
}

// The Pod as KWOK reports it once running.
void RunPod(Observed& observed, const std::string& phase = "Running", bool ready = true,
            int exit_code = 0) {
  Json& pod = observed.children.at("Pod/bot");
  pod["status"] = {{"phase", phase},
                   {"podIP", "10.244.0.7"},
                   {"startTime", "2026-12-04T10:00:05Z"},
                   {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
  Json state =
      phase == "Running"
          ? Json{{"running", {{"startedAt", "2026-12-04T10:00:05Z"}}}}
          : Json{{"terminated",
                  {{"exitCode", exit_code}, {"reason", exit_code == 0 ? "Completed" : "Error"}}}};
  pod["status"]["containerStatuses"] = {
      {{"name", "bot"}, {"ready", ready}, {"restartCount", 0}, {"state", state}}};
}

std::vector<std::string> Keys(const std::vector<Json>& objects) {
  std::vector<std::string> keys;
  keys.reserve(objects.size());
  for (const Json& object : objects) {
    keys.push_back(ChildKey(object));
  }
  return keys;
}

const api::Condition& ConditionOf(const ReconcilePlan& plan, std::string_view type) {
  static const api::Condition kMissing{.type = "missing"};
  if (!plan.status) {
    return kMissing;
  }
  const api::Condition* condition = api::FindCondition(plan.status->conditions, type);
  return condition != nullptr ? *condition : kMissing;
}

bool HasEvent(const ReconcilePlan& plan, const std::string& reason) {
  return std::ranges::any_of(plan.events, [&](const EventNote& e) { return e.reason == reason; });
}

// Plans and carries out until a plan writes nothing, at most `rounds` times.
Observed Converge(Observed observed, const api::SandboxSettings& settings = {}, int rounds = 5) {
  for (int i = 0; i < rounds; ++i) {
    ReconcilePlan plan = Plan(observed, settings);
    if (plan.apply.empty() && plan.remove.empty() && !plan.status && !plan.add_finalizer) {
      break;
    }
    Carry(observed, plan);
  }
  return observed;
}

TEST(CoversTest, ComparesOnlyWhatIsDesired) {
  Json observed = {{"a", 1}, {"b", {{"c", 2}, {"d", 3}}}, {"l", {{{"x", 1}, {"y", 2}}}}};
  EXPECT_TRUE(Covers(observed, Json{{"b", {{"c", 2}}}}));
  EXPECT_TRUE(Covers(observed, Json{{"l", {{{"x", 1}}}}}));
  EXPECT_FALSE(Covers(observed, Json{{"b", {{"c", 3}}}}));
  EXPECT_FALSE(Covers(observed, Json{{"e", 1}}));
  EXPECT_FALSE(Covers(observed, Json{{"l", Json::array()}}));
  EXPECT_FALSE(Covers(observed, Json{{"a", "1"}}));
}

TEST(PlanTest, AFreshSandboxGetsItsFencesBeforeItsPod) {
  Observed observed = Fresh({{"image", "ghcr.io/acme/bot:1"}});
  observed.sandbox.metadata.finalizers.clear();
  ReconcilePlan plan = Plan(observed, {});
  EXPECT_TRUE(plan.add_finalizer);
  EXPECT_EQ(Keys(plan.apply), (std::vector<std::string>{"Namespace/" + plan.status->namespace_,
                                                        "ServiceAccount/bot", "ResourceQuota/bot",
                                                        "LimitRange/bot", "NetworkPolicy/allow-dns",
                                                        "NetworkPolicy/default-deny", "Pod/bot"}));
  EXPECT_TRUE(plan.remove.empty());
  ASSERT_TRUE(plan.status);
  EXPECT_EQ(plan.status->phase, api::Phase::kPending);
  EXPECT_EQ(plan.status->namespace_, api::SandboxNamespaceName("bsb-", "team-a", "chat"));
  EXPECT_EQ(plan.status->observed_generation, 1);
  EXPECT_EQ(ConditionOf(plan, kIsolated).status, "False");
  EXPECT_EQ(ConditionOf(plan, kDegraded).status, "False");
  EXPECT_TRUE(HasEvent(plan, "Creating"));
  EXPECT_TRUE(HasEvent(plan, "PodCreated"));
}

TEST(PlanTest, AConvergedSandboxPlansNoWriteAtAll) {
  Observed observed =
      Fresh({{"image", "ghcr.io/acme/bot:1"}, {"ports", {{{"containerPort", 80}}}}});
  Carry(observed, Plan(observed, {}));
  RunPod(observed);
  ReconcilePlan running = Plan(observed, {});
  EXPECT_TRUE(running.apply.empty()) << Keys(running.apply).size();
  ASSERT_TRUE(running.status);
  EXPECT_EQ(running.status->phase, api::Phase::kRunning);
  EXPECT_EQ(running.status->pod_ip, "10.244.0.7");
  ASSERT_TRUE(running.status->bot);
  EXPECT_EQ(running.status->bot->state, "Running");
  EXPECT_EQ(ConditionOf(running, kReady).status, "True");
  EXPECT_EQ(ConditionOf(running, kIsolated).status, "True");
  Carry(observed, running);

  observed.now += std::chrono::minutes(10);  // a resync later
  ReconcilePlan resync = Plan(observed, {});
  EXPECT_TRUE(resync.apply.empty());
  EXPECT_TRUE(resync.remove.empty());
  EXPECT_FALSE(resync.status.has_value());
  EXPECT_FALSE(resync.add_finalizer);
  EXPECT_TRUE(resync.events.empty());
}

TEST(PlanTest, DriftIsRepairedWithAnEvent) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  RunPod(observed);
  observed = Converge(observed);
  observed.children.erase("NetworkPolicy/default-deny");
  observed.children["ResourceQuota/bot"]["spec"]["hard"]["pods"] = "100";
  ReconcilePlan plan = Plan(observed, {});
  EXPECT_EQ(Keys(plan.apply),
            (std::vector<std::string>{"ResourceQuota/bot", "NetworkPolicy/default-deny"}));
  EXPECT_EQ(std::ranges::count_if(plan.events,
                                  [](const EventNote& e) { return e.reason == "DriftRepaired"; }),
            2);
  EXPECT_EQ(ConditionOf(plan, kIsolated).status, "False");
  EXPECT_EQ(ConditionOf(plan, kReady).status, "False");
}

TEST(PlanTest, ForeignNetworkPoliciesArePruned) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  observed.children["NetworkPolicy/allow-all"] = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata",
       {{"name", "allow-all"}, {"namespace", observed.sandbox.status.namespace_}, {"uid", "f-1"}}},
      {"spec", {{"podSelector", Json::object()}, {"egress", {Json::object()}}}}};
  ReconcilePlan plan = Plan(observed, {});
  ASSERT_EQ(plan.remove.size(), 1U);
  EXPECT_EQ(plan.remove[0], (Removal{.api_version = "networking.k8s.io/v1",
                                     .kind = "NetworkPolicy",
                                     .namespace_ = observed.sandbox.status.namespace_,
                                     .name = "allow-all",
                                     .uid = "f-1"}));
  EXPECT_TRUE(HasEvent(plan, "ForeignNetworkPolicyDeleted"));
  EXPECT_EQ(ConditionOf(plan, kIsolated).reason, "ForeignNetworkPolicy");
}

TEST(PlanTest, ANamespaceOfSomeoneElseIsLeftAlone) {
  Observed observed = Fresh({{"image", "a"}});
  std::string ns = api::SandboxNamespaceName("bsb-", "team-a", "chat");
  observed.namespace_ = Json{{"apiVersion", "v1"},
                             {"kind", "Namespace"},
                             {"metadata",
                              {{"name", ns},
                               {"uid", "ns-1"},
                               {"annotations", {{"botsec.io/owner-uid", "someone-else"}}}}}};
  ReconcilePlan plan = Plan(observed, {});
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_EQ(ConditionOf(plan, kDegraded).reason, "NamespaceConflict");
  EXPECT_EQ(ConditionOf(plan, kDegraded).status, "True");
  // Deleting the BotSandbox then does not delete that namespace either.
  observed.sandbox.metadata.deletion_timestamp = kCreated;
  ReconcilePlan deleting = Plan(observed, {});
  EXPECT_TRUE(deleting.remove.empty());
  EXPECT_TRUE(deleting.remove_finalizer);
}

TEST(PlanTest, ASpecChangeReplacesThePod) {
  Observed observed = Converge(Fresh({{"image", "ghcr.io/acme/bot:1"}}));
  RunPod(observed);
  observed = Converge(observed);
  auto changed = api::ParseBotSandbox(SandboxJson({{"image", "ghcr.io/acme/bot:2"}}));
  ASSERT_TRUE(changed);
  changed->metadata.generation = 2;
  changed->status = observed.sandbox.status;
  observed.sandbox = *changed;
  ReconcilePlan plan = Plan(observed, {});
  ASSERT_EQ(plan.remove.size(), 1U);
  EXPECT_EQ(plan.remove[0].kind, "Pod");
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_TRUE(HasEvent(plan, "PodReplaced"));
  EXPECT_EQ(plan.status->phase, api::Phase::kPending);
  Carry(observed, plan);
  ReconcilePlan next = Plan(observed, {});
  ASSERT_EQ(Keys(next.apply), std::vector<std::string>{"Pod/bot"});
  EXPECT_EQ(next.apply[0]["spec"]["containers"][0]["image"], "ghcr.io/acme/bot:2");
}

TEST(PlanTest, SuspendRemovesThePodAndKeepsTheFences) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  observed.sandbox.spec.suspend = true;
  ReconcilePlan plan = Plan(observed, {});
  ASSERT_EQ(plan.remove.size(), 1U);
  EXPECT_EQ(plan.remove[0].kind, "Pod");
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_EQ(plan.status->phase, api::Phase::kSuspended);
  Carry(observed, plan);
  EXPECT_TRUE(Plan(observed, {}).apply.empty());
  observed.sandbox.spec.suspend = false;
  EXPECT_EQ(Keys(Plan(observed, {}).apply), std::vector<std::string>{"Pod/bot"});
}

TEST(PlanTest, TheTtlDeletesOrRetainsAsAsked) {
  Observed keep =
      Converge(Fresh({{"image", "a"}, {"lifetime", {{"ttl", "1h"}, {"onExpiry", "Retain"}}}}));
  ReconcilePlan early = Plan(keep, {});
  EXPECT_EQ(keep.sandbox.status.expires_at, "2026-12-04T11:00:00Z");
  ASSERT_TRUE(early.requeue_after);
  EXPECT_EQ(*early.requeue_after, seconds(3600 - 10));

  keep.now = At(3600);
  ReconcilePlan retained = Plan(keep, {});
  EXPECT_FALSE(retained.delete_sandbox);
  ASSERT_EQ(retained.remove.size(), 1U);
  EXPECT_EQ(retained.remove[0].kind, "Pod");
  EXPECT_EQ(retained.status->phase, api::Phase::kExpired);
  Carry(keep, retained);
  ReconcilePlan after = Plan(keep, {});
  EXPECT_TRUE(after.apply.empty());
  EXPECT_TRUE(after.remove.empty());

  Observed drop = Converge(Fresh({{"image", "a"}, {"lifetime", {{"ttl", "1h"}}}}));
  drop.now = At(3601);
  ReconcilePlan deleted = Plan(drop, {});
  EXPECT_TRUE(deleted.delete_sandbox);
  EXPECT_TRUE(HasEvent(deleted, "Expired"));
  // Suspension does not stop the clock.
  drop.sandbox.spec.suspend = true;
  EXPECT_TRUE(Plan(drop, {}).delete_sandbox);
}

TEST(PlanTest, ACompletedPodIsNotRecreated) {
  Observed observed = Converge(Fresh({{"image", "a"}, {"restartPolicy", "Never"}}));
  RunPod(observed, "Succeeded", false, 0);
  ReconcilePlan done = Plan(observed, {});
  EXPECT_EQ(done.status->phase, api::Phase::kSucceeded);
  EXPECT_EQ(done.status->bot->exit_code, 0);
  EXPECT_EQ(ConditionOf(done, kReady).reason, "Completed");
  Carry(observed, done);
  observed.children.erase("Pod/bot");  // garbage-collected, or deleted by hand
  ReconcilePlan later = Plan(observed, {});
  EXPECT_TRUE(later.apply.empty());
  EXPECT_FALSE(later.status.has_value());

  Observed failed = Converge(Fresh({{"image", "a"}, {"restartPolicy", "OnFailure"}}));
  RunPod(failed, "Failed", false, 3);
  ReconcilePlan failing = Plan(failed, {});
  EXPECT_EQ(failing.status->phase, api::Phase::kFailed);
  EXPECT_EQ(failing.status->bot->exit_code, 3);
}

// The cache may not yet show the status this operator last wrote: a finished Pod being deleted
// is still proof enough that the bot ran to its end.
TEST(PlanTest, AFinishedPodIsTrustedOverAStaleStatus) {
  Observed observed = Converge(Fresh({{"image", "a"}, {"restartPolicy", "Never"}}));
  RunPod(observed);
  observed = Converge(observed);
  ASSERT_EQ(observed.sandbox.status.phase, api::Phase::kRunning);
  RunPod(observed, "Succeeded", false, 0);
  observed.children.at("Pod/bot")["metadata"]["deletionTimestamp"] = kCreated;
  ReconcilePlan plan = Plan(observed, {});  // the status still says Running
  EXPECT_TRUE(plan.apply.empty());
  ASSERT_TRUE(plan.status);
  EXPECT_EQ(plan.status->phase, api::Phase::kSucceeded);
  Carry(observed, plan);
  observed.children.erase("Pod/bot");
  EXPECT_TRUE(Plan(observed, {}).apply.empty());

  // A new spec runs the bot again.
  observed.sandbox.spec.image = "b";
  observed.sandbox.metadata.generation = 2;
  ReconcilePlan rerun = Plan(observed, {});
  EXPECT_EQ(Keys(rerun.apply), std::vector<std::string>{"Pod/bot"});
}

TEST(PlanTest, ConditionsInTheServersOrderAreNoChange) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  RunPod(observed);
  observed = Converge(observed);
  std::ranges::reverse(observed.sandbox.status.conditions);
  EXPECT_FALSE(Plan(observed, {}).status.has_value());
  observed.sandbox.metadata.deletion_timestamp = kCreated;
  Carry(observed, Plan(observed, {}));
  std::ranges::reverse(observed.sandbox.status.conditions);
  EXPECT_FALSE(Plan(observed, {}).status.has_value()) << "a deleting sandbox's status flaps";
}

TEST(PlanTest, OnlyLabelledSecretsAreMirroredAndThePodWaitsForTheRest) {
  Observed observed =
      Fresh({{"image", "a"}, {"secrets", {{{"name", "shared"}}, {{"name", "private"}}}}});
  observed.source_secrets["shared"] = {
      {"metadata", {{"name", "shared"}, {"labels", {{"botsec.io/sandbox-access", "true"}}}}},
      {"type", "Opaque"},
      {"data", {{"k", "dg=="}}}};
  observed.source_secrets["private"] = {{"metadata", {{"name", "private"}}},
                                        {"data", {{"k", "dg=="}}}};
  ReconcilePlan plan = Plan(observed, {});
  std::vector<std::string> keys = Keys(plan.apply);
  EXPECT_NE(std::ranges::find(keys, "Secret/shared"), keys.end());
  EXPECT_EQ(std::ranges::find(keys, "Secret/private"), keys.end());
  EXPECT_EQ(std::ranges::find(keys, "Pod/bot"), keys.end());
  EXPECT_EQ(ConditionOf(plan, kDegraded).reason, "SecretNotShared");
  EXPECT_NE(ConditionOf(plan, kDegraded).message.find("team-a/private is not labelled"),
            std::string::npos);
  EXPECT_TRUE(HasEvent(plan, "SecretNotShared"));
  // Labelled, it is mirrored and the Pod follows.
  Carry(observed, plan);
  observed.source_secrets["private"]["metadata"]["labels"]["botsec.io/sandbox-access"] = "true";
  std::vector<std::string> next = Keys(Plan(observed, {}).apply);
  EXPECT_EQ(next, (std::vector<std::string>{"Secret/private", "Pod/bot"}));
}

TEST(PlanTest, ASandboxBeyondTheBoundsIsDegradedAndGetsNothing) {
  api::SandboxSettings settings;
  settings.policy.sandboxes.runtime_classes = {"gvisor"};
  ReconcilePlan plan = Plan(Fresh({{"image", "a"}}), settings);
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_EQ(ConditionOf(plan, kDegraded).reason, "OutOfBounds");
  EXPECT_NE(ConditionOf(plan, kDegraded).message.find("spec.isolation.runtimeClassName"),
            std::string::npos);
}

TEST(PlanTest, APodTheWebhookWouldRefuseIsNeverCreated) {
  api::SandboxSettings settings;
  settings.policy.checks.registries = {"ghcr.io/acme/"};
  ReconcilePlan plan = Plan(Fresh({{"image", "docker.io/evil/bot:1"}}), settings);
  EXPECT_EQ(Keys(plan.apply).back(), "NetworkPolicy/default-deny");
  EXPECT_EQ(ConditionOf(plan, kDegraded).reason, "PolicyViolation");
  EXPECT_NE(ConditionOf(plan, kDegraded).message.find("spec.containers[0].image"),
            std::string::npos)
      << ConditionOf(plan, kDegraded).message;
}

TEST(PlanTest, DeletionTakesTheNamespaceThenTheFinalizer) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  observed.sandbox.metadata.deletion_timestamp = "2026-12-04T10:05:00Z";
  ReconcilePlan first = Plan(observed, {});
  ASSERT_EQ(first.remove.size(), 1U);
  EXPECT_EQ(first.remove[0].kind, "Namespace");
  EXPECT_FALSE(first.remove_finalizer);
  EXPECT_EQ(first.status->phase, api::Phase::kTerminating);
  Carry(observed, first);
  // Still terminating: wait, and say why when the namespace reports trouble.
  (*observed.namespace_)["status"]["conditions"] = {{{"type", "NamespaceDeletionContentFailure"},
                                                     {"status", "True"},
                                                     {"message", "cannot delete pods"}}};
  ReconcilePlan waiting = Plan(observed, {});
  EXPECT_TRUE(waiting.remove.empty());
  EXPECT_FALSE(waiting.remove_finalizer);
  EXPECT_EQ(ConditionOf(waiting, kDegraded).reason, "NamespaceStuck");
  EXPECT_NE(ConditionOf(waiting, kDegraded).message.find("cannot delete pods"), std::string::npos);
  // Content still being removed is a deletion in progress, not trouble.
  Carry(observed, waiting);
  (*observed.namespace_)["status"]["conditions"] = {
      {{"type", "NamespaceContentRemaining"}, {"status", "True"}, {"message", "pods remain"}}};
  EXPECT_EQ(ConditionOf(Plan(observed, {}), kDegraded).status, "False");
  observed.namespace_.reset();
  ReconcilePlan gone = Plan(observed, {});
  EXPECT_TRUE(gone.remove_finalizer);
}

TEST(PlanTest, ConditionsKeepTheirTransitionTimeUntilTheyChange) {
  Observed observed = Converge(Fresh({{"image", "a"}}));
  RunPod(observed);
  observed = Converge(observed);
  std::string ready_since =
      api::FindCondition(observed.sandbox.status.conditions, kReady)->last_transition_time;
  EXPECT_EQ(ready_since, core::FormatRfc3339(At(10)));
  observed.now = At(500);
  RunPod(observed, "Running", false);
  ReconcilePlan plan = Plan(observed, {});
  EXPECT_EQ(ConditionOf(plan, kReady).status, "False");
  EXPECT_EQ(ConditionOf(plan, kReady).last_transition_time, core::FormatRfc3339(At(500)));
  EXPECT_EQ(ConditionOf(plan, kIsolated).last_transition_time, ready_since);
}

}  // namespace
}  // namespace botsec::operator_plan
