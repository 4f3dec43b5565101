#include "json_fields.h"

#include <string>
#include <string_view>
#include <vector>

namespace botsec::policy::internal {
namespace {

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

template <typename View>
const Carrier* CarrierOf(View object) {
  View kind = object.Get("kind");
  if (!kind.is_string()) {
    return nullptr;
  }
  for (const Carrier& carrier : kCarriers) {
    if (kind.string() == carrier.kind) {
      return &carrier;
    }
  }
  return nullptr;
}

}  // namespace

FieldPath FieldPath::With(Part part) const {
  FieldPath next = *this;
  if (next.size_ < next.parts_.size()) {
    next.parts_[next.size_++] = part;
  }
  return next;
}

std::string FieldPath::str() const {
  std::string out = *base_;
  for (std::size_t i = 0; i < size_; ++i) {
    const Part& part = parts_[i];
    if (part.index == kKey) {
      if (!out.empty()) {
        out += '.';
      }
      out += part.key;
    } else if (part.index == kSubscript) {
      out += '[';
      out += part.key;
      out += ']';
    } else {
      out += '[' + std::to_string(part.index) + ']';
    }
  }
  return out;
}

template <typename View>
bool IsPodCarrier(View object) {
  return CarrierOf(object) != nullptr;
}

template <typename View>
core::Result<PodTemplateRef<View>> FindPodTemplate(View object) {
  const Carrier* carrier = CarrierOf(object);
  if (carrier == nullptr) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "kind: not a Pod or a kind with a pod template");
  }
  View at = object;
  std::string path;
  std::string_view rest = carrier->path;
  while (!rest.empty()) {
    std::size_t dot = rest.find('.');
    std::string_view key = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? "" : rest.substr(dot + 1);
    path += (path.empty() ? "" : ".") + std::string(key);
    at = at.Get(key);
    if (!at.is_object()) {
      return core::Fail(core::ErrorCode::kInvalidArgument, path + ": Required value");
    }
  }
  std::string prefix = path.empty() ? "" : path + ".";
  PodTemplateRef<View> ref;
  ref.metadata_path = prefix + "metadata";
  ref.spec_path = prefix + "spec";
  if (View metadata = at.Get("metadata"); metadata.is_object()) {
    ref.metadata = metadata;
  }
  ref.spec = at.Get("spec");
  if (!ref.spec.is_object()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, ref.spec_path + ": Required value");
  }
  return ref;
}

template <typename View>
std::vector<ContainerRef<View>> ContainersOf(const PodTemplateRef<View>& ref,
                                             std::vector<Violation>& out) {
  std::vector<ContainerRef<View>> containers;
  struct List {
    std::string_view key;
    ContainerKind kind;
  };
  static constexpr std::array<List, 3> kLists = {
      {{"initContainers", ContainerKind::kInit},
       {"containers", ContainerKind::kRegular},
       {"ephemeralContainers", ContainerKind::kEphemeral}}};
  const FieldPath spec(ref.spec_path);
  for (const List& list : kLists) {
    View items = ref.spec.Get(list.key);
    if (!items) {
      continue;
    }
    if (!items.is_array()) {
      out.push_back({"podSpec", spec.Key(list.key).str(), "Invalid value: must be a list"});
      continue;
    }
    items.ForEachItem([&](std::size_t i, View item) {
      containers.push_back({item, spec.Key(list.key).Index(i), list.kind});
    });
  }
  return containers;
}

template bool IsPodCarrier<NlohmannView>(NlohmannView);
template bool IsPodCarrier<DomView>(DomView);
template core::Result<PodTemplateRef<NlohmannView>> FindPodTemplate<NlohmannView>(NlohmannView);
template core::Result<PodTemplateRef<DomView>> FindPodTemplate<DomView>(DomView);
template std::vector<ContainerRef<NlohmannView>> ContainersOf<NlohmannView>(
    const PodTemplateRef<NlohmannView>&, std::vector<Violation>&);
template std::vector<ContainerRef<DomView>> ContainersOf<DomView>(const PodTemplateRef<DomView>&,
                                                                  std::vector<Violation>&);

}  // namespace botsec::policy::internal
