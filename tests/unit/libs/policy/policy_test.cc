#include "botsec/policy/policy.h"

#include <string>

#include <gtest/gtest.h>

namespace botsec::policy {
namespace {

TEST(PolicyTest, ReadsEverySection) {
  auto policy = ParsePolicy(R"(apiVersion: botsec.io/v1alpha1
kind: Policy
profile: pss-restricted
checks:
  readOnlyRootFilesystem: false
  serviceAccountToken: true
  resources:
    requireLimits: false
    maxLimits: {cpu: "2", memory: 4Gi}
  runtimeClasses: [gvisor, kata]
  images:
    registries: [ghcr.io/acme/]
    requireDigest: true
exemptions:
  - namespaces: [legacy]
    reason: migrating
  - images: [registry.k8s.io/pause:3.10]
    reason: the pause image
sandboxes:
  maxResources: {cpu: 500m, memory: 1Gi, ephemeral-storage: 2Gi}
  maxQuota: {pods: "10", services: "3"}
  maxTTL: 1h30m
  runtimeClasses: [gvisor]
  neverReach: [10.0.0.0/8, "fd00::/8"]
)");
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->profile, Profile::kPssRestricted);
  EXPECT_FALSE(policy->checks.read_only_root_filesystem);
  EXPECT_TRUE(policy->checks.allow_service_account_token);
  EXPECT_FALSE(policy->checks.require_limits);
  EXPECT_DOUBLE_EQ(policy->checks.max_limits.at("memory").value, 4.0 * 1024 * 1024 * 1024);
  EXPECT_EQ(policy->checks.runtime_classes, (std::vector<std::string>{"gvisor", "kata"}));
  EXPECT_TRUE(policy->checks.require_digest);
  ASSERT_EQ(policy->exemptions.size(), 2U);
  EXPECT_EQ(policy->exemptions[1].reason, "the pause image");
  EXPECT_DOUBLE_EQ(policy->sandboxes.max_resources.at("cpu").value, 0.5);
  EXPECT_EQ(policy->sandboxes.max_ttl, std::chrono::seconds(5400));
  // The administrator's CIDRs join the ones that are always there.
  const auto& never = policy->sandboxes.never_reach;
  EXPECT_NE(std::find(never.begin(), never.end(), "169.254.0.0/16"), never.end());
  EXPECT_NE(std::find(never.begin(), never.end(), "fd00:ec2::254/128"), never.end());
  EXPECT_NE(std::find(never.begin(), never.end(), "10.0.0.0/8"), never.end());
}

TEST(PolicyTest, TheDefaultIsTheBotProfileWithEveryCheckOn) {
  Policy policy = Policy::Default();
  EXPECT_EQ(policy.profile, Profile::kBot);
  EXPECT_TRUE(policy.checks.read_only_root_filesystem);
  EXPECT_FALSE(policy.checks.allow_service_account_token);
  EXPECT_TRUE(policy.checks.require_limits);
  EXPECT_EQ(policy.sandboxes.never_reach.size(), std::size(kAlwaysNeverReach));
  auto empty = ParsePolicy("{}");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->sandboxes.never_reach, policy.sandboxes.never_reach);
}

TEST(PolicyTest, RefusesUnknownKeysAndBadValuesWithLineAndColumn) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"profile: bot\nchecks:\n  resourcez: {}\n",
            "line 3, column 3: checks.resourcez: unknown key (known: readOnlyRootFilesystem, "
            "serviceAccountToken, resources, runtimeClasses, images)"},
           {"profile: strict\n",
            "line 1, column 10: profile: Unsupported value: \"strict\": supported values: "
            "\"pss-baseline\", \"pss-restricted\", \"bot\""},
           {"checks:\n  readOnlyRootFilesystem: yes\n",
            "line 2, column 27: checks.readOnlyRootFilesystem: Invalid value: must be true or "
            "false"},
           {"checks:\n  resources:\n    maxLimits: {cpu: lots}\n",
            "line 3, column 22: checks.resources.maxLimits.cpu: Invalid value: \"lots\": must be "
            "a quantity such as 500m, 2, 8Gi"},
           {"checks:\n  resources:\n    maxLimits: {gpu: 1}\n",
            "line 3, column 17: checks.resources.maxLimits.gpu: unknown key (known: cpu, memory, "
            "ephemeral-storage)"},
           {"sandboxes:\n  maxTTL: 2 days\n",
            "line 2, column 11: sandboxes.maxTTL: Invalid value: \"2 days\": must be a duration "
            "such as 2h, 90m, 1h30m"},
           {"sandboxes:\n  neverReach: [10.0.0.0/33]\n",
            "line 2, column 16: sandboxes.neverReach[0]: Invalid value: \"10.0.0.0/33\": must be "
            "a CIDR (10.0.0.0/8)"},
           {"exemptions:\n  - namespaces: [a]\n",
            "line 2, column 5: exemptions[0].reason: Required value: say why this is exempt"},
           {"exemptions:\n  - reason: because\n",
            "line 2, column 5: exemptions[0]: Required value: namespaces or images"},
           {"kind: Pod\n",
            R"(line 1, column 7: kind: Unsupported value: "Pod": supported values: "Policy")"},
           {"profile: bot\nprofile: bot\n", "line 2, column 1: profile: already defined"},
           {"- a\n", "line 1, column 1: : Invalid value: must be a mapping"},
           {"checks: [\n", "line 2, column 1: end of sequence flow not found"},
           {"profile: bot\n---\nprofile: pss-baseline\n",
            "line 3, column 1: a second document; a policy is one YAML document"},
           {"\"bot\", x\n", "line 1, column 6: unexpected ',' outside a flow collection"},
       }) {
    auto policy = ParsePolicy(c.yaml);
    ASSERT_FALSE(policy) << c.yaml;
    EXPECT_EQ(policy.error().message, c.expected) << c.yaml;
  }
}

TEST(QuantityTest, ParsesWhatTheApiServerAccepts) {
  struct Case {
    std::string text;
    double value;
  };
  for (const Case& c : std::vector<Case>{{"2", 2},
                                         {"500m", 0.5},
                                         {"1.5", 1.5},
                                         {"8Gi", 8.0 * 1024 * 1024 * 1024},
                                         {"128Mi", 128.0 * 1024 * 1024},
                                         {"1k", 1000},
                                         {"1e3", 1000},
                                         {"2E-3", 0.002},
                                         {"100n", 1e-7}}) {
    auto quantity = Quantity::Parse(c.text);
    ASSERT_TRUE(quantity) << c.text << ": " << quantity.error().message;
    EXPECT_DOUBLE_EQ(quantity->value, c.value) << c.text;
  }
  for (const char* bad : {"", "Gi", "1.", "1..2", "1GB", "1e", "-1", "abc", "1 Gi"}) {
    EXPECT_FALSE(Quantity::Parse(bad)) << bad;
  }
}

TEST(DurationTest, ParsesHoursMinutesSeconds) {
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::seconds(7200));
  EXPECT_EQ(*ParseDuration("1h30m"), std::chrono::seconds(5400));
  EXPECT_EQ(*ParseDuration("45s"), std::chrono::seconds(45));
  for (const char* bad : {"", "2", "h", "2d", "0s", "1h 30m", "-1h"}) {
    EXPECT_FALSE(ParseDuration(bad)) << bad;
  }
}

}  // namespace
}  // namespace botsec::policy
