#include "json_fields.h"

#include <string>
#include <string_view>
#include <vector>

namespace botsec::policy::internal {

const Json* Get(const Json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) {
    return nullptr;
  }
  const auto& fields = object->get_ref<const Json::object_t&>();
  auto it = fields.find(key);
  if (it == fields.end() || it->second.is_null()) {
    return nullptr;
  }
  return &it->second;
}

std::vector<ContainerRef> ContainersOf(const PodTemplateRef& ref, std::vector<Violation>& out) {
  std::vector<ContainerRef> containers;
  struct List {
    const char* key;
    ContainerKind kind;
  };
  for (const List& list :
       {List{"initContainers", ContainerKind::kInit}, List{"containers", ContainerKind::kRegular},
        List{"ephemeralContainers", ContainerKind::kEphemeral}}) {
    const Json* items = Get(ref.spec, list.key);
    std::string path = ref.spec_path + "." + list.key;
    if (items == nullptr) {
      continue;
    }
    if (!items->is_array()) {
      out.push_back({"podSpec", path, "Invalid value: must be a list"});
      continue;
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
      containers.push_back({&(*items)[i], path + "[" + std::to_string(i) + "]", list.kind});
    }
  }
  return containers;
}

}  // namespace botsec::policy::internal
