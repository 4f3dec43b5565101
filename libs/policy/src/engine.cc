#include "botsec/policy/engine.h"

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  for (const Carrier& carrier : kCarriers) {
    if (*kind == carrier.kind) {
      return &carrier;
    }
  }
  return nullptr;
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
                  "\": supported values: \"pss-baseline\", \"pss-restricted\", \"bot\"");
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

std::vector<Violation> JudgePodSpec(const PodTemplateRef& ref, Profile profile) {
  std::vector<Violation> violations;
  internal::PssOptions options;
  switch (profile) {
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
  internal::CheckPodSecurity(ref, options, violations);
  return violations;
}

Result<std::vector<Violation>> Judge(const Json& object, Profile profile) {
  auto ref = FindPodTemplate(object);
  if (!ref) {
    return Fail(ref.error());
  }
  return JudgePodSpec(*ref, profile);
}

}  // namespace botsec::policy
