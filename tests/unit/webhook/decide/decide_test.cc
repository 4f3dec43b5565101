#include "botsec/webhook/decide.h"

#include <string>

#include <gtest/gtest.h>

#include "botsec/webhook/review.h"

namespace botsec::webhook {
namespace {

// A bot pod that passes the default `bot` policy.
Json HardenedPod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "bot", "namespace": "bsb-a"},
    "spec": {
      "automountServiceAccountToken": false,
      "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                          "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [{
        "name": "bot", "image": "python:3.13",
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}}}]}})");
}

AdmissionRequest PodRequest(std::string operation, Json object, Json old = nullptr,
                            std::string sub_resource = "") {
  AdmissionRequest request;
  request.uid = "uid-1";
  request.kind = {"", "v1", "Pod"};
  request.resource = {"", "v1", "pods"};
  request.sub_resource = std::move(sub_resource);
  request.name = "bot";
  request.namespace_ = "bsb-a";
  request.operation = std::move(operation);
  request.user.username = "alice";
  request.object = std::move(object);
  request.old_object = std::move(old);
  return request;
}

// `request` as the API server sends it.
std::string ReviewText(const AdmissionRequest& request) {
  auto gvk = [](const auto& group, const auto& version, const auto& last) {
    return Json{{"group", group}, {"version", version}, {"kind", last}};
  };
  Json resource = {{"group", request.resource.group},
                   {"version", request.resource.version},
                   {"resource", request.resource.resource}};
  Json user = {{"username", request.user.username},
               {"uid", request.user.uid},
               {"groups", request.user.groups},
               {"extra", request.user.extra}};
  Json in = {{"uid", request.uid},
             {"kind", gvk(request.kind.group, request.kind.version, request.kind.kind)},
             {"resource", resource},
             {"subResource", request.sub_resource},
             {"name", request.name},
             {"namespace", request.namespace_},
             {"operation", request.operation},
             {"userInfo", user},
             {"object", request.object.json()},
             {"oldObject", request.old_object.json()},
             {"dryRun", request.dry_run}};
  return Json{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", in}}
      .dump();
}

class DecideTest : public ::testing::Test {
 protected:
  DecideTest() { settings_.operator_username = "botsec-operator"; }
  // Decides `request` as built (its objects trees) and again as the webhook reads it off the wire
  // (its objects left in simdjson's DOM, docs/adr/0006): the two decisions must be the same.
  Decision Run(const AdmissionRequest& request, RequestFacts facts = {}) const {
    Decision decision = Decide(request, settings_, facts);
    auto decoded = DecodeReview(ReviewText(request));
    EXPECT_TRUE(decoded) << decoded.error().message;
    if (decoded) {
      EXPECT_EQ(decoded->object.element() != nullptr, request.object.is_object());
      Decision wired = Decide(*decoded, settings_, facts);
      EXPECT_EQ(wired.concern, decision.concern);
      EXPECT_EQ(wired.violations, decision.violations);
      EXPECT_EQ(wired.verdict.allowed, decision.verdict.allowed);
      EXPECT_EQ(wired.verdict.code, decision.verdict.code);
      EXPECT_EQ(wired.verdict.message, decision.verdict.message);
      EXPECT_EQ(wired.verdict.warnings, decision.verdict.warnings);
      EXPECT_EQ(wired.secrets_to_authorize, decision.secrets_to_authorize);
    }
    return decision;
  }
  WebhookSettings settings_;
};

TEST_F(DecideTest, AdmitsAHardenedPod) {
  Decision decision = Run(PodRequest("CREATE", HardenedPod()));
  EXPECT_TRUE(decision.verdict.allowed) << decision.verdict.message;
  EXPECT_EQ(decision.concern, "pod");
}

TEST_F(DecideTest, RefusesAPodListingEveryViolationOnALineOfItsOwn) {
  Json pod = HardenedPod();
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true;
  Decision decision = Run(PodRequest("CREATE", pod));
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_EQ(decision.verdict.code, 403);
  EXPECT_EQ(decision.verdict.message,
            "Pod \"bot\" violates BotSec policy \"bot\" (2 violations):\n"
            "spec.hostNetwork: Forbidden: must not be true\n"
            "spec.containers[0].securityContext.allowPrivilegeEscalation: Forbidden: must be "
            "false");
}

TEST_F(DecideTest, WarnModeAdmitsWithTheSameLinesAsWarnings) {
  settings_.warn_only = true;
  Json pod = HardenedPod();
  pod["spec"]["hostPID"] = true;
  Decision decision = Run(PodRequest("CREATE", pod));
  EXPECT_TRUE(decision.verdict.allowed);
  EXPECT_EQ(
      decision.verdict.warnings,
      std::vector<std::string>{"botsec (warn mode): spec.hostPID: Forbidden: must not be true"});
}

TEST_F(DecideTest, JudgesAnEphemeralContainerAsKubectlDebugAddsIt) {
  Json pod = HardenedPod();
  pod["spec"]["ephemeralContainers"] = Json::parse(
      R"([{"name": "debugger", "image": "busybox", "targetContainerName": "bot",
           "securityContext": {"privileged": true}}])");
  Decision decision = Run(PodRequest("UPDATE", pod, HardenedPod(), "ephemeralcontainers"));
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_NE(decision.verdict.message.find("spec.ephemeralContainers[0].securityContext.privileged"),
            std::string::npos)
      << decision.verdict.message;
}

