#include "botsec/policy/policy.h"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "yaml_load.h"

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

std::string Where(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

core::Error Bad(const YAML::Node& node, const std::string& path, const std::string& what) {
  return core::MakeError(ErrorCode::kInvalidArgument, Where(node) + ": " + path + ": " + what);
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// Refuses keys of `node` (a mapping) other than `known`.
Result<void> OnlyKnownKeys(const YAML::Node& node, const std::string& path,
                           std::initializer_list<std::string_view> known) {
  if (!node.IsMap()) {
    return Fail(Bad(node, path, "Invalid value: must be a mapping"));
  }
  std::vector<std::string> seen;
  for (const auto& entry : node) {
    std::string key = entry.first.Scalar();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return Fail(Bad(entry.first, Join(path, key), "already defined"));
    }
    seen.push_back(key);
    bool found = false;
    std::string list;
    for (std::string_view k : known) {
      found = found || key == k;
      list.append(list.empty() ? "" : ", ").append(k);
    }
    if (!found) {
      return Fail(Bad(entry.first, Join(path, key), "unknown key (known: " + list + ")"));
    }
  }
  return {};
}

Result<bool> ReadBool(const YAML::Node& node, const std::string& path) {
  if (node.IsScalar() && node.Tag() == "?") {
    const std::string& text = node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") {
      return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      return false;
    }
  }
  return Fail(Bad(node, path, "Invalid value: must be true or false"));
}

Result<std::string> ReadString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    return Fail(Bad(node, path, "Invalid value: must be a non-empty string"));
  }
  return node.Scalar();
}

Result<std::vector<std::string>> ReadStrings(const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) {
    return Fail(Bad(node, path, "Invalid value: must be a list of strings"));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto each = ReadString(node[i], path + "[" + std::to_string(i) + "]");
    if (!each) {
      return Fail(each.error());
    }
    out.push_back(*std::move(each));
  }
  return out;
}

Result<ResourceBounds> ReadBounds(const YAML::Node& node, const std::string& path,
                                  std::initializer_list<std::string_view> names) {
  if (auto known = OnlyKnownKeys(node, path, names); !known) {
    return Fail(known.error());
  }
  ResourceBounds bounds;
  for (const auto& entry : node) {
    std::string key = entry.first.Scalar();
    std::string field = Join(path, key);
    if (!entry.second.IsScalar()) {
      return Fail(Bad(entry.second, field, "Invalid value: must be a quantity"));
    }
    auto quantity = Quantity::Parse(entry.second.Scalar());
    if (!quantity) {
      return Fail(Bad(entry.second, field, quantity.error().message));
    }
    bounds.emplace(key, *std::move(quantity));
  }
  return bounds;
}

Result<void> CheckCidr(const YAML::Node& node, const std::string& path, const std::string& cidr) {
  std::size_t slash = cidr.find('/');
  std::string address = cidr.substr(0, slash);
  std::array<unsigned char, 16> buffer{};
  int max_prefix = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer.data()) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1) {
    max_prefix = 128;
  }
  bool ok = max_prefix > 0 && slash != std::string::npos && slash + 1 < cidr.size();
  if (ok) {
    for (char c : cidr.substr(slash + 1)) {
      ok = ok && std::isdigit(static_cast<unsigned char>(c)) != 0;
    }
    ok = ok && cidr.size() - slash - 1 <= 3 && std::atoi(cidr.c_str() + slash + 1) <= max_prefix;
  }
  if (!ok) {
    return Fail(Bad(node, path, "Invalid value: \"" + cidr + "\": must be a CIDR (10.0.0.0/8)"));
  }
  return {};
}

Result<void> ReadResourceChecks(const YAML::Node& node, const std::string& path,
                                BotChecks& checks) {
  if (auto known = OnlyKnownKeys(node, path, {"requireLimits", "maxLimits"}); !known) {
    return known;
  }
  if (node["requireLimits"]) {
    auto flag = ReadBool(node["requireLimits"], path + ".requireLimits");
    if (!flag) {
      return Fail(flag.error());
    }
    checks.require_limits = *flag;
  }
  if (node["maxLimits"]) {
    auto bounds =
        ReadBounds(node["maxLimits"], path + ".maxLimits", {"cpu", "memory", "ephemeral-storage"});
    if (!bounds) {
      return Fail(bounds.error());
    }
    checks.max_limits = *std::move(bounds);
  }
  return {};
}

