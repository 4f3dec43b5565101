// yaml-cpp's LoadAll, guarded. yaml-cpp 0.7 (Debian 12) never returns on some malformed streams: a
// flow separator at the top level (`"a",b`) makes it emit an empty document at the same place
// forever, allocating as it goes. LoadYamlNodes first walks the stream's events, refusing a
// document that starts where the last one did and any stream with more events than its length can
// hold, and only then builds the nodes.
#ifndef BOTSEC_POLICY_SRC_YAML_LOAD_H_
#define BOTSEC_POLICY_SRC_YAML_LOAD_H_

#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "botsec/core/result.h"

namespace botsec::policy {

// "line L, column C" for a yaml-cpp mark (1-based).
std::string YamlWhere(const YAML::Mark& mark);

// Every document of `text`, empty ones included. Fails (kInvalidArgument) naming line and column.
core::Result<std::vector<YAML::Node>> LoadYamlNodes(std::string_view text);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_SRC_YAML_LOAD_H_