TEST_F(DecideTest, RefusesAResizeAboveThePolicyMaxima) {
  settings_.sandbox.policy.checks.max_limits["memory"] = *policy::Quantity::Parse("1Gi");
  Json pod = HardenedPod();
  pod["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi";
  Decision decision = Run(PodRequest("UPDATE", pod, HardenedPod(), "resize"));
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_NE(decision.verdict.message.find("spec.containers[0].resources.limits.memory"),
            std::string::npos)
      << decision.verdict.message;
}

TEST_F(DecideTest, LetsTheKubeletAndSchedulerWriteButRefusesAnUnknownSubresource) {
  Json pod = HardenedPod();
  pod["spec"]["hostPID"] = true;
  EXPECT_TRUE(Run(PodRequest("UPDATE", pod, pod, "status")).verdict.allowed);
  EXPECT_TRUE(Run(PodRequest("CREATE", pod, nullptr, "binding")).verdict.allowed);
  Decision unknown = Run(PodRequest("UPDATE", HardenedPod(), HardenedPod(), "frobnicate"));
  ASSERT_FALSE(unknown.verdict.allowed);
  EXPECT_NE(unknown.verdict.message.find("pods/frobnicate: BotSec does not know this subresource"),
            std::string::npos);
}

TEST_F(DecideTest, AnUpdateThatOnlyDropsAFinalizerAlwaysPasses) {
  Json stuck = HardenedPod();
  stuck["spec"]["hostPID"] = true;  // admitted before the policy, say
  stuck["metadata"]["finalizers"] = {"example.com/hold"};
  stuck["metadata"]["deletionTimestamp"] = "2026-12-05T00:00:00Z";
  Json freed = stuck;
  freed["metadata"].erase("finalizers");
  EXPECT_TRUE(Run(PodRequest("UPDATE", freed, stuck)).verdict.allowed);
  // ... but an update that also changes anything else is judged in full, deletionTimestamp or not.
  Json relabelled = freed;
  relabelled["metadata"]["labels"] = {{"x", "y"}};
  EXPECT_FALSE(Run(PodRequest("UPDATE", relabelled, stuck)).verdict.allowed);
  // Adding a finalizer is no free pass either.
  Json held = stuck;
  held["metadata"]["finalizers"].push_back("example.com/more");
  EXPECT_FALSE(Run(PodRequest("UPDATE", held, stuck)).verdict.allowed);
}

TEST_F(DecideTest, RefusesAWorkloadByItsTemplate) {
  AdmissionRequest request = PodRequest("CREATE", Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}})"));
  request.kind = {"apps", "v1", "Deployment"};
  request.resource = {"apps", "v1", "deployments"};
  request.name = "web";
  Decision decision = Run(request);
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_EQ(decision.concern, "workload");
  EXPECT_TRUE(decision.verdict.message.starts_with("Deployment \"web\" violates BotSec policy"));
  EXPECT_NE(decision.verdict.message.find("\nspec.template.spec.containers[0]."),
            std::string::npos);
}

TEST_F(DecideTest, FencesAreTheOperatorsExceptWhileTheNamespaceTerminates) {
  AdmissionRequest request = PodRequest("CREATE", Json::parse(R"({
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "allow-all"}, "spec": {"podSelector": {}, "egress": [{}]}})"));
  request.kind = {"networking.k8s.io", "v1", "NetworkPolicy"};
  request.resource = {"networking.k8s.io", "v1", "networkpolicies"};
  request.name = "allow-all";
  Decision refused = Run(request);
  ASSERT_FALSE(refused.verdict.allowed);
  EXPECT_EQ(refused.verdict.message,
            "NetworkPolicy \"allow-all\" is refused by BotSec (1 violation):\n"
            "networkpolicies in sandbox namespace bsb-a are the sandbox's fences: only "
            "botsec-operator may create, change or delete them");
  request.user.username = "botsec-operator";
  EXPECT_TRUE(Run(request).verdict.allowed);
  request.user.username = "alice";
  request.operation = "DELETE";
  EXPECT_FALSE(Run(request).verdict.allowed);
  EXPECT_TRUE(Run(request, {.namespace_terminating = true}).verdict.allowed);
}