Result<void> ReadImageChecks(const YAML::Node& node, const std::string& path, BotChecks& checks) {
  if (auto known = OnlyKnownKeys(node, path, {"registries", "requireDigest"}); !known) {
    return known;
  }
  if (node["registries"]) {
    auto registries = ReadStrings(node["registries"], path + ".registries");
    if (!registries) {
      return Fail(registries.error());
    }
    checks.registries = *std::move(registries);
  }
  if (node["requireDigest"]) {
    auto flag = ReadBool(node["requireDigest"], path + ".requireDigest");
    if (!flag) {
      return Fail(flag.error());
    }
    checks.require_digest = *flag;
  }
  return {};
}

Result<void> ReadChecks(const YAML::Node& node, BotChecks& checks) {
  if (auto known = OnlyKnownKeys(node, "checks",
                                 {"readOnlyRootFilesystem", "serviceAccountToken", "resources",
                                  "runtimeClasses", "images"});
      !known) {
    return known;
  }
  for (const auto& entry : node) {
    std::string key = entry.first.Scalar();
    std::string path = "checks." + key;
    const YAML::Node& value = entry.second;
    Result<void> read;
    if (key == "readOnlyRootFilesystem" || key == "serviceAccountToken") {
      auto flag = ReadBool(value, path);
      if (!flag) {
        return Fail(flag.error());
      }
      (key == "readOnlyRootFilesystem" ? checks.read_only_root_filesystem
                                       : checks.allow_service_account_token) = *flag;
    } else if (key == "resources") {
      read = ReadResourceChecks(value, path, checks);
    } else if (key == "runtimeClasses") {
      auto names = ReadStrings(value, path);
      if (!names) {
        return Fail(names.error());
      }
      checks.runtime_classes = *std::move(names);
    } else if (key == "images") {
      read = ReadImageChecks(value, path, checks);
    }
    if (!read) {
      return read;
    }
  }
  return {};
}

Result<void> ReadExemptions(const YAML::Node& node, std::vector<Exemption>& exemptions) {
  if (!node.IsSequence()) {
    return Fail(Bad(node, "exemptions", "Invalid value: must be a list"));
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& item = node[i];
    std::string path = "exemptions[" + std::to_string(i) + "]";
    if (auto known = OnlyKnownKeys(item, path, {"namespaces", "images", "reason"}); !known) {
      return known;
    }
    Exemption exemption;
    if (item["namespaces"]) {
      auto names = ReadStrings(item["namespaces"], path + ".namespaces");
      if (!names) {
        return Fail(names.error());
      }
      exemption.namespaces = *std::move(names);
    }
    if (item["images"]) {
      auto images = ReadStrings(item["images"], path + ".images");
      if (!images) {
        return Fail(images.error());
      }
      exemption.images = *std::move(images);
    }
    if (!item["reason"]) {
      return Fail(Bad(item, path + ".reason", "Required value: say why this is exempt"));
    }
    auto reason = ReadString(item["reason"], path + ".reason");
    if (!reason) {
      return Fail(reason.error());
    }
    exemption.reason = *std::move(reason);
    if (exemption.namespaces.empty() && exemption.images.empty()) {
      return Fail(Bad(item, path, "Required value: namespaces or images"));
    }
    exemptions.push_back(std::move(exemption));
  }
  return {};
}

