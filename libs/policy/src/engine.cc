#include "botsec/policy/engine.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bot_checks.h"
#include "botsec/policy/policy.h"
#include "json_fields.h"
#include "pss_checks.h"

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

struct Carrier {
  std::string_view kind;
  std::string_view path;  // to the pod template ("" for a Pod itself)
};

// Where each kind keeps its pod template.
constexpr std::array<Carrier, 9> kCarriers = {{
    {"Pod", ""},
    {"PodTemplate", "template"},
    {"Deployment", "spec.template"},
    {"ReplicaSet", "spec.template"},
    {"StatefulSet", "spec.template"},
    {"DaemonSet", "spec.template"},
    {"Job", "spec.template"},
    {"ReplicationController", "spec.template"},
    {"CronJob", "spec.jobTemplate.spec.template"},
}};

const Carrier* CarrierOf(const Json& object) {
  if (!object.is_object()) {
    return nullptr;
  }
  auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string()) {
    return nullptr;
  }
  const auto& name = kind->get_ref<const std::string&>();
  for (const Carrier& carrier : kCarriers) {
    if (name == carrier.kind) {
      return &carrier;
    }
  }
  return nullptr;
}

// Drops the violations inside containers whose image an exemption names.
void DropExemptContainers(const std::vector<internal::ContainerRef>& containers,
                          const Policy& policy, std::vector<Violation>& violations) {
  std::vector<std::string> exempt_paths;
  for (const internal::ContainerRef& c : containers) {
    const Json* image = internal::Get(c.json, "image");
    if (image == nullptr || !image->is_string()) {
      continue;
    }
    for (const Exemption& exemption : policy.exemptions) {
      if (std::find(exemption.images.begin(), exemption.images.end(), image->get<std::string>()) !=
          exemption.images.end()) {
        exempt_paths.push_back(c.path.str() + ".");
      }
    }
  }
  std::erase_if(violations, [&](const Violation& v) {
    return std::any_of(exempt_paths.begin(), exempt_paths.end(),
                       [&](const std::string& p) { return v.field.rfind(p, 0) == 0; });
  });
}

}  // namespace

std::string_view ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kPssBaseline:
      return "pss-baseline";
    case Profile::kPssRestricted:
      return "pss-restricted";
    case Profile::kBot:
      return "bot";
  }
  return "bot";
}

Result<Profile> ParseProfile(std::string_view name) {
  for (Profile profile : {Profile::kPssBaseline, Profile::kPssRestricted, Profile::kBot}) {
    if (name == ProfileName(profile)) {
      return profile;
    }
  }
  return Fail(ErrorCode::kInvalidArgument,
              "profile: Unsupported value: \"" + std::string(name) +
                  R"(": supported values: "pss-baseline", "pss-restricted", "bot")");
}

bool IsPodCarrier(const Json& object) { return CarrierOf(object) != nullptr; }

Result<PodTemplateRef> FindPodTemplate(const Json& object) {
  const Carrier* carrier = CarrierOf(object);
  if (carrier == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "kind: not a Pod or a kind with a pod template");
  }
  const Json* at = &object;
  std::string path;
  std::string_view rest = carrier->path;
  while (!rest.empty()) {
    std::size_t dot = rest.find('.');
    std::string key(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? "" : rest.substr(dot + 1);
    path += (path.empty() ? "" : ".") + key;
    auto next = at->find(key);
    if (!at->is_object() || next == at->end() || !next->is_object()) {
      return Fail(ErrorCode::kInvalidArgument, path + ": Required value");
    }
    at = &*next;
  }
  std::string prefix = path.empty() ? "" : path + ".";
  PodTemplateRef ref;
  ref.metadata_path = prefix + "metadata";
  ref.spec_path = prefix + "spec";
  if (auto metadata = at->find("metadata"); metadata != at->end() && metadata->is_object()) {
    ref.metadata = &*metadata;
  }
  auto spec = at->find("spec");
  if (spec == at->end() || !spec->is_object()) {
    return Fail(ErrorCode::kInvalidArgument, ref.spec_path + ": Required value");
  }
  ref.spec = &*spec;
  return ref;
}

std::vector<Violation> JudgePodSpec(const PodTemplateRef& ref, const Policy& policy) {
  std::vector<Violation> violations;
  internal::PssOptions options;
  switch (policy.profile) {
    case Profile::kPssBaseline:
      options.level = internal::Level::kBaseline;
      break;
    case Profile::kPssRestricted:
      options.level = internal::Level::kRestricted;
      break;
    case Profile::kBot:
      options.level = internal::Level::kRestricted;
      options.windows_exemptions = false;
      break;
  }
  // Walked once; a list that is not a list is reported here, once.
  const std::vector<internal::ContainerRef> containers = internal::ContainersOf(ref, violations);
  internal::CheckPodSecurity(ref, containers, options, violations);
  if (policy.profile == Profile::kBot) {
    internal::CheckBot(ref, containers, policy.checks, violations);
  }
  if (!policy.exemptions.empty()) {
    DropExemptContainers(containers, policy, violations);
  }
  if (violations.size() >= kMaxViolations) {
    violations.push_back({"tooManyViolations", ref.spec_path,
                          "Forbidden: more than " + std::to_string(kMaxViolations) +
                              " violations; the first " + std::to_string(kMaxViolations) +
                              " are listed"});
  }
  return violations;
}

Result<std::vector<Violation>> Judge(const Json& object, const Policy& policy) {
  auto ref = FindPodTemplate(object);
  if (!ref) {
    return Fail(ref.error());
  }
  return JudgePodSpec(*ref, policy);
}

Result<std::vector<Violation>> Judge(const Json& object, Profile profile) {
  return Judge(object, Policy::ForProfile(profile));
}

}  // namespace botsec::policy
