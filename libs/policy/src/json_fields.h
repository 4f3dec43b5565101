// Reading a pod spec as JSON the way the API server's decoder sees it (an absent field and a null
// one are the same), the containers of the three kinds, and field paths that cost nothing until a
// violation needs one written out.
#ifndef BOTSEC_POLICY_SRC_JSON_FIELDS_H_
#define BOTSEC_POLICY_SRC_JSON_FIELDS_H_

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/policy/engine.h"

namespace botsec::policy::internal {

// The field `key` of `object`, or nullptr when `object` is not an object or the field is absent or
// null.
const Json* Get(const Json* object, std::string_view key);

// A value as JSON text for a message; bytes that are not UTF-8 become U+FFFD instead of throwing.
std::string Dump(const Json& value);

// "spec.containers[0].securityContext.privileged", kept as parts (views of literals and of the
// judged object, which outlive it) and written out by str() only when reported.
class FieldPath {
 public:
  explicit FieldPath(const std::string& base) : base_(&base) {}

  [[nodiscard]] FieldPath Key(std::string_view key) const { return With({key, kKey}); }
  [[nodiscard]] FieldPath Index(std::size_t index) const {
    return With({{}, static_cast<long>(index)});
  }
  // `[key]`, as in metadata.annotations[container.apparmor.security.beta.kubernetes.io/main].
  [[nodiscard]] FieldPath Subscript(std::string_view key) const { return With({key, kSubscript}); }
  [[nodiscard]] std::string str() const;

 private:
  static constexpr long kKey = -1;
  static constexpr long kSubscript = -2;
  struct Part {
    std::string_view key;
    long index;  // >= 0 an index; kKey or kSubscript
  };
  [[nodiscard]] FieldPath With(Part part) const;

  const std::string* base_;
  std::array<Part, 8> parts_{};
  std::size_t size_ = 0;
};

enum class ContainerKind { kInit, kRegular, kEphemeral };

struct ContainerRef {
  const Json* json;
  FieldPath path;  // spec.initContainers[0]
  ContainerKind kind;
};

// initContainers, containers and ephemeralContainers, in upstream's order. A list that is not a
// list is reported in `out` (check "podSpec") and skipped.
std::vector<ContainerRef> ContainersOf(const PodTemplateRef& ref, std::vector<Violation>& out);

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_JSON_FIELDS_H_
