// Reading a pod spec as JSON the way the API server's decoder sees it: an absent field and a null
// one are the same; containers of the three kinds with their field paths.
#ifndef BOTSEC_POLICY_SRC_JSON_FIELDS_H_
#define BOTSEC_POLICY_SRC_JSON_FIELDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "botsec/policy/engine.h"

namespace botsec::policy::internal {

// The field `key` of `object`, or nullptr when `object` is not an object or the field is absent or
// null.
const Json* Get(const Json* object, std::string_view key);

enum class ContainerKind { kInit, kRegular, kEphemeral };

struct ContainerRef {
  const Json* json;
  std::string path;  // "spec.initContainers[0]"
  ContainerKind kind;
};

// initContainers, containers and ephemeralContainers, in upstream's order. A list that is not a
// list is reported in `out` (check "podSpec") and skipped.
std::vector<ContainerRef> ContainersOf(const PodTemplateRef& ref, std::vector<Violation>& out);

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_JSON_FIELDS_H_