Result<void> ReadSandboxes(const YAML::Node& node, SandboxBounds& bounds) {
  if (auto known =
          OnlyKnownKeys(node, "sandboxes",
                        {"maxResources", "maxQuota", "maxTTL", "runtimeClasses", "neverReach"});
      !known) {
    return known;
  }
  if (node["maxResources"]) {
    auto max = ReadBounds(node["maxResources"], "sandboxes.maxResources",
                          {"cpu", "memory", "ephemeral-storage"});
    if (!max) {
      return Fail(max.error());
    }
    bounds.max_resources = *std::move(max);
  }
  if (node["maxQuota"]) {
    auto max = ReadBounds(node["maxQuota"], "sandboxes.maxQuota",
                          {"pods", "cpu", "memory", "ephemeral-storage", "services", "secrets",
                           "configmaps", "persistentvolumeclaims"});
    if (!max) {
      return Fail(max.error());
    }
    bounds.max_quota = *std::move(max);
  }
  if (node["maxTTL"]) {
    auto text = ReadString(node["maxTTL"], "sandboxes.maxTTL");
    if (!text) {
      return Fail(text.error());
    }
    auto ttl = ParseDuration(*text);
    if (!ttl) {
      return Fail(Bad(node["maxTTL"], "sandboxes.maxTTL", ttl.error().message));
    }
    bounds.max_ttl = *ttl;
  }
  if (node["runtimeClasses"]) {
    auto names = ReadStrings(node["runtimeClasses"], "sandboxes.runtimeClasses");
    if (!names) {
      return Fail(names.error());
    }
    bounds.runtime_classes = *std::move(names);
  }
  if (node["neverReach"]) {
    auto cidrs = ReadStrings(node["neverReach"], "sandboxes.neverReach");
    if (!cidrs) {
      return Fail(cidrs.error());
    }
    for (std::size_t i = 0; i < cidrs->size(); ++i) {
      if (auto ok = CheckCidr(node["neverReach"][i],
                              "sandboxes.neverReach[" + std::to_string(i) + "]", (*cidrs)[i]);
          !ok) {
        return ok;
      }
      bounds.never_reach.push_back((*cidrs)[i]);
    }
  }
  return {};
}

}  // namespace

Result<Quantity> Quantity::Parse(std::string_view text) {
  // <number><suffix>: number [+-]digits[.digits]; suffix a binary (Ki..Ei), decimal (n, u, m, "",
  // k, M, G, T, P, E) or exponent (e3, E-2) one.
  auto invalid = [&] {
    return Fail(ErrorCode::kInvalidArgument, "Invalid value: \"" + std::string(text) +
                                                 "\": must be a quantity such as 500m, 2, 8Gi");
  };
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    ++i;
  }
  std::size_t digits_start = i;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
    ++i;
  }
  std::string number(text.substr(0, i));
  if (i == digits_start || std::count(number.begin(), number.end(), '.') > 1 ||
      number.back() == '.') {
    return invalid();
  }
  std::string_view suffix = text.substr(i);
  double scale = 1;
  static constexpr std::array<std::pair<std::string_view, double>, 16> kSuffixes = {{
      {"", 1},
      {"n", 1e-9},
      {"u", 1e-6},
      {"m", 1e-3},
      {"k", 1e3},
      {"M", 1e6},
      {"G", 1e9},
      {"T", 1e12},
      {"P", 1e15},
      {"E", 1e18},
      {"Ki", 1024.0},
      {"Mi", 1048576.0},
      {"Gi", 1073741824.0},
      {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0},
      {"Ei", 1152921504606846976.0},
  }};
  bool known = false;
  for (const auto& [name, factor] : kSuffixes) {
    if (suffix == name) {
      scale = factor;
      known = true;
    }
  }
  if (!known) {
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) {
      return invalid();
    }
    std::string exponent(suffix.substr(1));
    std::size_t start = exponent[0] == '-' || exponent[0] == '+' ? 1 : 0;
    if (start == exponent.size() ||
        !std::all_of(exponent.begin() + static_cast<long>(start), exponent.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      return invalid();
    }
    scale = std::pow(10.0, std::atof(exponent.c_str()));
  }
  double value = std::strtod(number.c_str(), nullptr) * scale;
  if (!std::isfinite(value) || value < 0) {
    return invalid();
  }
  return Quantity{.value = value, .text = std::string(text)};
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  auto invalid = [&] {
    return Fail(ErrorCode::kInvalidArgument, "Invalid value: \"" + std::string(text) +
                                                 "\": must be a duration such as 2h, 90m, 1h30m");
  };
  if (text.empty()) {
    return invalid();
  }
  long long total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
    }
    if (i == start || i == text.size() || i - start > 9) {
      return invalid();
    }
    long long amount = std::atoll(std::string(text.substr(start, i - start)).c_str());
    char unit = text[i++];
    long long factor = unit == 'h' ? 3600 : unit == 'm' ? 60 : unit == 's' ? 1 : 0;
    if (factor == 0) {
      return invalid();
    }
    total += amount * factor;
  }
  if (total <= 0) {
    return invalid();
  }
  return std::chrono::seconds(total);
}

