// The checks the bot profile adds to restricted, and image exemptions.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "support/judge_both_ways.h"

namespace botsec::policy {
namespace {

// A pod that passes the bot profile with default settings.
Json BotPod() {
  Json secure = {{"allowPrivilegeEscalation", false},
                 {"readOnlyRootFilesystem", true},
                 {"capabilities", {{"drop", {"ALL"}}}}};
  Json limits = {{"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}};
  return {{"kind", "Pod"},
          {"metadata", {{"name", "bot"}}},
          {"spec",
           {{"automountServiceAccountToken", false},
            {"securityContext",
             {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
            {"initContainers",
             {{{"name", "init"},
               {"image", "ghcr.io/acme/init"},
               {"securityContext", secure},
               {"resources", limits}}}},
            {"containers",
             {{{"name", "main"},
               {"image", "ghcr.io/acme/bot"},
               {"securityContext", secure},
               {"resources", limits}}}},
            {"ephemeralContainers",
             {{{"name", "debug"}, {"image", "busybox"}, {"securityContext", secure}}}}}}};
}

std::vector<Violation> Violations(const Json& pod, const Policy& policy = Policy::Default()) {
  auto judged = testing::JudgeBothWays(pod, policy);
  EXPECT_TRUE(judged) << judged.error().message;
  return judged ? *judged : std::vector<Violation>{};
}

std::string Dump(const std::vector<Violation>& violations) {
  std::string out;
  for (const Violation& v : violations) {
    out += "\n  " + v.check + " " + v.field + ": " + v.message;
  }
  return out;
}

std::vector<std::string> Fields(const std::vector<Violation>& violations) {
  std::vector<std::string> fields;
  fields.reserve(violations.size());
  for (const Violation& v : violations) {
    fields.push_back(v.check + " " + v.field);
  }
  std::sort(fields.begin(), fields.end());
  return fields;
}

TEST(BotChecksTest, TheBasePodPasses) {
  EXPECT_TRUE(Violations(BotPod()).empty()) << Dump(Violations(BotPod()));
}

TEST(BotChecksTest, ReadOnlyRootFilesystemInEveryContainerKind) {
  Json pod = BotPod();
  pod["spec"]["initContainers"][0]["securityContext"].erase("readOnlyRootFilesystem");
  pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = false;
  pod["spec"]["ephemeralContainers"][0]["securityContext"]["readOnlyRootFilesystem"] = "true";
  EXPECT_EQ(Fields(Violations(pod)),
            (std::vector<std::string>{
                "readOnlyRootFilesystem spec.containers[0].securityContext.readOnlyRootFilesystem",
                "readOnlyRootFilesystem "
                "spec.ephemeralContainers[0].securityContext.readOnlyRootFilesystem",
                "readOnlyRootFilesystem "
                "spec.initContainers[0].securityContext.readOnlyRootFilesystem"}));
  Policy relaxed = Policy::Default();
  relaxed.checks.read_only_root_filesystem = false;
  EXPECT_TRUE(Violations(pod, relaxed).empty());
}

TEST(BotChecksTest, NoServiceAccountTokenNeitherAutomountedNorProjected) {
  Json pod = BotPod();
  pod["spec"].erase("automountServiceAccountToken");
  pod["spec"]["volumes"] = {
      {{"name", "token"},
       {"projected",
        {{"sources",
          {{{"configMap", {{"name", "ca"}}}},
           {{"serviceAccountToken", {{"path", "token"}, {"audience", "api"}}}}}}}}}};
  auto violations = Violations(pod);
  EXPECT_EQ(Fields(violations),
            (std::vector<std::string>{
                "serviceAccountToken spec.automountServiceAccountToken",
                "serviceAccountToken spec.volumes[0].projected.sources[1].serviceAccountToken"}))
      << Dump(violations);
  pod["spec"]["automountServiceAccountToken"] = true;
  EXPECT_EQ(Violations(pod).front().message, "Forbidden: must be false: a bot gets no API token");
  Policy allowed = Policy::Default();
  allowed.checks.allow_service_account_token = true;
  EXPECT_TRUE(Violations(pod, allowed).empty());
}

TEST(BotChecksTest, LimitsAreRequiredAndBoundedButNotOnEphemeralContainers) {
  Json pod = BotPod();
  pod["spec"]["containers"][0]["resources"]["limits"].erase("memory");
  pod["spec"]["initContainers"][0].erase("resources");
  EXPECT_EQ(Fields(Violations(pod)),
            (std::vector<std::string>{"resources spec.containers[0].resources.limits.memory",
                                      "resources spec.initContainers[0].resources.limits.cpu",
                                      "resources spec.initContainers[0].resources.limits.memory"}));

  Policy bounded = Policy::Default();
  bounded.checks.max_limits.emplace("cpu", *Quantity::Parse("1"));
  bounded.checks.max_limits.emplace("memory", *Quantity::Parse("128Mi"));
  pod = BotPod();
  pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1500m";
  pod["spec"]["initContainers"][0]["resources"]["limits"]["cpu"] = 1;  // a number: allowed
  auto violations = Violations(pod, bounded);
  EXPECT_EQ(Fields(violations),
            (std::vector<std::string>{"resources spec.containers[0].resources.limits.cpu",
                                      "resources spec.containers[0].resources.limits.memory",
                                      "resources spec.initContainers[0].resources.limits.memory"}))
      << Dump(violations);
  EXPECT_EQ(violations[0].message + "|" + violations[1].message,
            "Invalid value: \"256Mi\": must be at most \"128Mi\"|Invalid value: \"1500m\": must "
            "be at most \"1\"");
}

TEST(BotChecksTest, RuntimeClassFromTheAllowedList) {
  Policy policy = Policy::Default();
  policy.checks.runtime_classes = {"gvisor", "kata"};
  Json pod = BotPod();
  auto missing = Violations(pod, policy);
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0].field, "spec.runtimeClassName");
  EXPECT_EQ(missing[0].message, "Required value: supported values: \"gvisor\", \"kata\"");
  pod["spec"]["runtimeClassName"] = "runc";
  EXPECT_EQ(Violations(pod, policy).at(0).message,
            "Unsupported value: \"runc\": supported values: \"gvisor\", \"kata\"");
  pod["spec"]["runtimeClassName"] = "kata";
  EXPECT_TRUE(Violations(pod, policy).empty());
}

TEST(BotChecksTest, RegistriesAndDigests) {
  Policy policy = Policy::Default();
  policy.checks.registries = {"ghcr.io/acme/", "docker.io/library/"};
  Json pod = BotPod();
  EXPECT_TRUE(Violations(pod, policy).empty()) << "busybox is docker.io/library/busybox";
  pod["spec"]["containers"][0]["image"] = "ghcr.io/acme-evil/bot";
  pod["spec"]["ephemeralContainers"][0]["image"] = "evil.example/busybox";
  EXPECT_EQ(Fields(Violations(pod, policy)),
            (std::vector<std::string>{"imageRegistry spec.containers[0].image",
                                      "imageRegistry spec.ephemeralContainers[0].image"}));
  policy.checks.registries.clear();
  policy.checks.require_digest = true;
  pod = BotPod();
  std::string digest(64, 'a');
  pod["spec"]["containers"][0]["image"] = "ghcr.io/acme/bot@sha256:" + digest;
  pod["spec"]["initContainers"][0]["image"] = "ghcr.io/acme/init:1.0@sha256:" + digest;
  pod["spec"]["ephemeralContainers"][0]["image"] = "busybox@sha256:" + digest.substr(1);
  EXPECT_EQ(Fields(Violations(pod, policy)),
            (std::vector<std::string>{"imageDigest spec.ephemeralContainers[0].image"}));
}

TEST(BotChecksTest, AnImageExemptionSkipsThatContainerOnly) {
  Json pod = BotPod();
  pod["spec"]["hostIPC"] = true;
  pod["spec"]["ephemeralContainers"][0]["securityContext"]["privileged"] = true;
  pod["spec"]["containers"][0]["securityContext"]["privileged"] = true;
  Policy policy = Policy::Default();
  policy.exemptions.push_back({.namespaces = {}, .images = {"busybox"}, .reason = "debugging"});
  EXPECT_EQ(Fields(Violations(pod, policy)),
            (std::vector<std::string>{"hostNamespaces spec.hostIPC",
                                      "privileged spec.containers[0].securityContext.privileged"}));
}

}  // namespace
}  // namespace botsec::policy
