#include "botsec/api/settings_flags.h"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::api {
namespace {

core::Result<SandboxSettings> FromArgs(std::vector<std::string_view> args) {
  core::FlagSet flags("prog", "test");
  AddSandboxSettingsFlags(flags);
  auto parsed = flags.Parse(args);
  if (!parsed) {
    return core::Fail(parsed.error());
  }
  return SandboxSettingsFromFlags(*parsed);
}

TEST(SandboxSettingsFlagsTest, DefaultsAreSandboxSettingsOwn) {
  auto settings = FromArgs({});
  ASSERT_TRUE(settings) << settings.error().message;
  const SandboxSettings defaults;
  EXPECT_EQ(settings->namespace_prefix, defaults.namespace_prefix);
  EXPECT_EQ(settings->default_requests, defaults.default_requests);
  EXPECT_EQ(settings->default_limits, defaults.default_limits);
  EXPECT_EQ(settings->pod_security_version, "latest");
}

TEST(SandboxSettingsFlagsTest, AGivenResourceReplacesOnlyItsOwnDefault) {
  auto settings = FromArgs(
      {"--default-limits=memory=2Gi", "--namespace-prefix=bot-", "--pod-security-version=v1.35"});
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->default_limits.at("memory"), "2Gi");
  EXPECT_EQ(settings->default_limits.at("cpu"), SandboxSettings().default_limits.at("cpu"));
  EXPECT_EQ(settings->namespace_prefix, "bot-");
  EXPECT_EQ(settings->pod_security_version, "v1.35");
}

TEST(SandboxSettingsFlagsTest, ErrorsNameTheFlagAndWhatIsWrong) {
  struct Case {
    std::string_view arg;
    std::string message;
  };
  for (const Case& bad : std::vector<Case>{
           {"--default-limits=memory=lots",
            "--default-limits: memory: \"lots\" is not a positive quantity"},
           {"--default-requests=gpu=1",
            "--default-requests: \"gpu=1\": want cpu=, memory= or ephemeral-storage= a quantity"},
           {"--default-requests=cpu=0",
            "--default-requests: cpu: \"0\" is not a positive quantity"},
           {"--namespace-prefix=Bots_",
            "--namespace-prefix: \"Bots_\": want lowercase letters, digits and '-', starting with "
            "a letter, at most 30 characters"},
           {"--pod-security-version=1.35",
            "--pod-security-version: \"1.35\": want latest or v1.N, such as v1.35"},
           {"--policy=/nonexistent/policy.yaml", "--policy: cannot read /nonexistent/policy.yaml"},
       }) {
    auto settings = FromArgs({bad.arg});
    ASSERT_FALSE(settings) << bad.arg;
    EXPECT_EQ(settings.error().code, core::ErrorCode::kInvalidArgument) << bad.arg;
    EXPECT_TRUE(settings.error().message.starts_with(bad.message))
        << bad.arg << ": " << settings.error().message;
  }
}

}  // namespace
}  // namespace botsec::api