Policy Policy::Default() { return ForProfile(Profile::kBot); }

Policy Policy::ForProfile(Profile profile) {
  Policy policy;
  policy.profile = profile;
  for (std::string_view cidr : kAlwaysNeverReach) {
    policy.sandboxes.never_reach.emplace_back(cidr);
  }
  return policy;
}

Result<Policy> ReadPolicyFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return Fail(ErrorCode::kInvalidArgument, "--policy: cannot read " + path);
  }
  std::stringstream text;
  text << file.rdbuf();
  auto policy = ParsePolicy(text.str());
  if (!policy) {
    return Fail(policy.error().Wrap("--policy " + path));
  }
  return policy;
}

PolicyReloader::PolicyReloader(std::string path)
    : path_(std::move(path)), seen_(core::StampOf(path_)) {}

Result<std::optional<Policy>> PolicyReloader::Poll() {
  core::FileStamp now = core::StampOf(path_);
  if (now == seen_) {
    return std::optional<Policy>();
  }
  seen_ = now;
  auto policy = ReadPolicyFile(path_);
  if (!policy) {
    return Fail(policy.error());
  }
  return std::optional<Policy>(std::move(*policy));
}

void PolicyReloader::PollAndApply(const std::function<void(const Policy&)>& apply,
                                  std::ostream& log) {
  auto polled = Poll();
  if (!polled) {
    log << "Policy not reloaded, keeping the one in force path=" << path_ << " error=\""
        << polled.error().message << "\"\n";
  } else if (polled->has_value()) {
    apply(**polled);
    log << "Policy reloaded path=" << path_ << " profile=" << ProfileName((*polled)->profile)
        << "\n";
  }
}

Result<Policy> ParsePolicy(std::string_view yaml) {
  auto documents = LoadYamlNodes(yaml);
  if (!documents) {
    return Fail(documents.error());
  }
  YAML::Node root;
  bool found = false;
  for (const YAML::Node& document : *documents) {
    if (document.IsNull()) {
      continue;
    }
    if (found) {
      return Fail(
          ErrorCode::kInvalidArgument,
          YamlWhere(document.Mark()) + ": a second document; a policy is one YAML document");
    }
    root = document;
    found = true;
  }
  try {
    if (auto known = OnlyKnownKeys(
            root, "", {"apiVersion", "kind", "profile", "checks", "exemptions", "sandboxes"});
        !known) {
      return Fail(known.error());
    }
    if (root["apiVersion"] && root["apiVersion"].Scalar() != "botsec.io/v1alpha1") {
      return Fail(Bad(root["apiVersion"], "apiVersion",
                      "Unsupported value: \"" + root["apiVersion"].Scalar() +
                          R"(": supported values: "botsec.io/v1alpha1")"));
    }
    if (root["kind"] && root["kind"].Scalar() != "Policy") {
      return Fail(Bad(
          root["kind"], "kind",
          "Unsupported value: \"" + root["kind"].Scalar() + R"(": supported values: "Policy")"));
    }
    Policy policy = Policy::Default();
    if (root["profile"]) {
      auto profile = ParseProfile(root["profile"].Scalar());
      if (!profile) {
        return Fail(Bad(root["profile"], "profile", profile.error().message.substr(9)));
      }
      policy.profile = *profile;
    }
    if (root["checks"]) {
      if (auto ok = ReadChecks(root["checks"], policy.checks); !ok) {
        return Fail(ok.error());
      }
    }
    if (root["exemptions"]) {
      if (auto ok = ReadExemptions(root["exemptions"], policy.exemptions); !ok) {
        return Fail(ok.error());
      }
    }
    if (root["sandboxes"]) {
      if (auto ok = ReadSandboxes(root["sandboxes"], policy.sandboxes); !ok) {
        return Fail(ok.error());
      }
    }
    return policy;
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "line " + std::to_string(e.mark.line + 1) +
                                                 ", column " + std::to_string(e.mark.column + 1) +
                                                 ": " + e.msg);
  }
}

}  // namespace botsec::policy
