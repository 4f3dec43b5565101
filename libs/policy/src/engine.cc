#include "botsec/policy/engine.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bot_checks.h"
#include "botsec/policy/dom.h"
#include "botsec/policy/policy.h"
#include "json_fields.h"
#include "pss_checks.h"

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

// Drops the violations inside containers whose image an exemption names.
template <typename View>
void DropExemptContainers(const std::vector<internal::ContainerRef<View>>& containers,
                          const Policy& policy, std::vector<Violation>& violations) {
  std::vector<std::string> exempt_paths;
  for (const internal::ContainerRef<View>& c : containers) {
    View image = c.json.Get("image");
    if (!image.is_string()) {
      continue;
    }
    for (const Exemption& exemption : policy.exemptions) {
      if (std::find(exemption.images.begin(), exemption.images.end(), image.string()) !=
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

namespace internal {

template <typename View>
std::vector<Violation> JudgePodSpec(const PodTemplateRef<View>& ref, const Policy& policy) {
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
  const std::vector<internal::ContainerRef<View>> containers =
      internal::ContainersOf(ref, violations);
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

template <typename View>
Result<std::vector<Violation>> Judge(View object, const Policy& policy) {
  auto ref = FindPodTemplate(object);
  if (!ref) {
    return Fail(ref.error());
  }
  return JudgePodSpec(*ref, policy);
}

}  // namespace internal

bool IsPodCarrier(const Json& object) {
  return internal::IsPodCarrier(internal::NlohmannView(object));
}

Result<std::vector<Violation>> Judge(const Json& object, const Policy& policy) {
  return internal::Judge(internal::NlohmannView(object), policy);
}

Result<std::vector<Violation>> Judge(const Json& object, Profile profile) {
  return Judge(object, Policy::ForProfile(profile));
}

bool IsPodCarrier(simdjson::dom::element object) {
  return internal::IsPodCarrier(internal::DomView(object));
}

Result<std::vector<Violation>> Judge(simdjson::dom::element object, const Policy& policy) {
  return internal::Judge(internal::DomView(object), policy);
}

Json ToJson(simdjson::dom::element value) {
  using Type = simdjson::dom::element_type;
  switch (value.type()) {
    case Type::OBJECT: {
      Json out = Json::object();
      auto& fields = out.get_ref<Json::object_t&>();
      for (simdjson::dom::key_value_pair field : simdjson::dom::object(value)) {
        fields[std::string(field.key)] = ToJson(field.value);  // a repeated key: the last
      }
      return out;
    }
    case Type::ARRAY: {
      Json out = Json::array();
      auto& items = out.get_ref<Json::array_t&>();
      simdjson::dom::array array(value);
      items.reserve(array.size());
      for (simdjson::dom::element item : array) {
        items.push_back(ToJson(item));
      }
      return out;
    }
    case Type::STRING:
      return std::string(value.get_string().value_unsafe());
    case Type::INT64: {
      std::int64_t number = value.get_int64().value_unsafe();
      return number >= 0 ? Json(static_cast<std::uint64_t>(number)) : Json(number);
    }
    case Type::UINT64:
      return value.get_uint64().value_unsafe();
    case Type::DOUBLE:
      return value.get_double().value_unsafe();
    case Type::BOOL:
      return value.get_bool().value_unsafe();
    case Type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

}  // namespace botsec::policy
