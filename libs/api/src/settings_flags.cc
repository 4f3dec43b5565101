#include "botsec/api/settings_flags.h"

#include <string>
#include <utility>

#include "botsec/policy/policy.h"

namespace botsec::api {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

constexpr std::size_t kMaxPrefix = 30;  // leaves room in 63 for the owner's names and the hash

// "cpu=100m,ephemeral-storage=256Mi,memory=128Mi".
std::string FormatResources(const ResourceList& list) {
  std::string text;
  for (const auto& [name, value] : list) {
    text.append(text.empty() ? "" : ",").append(name).append("=").append(value);
  }
  return text;
}

Result<std::string> NamespacePrefix(std::string_view prefix) {
  bool valid =
      !prefix.empty() && prefix.size() <= kMaxPrefix && prefix.front() >= 'a' &&
      prefix.front() <= 'z' &&
      prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string_view::npos;
  if (!valid) {
    return Fail(ErrorCode::kInvalidArgument,
                "--namespace-prefix: \"" + std::string(prefix) +
                    "\": want lowercase letters, digits and '-', starting with a letter, at most " +
                    std::to_string(kMaxPrefix) + " characters");
  }
  return std::string(prefix);
}

// "latest" or "v1.N", as the pod-security.kubernetes.io/enforce-version label takes it.
Result<std::string> PodSecurityVersion(std::string_view version) {
  std::string_view minor = version.starts_with("v1.") ? version.substr(3) : std::string_view();
  bool valid =
      version == "latest" || (!minor.empty() && minor.size() <= 3 &&
                              minor.find_first_not_of("0123456789") == std::string_view::npos);
  if (!valid) {
    return Fail(ErrorCode::kInvalidArgument, "--pod-security-version: \"" + std::string(version) +
                                                 "\": want latest or v1.N, such as v1.35");
  }
  return std::string(version);
}

// "cpu=100m,memory=128Mi" as a resource list; errors name `flag` and the entry.
Result<ResourceList> ParseResourceFlag(std::string_view flag, std::string_view text) {
  ResourceList list;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string entry(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    std::size_t eq = entry.find('=');
    std::string name = entry.substr(0, eq);
    if (eq == std::string::npos ||
        (name != "cpu" && name != "memory" && name != "ephemeral-storage")) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--" + std::string(flag) + ": \"" + entry +
                      "\": want cpu=, memory= or ephemeral-storage= a quantity");
    }
    std::string value = entry.substr(eq + 1);
    if (auto quantity = policy::Quantity::Parse(value); !quantity || quantity->value <= 0) {
      std::string message = "--";
      message.append(flag).append(": ").append(name).append(": \"").append(value);
      message += "\" is not a positive quantity";
      return Fail(ErrorCode::kInvalidArgument, message);
    }
    list[name] = value;
  }
  return list;
}

}  // namespace

void AddSandboxSettingsFlags(core::FlagSet& flags) {
  const SandboxSettings defaults;
  flags
      .String("namespace-prefix", "PREFIX", defaults.namespace_prefix,
              "prefix of every sandbox namespace")
      .String("policy", "FILE", "", "the policy document (libs/policy): bounds and checks")
      .String("default-requests", "LIST", FormatResources(defaults.default_requests),
              "the bot container's requests where a BotSandbox leaves them out")
      .String("default-limits", "LIST", FormatResources(defaults.default_limits),
              "the bot container's limits where a BotSandbox leaves them out")
      .String("pod-security-version", "VERSION", defaults.pod_security_version,
              "pod-security.kubernetes.io/enforce-version of every sandbox namespace");
}

Result<SandboxSettings> SandboxSettingsFromFlags(const core::ParsedFlags& flags) {
  SandboxSettings settings;
  auto prefix = NamespacePrefix(flags.Get("namespace-prefix"));
  if (!prefix) {
    return Fail(prefix.error());
  }
  settings.namespace_prefix = std::move(*prefix);
  auto version = PodSecurityVersion(flags.Get("pod-security-version"));
  if (!version) {
    return Fail(version.error());
  }
  settings.pod_security_version = std::move(*version);
  if (std::string path(flags.Get("policy")); !path.empty()) {
    auto policy = policy::ReadPolicyFile(path);
    if (!policy) {
      return Fail(policy.error());
    }
    settings.policy = std::move(*policy);
  }
  for (auto [flag, target] : {std::pair{"default-requests", &settings.default_requests},
                              std::pair{"default-limits", &settings.default_limits}}) {
    if (!flags.WasSet(flag)) {
      continue;
    }
    auto list = ParseResourceFlag(flag, flags.Get(flag));
    if (!list) {
      return Fail(list.error());
    }
    for (const auto& [name, value] : *list) {
      (*target)[name] = value;
    }
  }
  return settings;
}

}  // namespace botsec::api
