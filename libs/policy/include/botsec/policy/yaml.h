// YAML documents read as Kubernetes reads them (sigs.k8s.io/yaml, YAML 1.1 scalars): so that what
// `botsec check` judges offline is what kubectl would send. In particular `yes`, `on`, `y` are
// true and `no`, `off`, `n` false when unquoted, as kubectl reads them; a checker that read them as
// strings would pass `hostNetwork: yes`.
//
// Multi-document streams, anchors and aliases, and merge keys (`<<: *base`) are supported.
// Errors name where: "line 3, column 7: ...".
#ifndef BOTSEC_POLICY_YAML_H_
#define BOTSEC_POLICY_YAML_H_

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::policy {

using Json = nlohmann::json;

// One document of a stream, as JSON, with the line it starts on (1-based).
struct YamlDocument {
  Json value;
  int index = 1;  // its place in the stream, 1-based, empty documents counted
  int line = 1;
};

// Every document in `text`; empty documents are left out. Fails (kInvalidArgument) on malformed
// YAML, a mapping key that is not a scalar, or a duplicate key.
core::Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_YAML_H_
