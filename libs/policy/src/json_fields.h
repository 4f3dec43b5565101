// Where a pod spec is in an object, the containers of the three kinds, and field paths that cost
// nothing until a violation needs one written out; over either JSON view (json_view.h).
#ifndef BOTSEC_POLICY_SRC_JSON_FIELDS_H_
#define BOTSEC_POLICY_SRC_JSON_FIELDS_H_

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/result.h"
#include "botsec/policy/engine.h"
#include "json_view.h"

namespace botsec::policy::internal {

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

// Where the pod spec of an object is, and its metadata (annotations count for some checks).
template <typename View>
struct PodTemplateRef {
  View metadata;  // false for a template without metadata
  View spec;
  std::string metadata_path;  // "metadata", "spec.template.metadata", ...
  std::string spec_path;      // "spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec"
};

// Whether `object` is a Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
// ReplicationController or PodTemplate.
template <typename View>
bool IsPodCarrier(View object);

// Finds the pod spec of a pod carrier. Fails (kInvalidArgument) for other kinds, or when the
// object has no pod spec where its kind keeps one.
template <typename View>
core::Result<PodTemplateRef<View>> FindPodTemplate(View object);

enum class ContainerKind { kInit, kRegular, kEphemeral };

template <typename View>
struct ContainerRef {
  View json;
  FieldPath path;  // spec.initContainers[0]
  ContainerKind kind;
};

// initContainers, containers and ephemeralContainers, in upstream's order. A list that is not a
// list is reported in `out` (check "podSpec") and skipped.
template <typename View>
std::vector<ContainerRef<View>> ContainersOf(const PodTemplateRef<View>& ref,
                                             std::vector<Violation>& out);

// A string's bytes, or "" for anything else.
template <typename View>
std::string_view StringOf(View value) {
  return value.is_string() ? value.string() : std::string_view();
}

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_JSON_FIELDS_H_
