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

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

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

std::vector<ContainerRef> ContainersOf(const PodTemplateRef& ref, std::vector<Violation>& out) {
  std::vector<ContainerRef> containers;
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
    const Json* items = Get(ref.spec, list.key);
    if (items == nullptr) {
      continue;
    }
    if (!items->is_array()) {
      out.push_back({"podSpec", spec.Key(list.key).str(), "Invalid value: must be a list"});
      continue;
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
      containers.push_back({&(*items)[i], spec.Key(list.key).Index(i), list.kind});
    }
  }
  return containers;
}

}  // namespace botsec::policy::internal