TEST_F(DecideTest, OnlyTheOperatorChangesASandboxNamespacesGuardedLabels) {
  Json old = Json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {
    "name": "bsb-a", "labels": {"botsec.io/sandbox": "a", "botsec.io/enforce": "true",
    "pod-security.kubernetes.io/enforce": "restricted", "team": "x"}}})");
  Json updated = old;
  updated["metadata"]["labels"].erase("botsec.io/enforce");
  updated["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged";
  updated["metadata"]["labels"]["team"] = "y";  // not guarded
  AdmissionRequest request = PodRequest("UPDATE", updated, old);
  request.kind = {"", "v1", "Namespace"};
  request.resource = {"", "v1", "namespaces"};
  request.name = "bsb-a";
  request.namespace_ = "";
  Decision decision = Run(request);
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_EQ(decision.violations.size(), 2U);
  EXPECT_NE(decision.verdict.message.find(
                "metadata.labels[botsec.io/enforce]: Forbidden: removed; only botsec-operator"),
            std::string::npos)
      << decision.verdict.message;
  EXPECT_NE(decision.verdict.message.find(
                "metadata.labels[pod-security.kubernetes.io/enforce]: Forbidden: changed"),
            std::string::npos);
  Json relabelled_only = old;  // a label BotSec does not guard: anyone with the rights may
  relabelled_only["metadata"]["labels"]["team"] = "y";
  request.object = relabelled_only;
  EXPECT_TRUE(Run(request).verdict.allowed);
}

AdmissionRequest SandboxRequest(Json spec) {
  AdmissionRequest request = PodRequest(
      "CREATE", Json{{"apiVersion", "botsec.io/v1alpha1"},
                     {"kind", "BotSandbox"},
                     {"metadata", {{"name", "chat"}, {"namespace", "team-a"}, {"uid", "1"}}},
                     {"spec", std::move(spec)}});
  request.kind = {"botsec.io", "v1alpha1", "BotSandbox"};
  request.resource = {"botsec.io", "v1alpha1", "botsandboxes"};
  request.name = "chat";
  request.namespace_ = "team-a";
  return request;
}

TEST_F(DecideTest, ABotSandboxIsJudgedByThePodItRendersAndItsSecretsAreListedForAccessChecks) {
  Decision decision = Run(SandboxRequest({{"image", "ghcr.io/acme/bot:1"},
                                          {"secrets", {{{"name", "openai"}}}},
                                          {"imagePullSecrets", {{{"name", "registry"}}}}}));
  EXPECT_TRUE(decision.verdict.allowed) << decision.verdict.message;
  EXPECT_EQ(decision.concern, "botsandbox");
  EXPECT_EQ(decision.secrets_to_authorize, (std::vector<std::string>{"openai", "registry"}));
  AdmissionRequest request = SandboxRequest({{"image", "ghcr.io/acme/bot:1"},
                                             {"secrets", {{{"name", "openai"}}}},
                                             {"imagePullSecrets", {{{"name", "registry"}}}}});
  DenyUnreadableSecrets(decision, {"openai", "registry"}, request, settings_);
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_NE(decision.verdict.message.find("\nspec.secrets[0].name: Forbidden: alice may not get "
                                          "Secret \"openai\" in namespace team-a"),
            std::string::npos)
      << decision.verdict.message;
  EXPECT_NE(decision.verdict.message.find("\nspec.imagePullSecrets[0].name: Forbidden: alice may "
                                          "not get Secret \"registry\""),
            std::string::npos)
      << decision.verdict.message;
}

TEST_F(DecideTest, ABotSandboxAskingMoreThanTheBoundsIsRefusedAtItsField) {
  settings_.sandbox.policy.sandboxes.max_resources["memory"] = *policy::Quantity::Parse("1Gi");
  Decision decision = Run(SandboxRequest(
      {{"image", "ghcr.io/acme/bot:1"},
       {"resources", {{"limits", {{"memory", "4Gi"}}}, {"requests", {{"memory", "1Gi"}}}}}}));
  ASSERT_FALSE(decision.verdict.allowed);
  EXPECT_NE(decision.verdict.message.find("spec.resources.limits.memory"), std::string::npos)
      << decision.verdict.message;
}

TEST_F(DecideTest, RefusesWhatItDoesNotJudge) {
  AdmissionRequest request = PodRequest("CREATE", Json::object());
  request.resource = {"", "v1", "configmaps"};
  Decision decision = Run(request);
  EXPECT_FALSE(decision.verdict.allowed);
  EXPECT_EQ(decision.concern, "other");
}

}  // namespace
}  // namespace botsec::webhook
