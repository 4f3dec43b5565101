// The isolation engine: judges a Pod, or anything carrying a pod template, and returns every
// violation with its exact field path — never only the first.
//
// Profiles:
//  - pss-baseline, pss-restricted: exactly upstream's Pod Security Standards at Kubernetes v1.37
//    (k8s.io/pod-security-admission v0.37.2), user-namespace (hostUsers: false) relaxations and the
//    Windows exemptions included. Verified against upstream's own fixtures.
//  - bot: restricted, without the Windows exemptions (a bot pod does not get to skip checks by
//    declaring another OS), plus read-only root filesystem, cpu and memory limits, no service
//    account token, and the runtime class and image rules the policy configures (policy.h).
//
// Pure and thread-compatible: no I/O, no clock, no shared state.
#ifndef BOTSEC_POLICY_ENGINE_H_
#define BOTSEC_POLICY_ENGINE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::policy {

using Json = nlohmann::json;

enum class Profile { kPssBaseline, kPssRestricted, kBot };

// "pss-baseline", "pss-restricted", "bot".
std::string_view ProfileName(Profile profile);
core::Result<Profile> ParseProfile(std::string_view name);

struct Violation {
  std::string check;    // upstream's check ID where there is one: "runAsNonRoot"
  std::string field;    // "spec.containers[0].securityContext.runAsNonRoot"
  std::string message;  // apimachinery's words: "Required value: must be true ..."

  friend bool operator==(const Violation&, const Violation&) = default;
};

// True for a Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
// ReplicationController or PodTemplate: the kinds Judge finds a pod spec in.
bool IsPodCarrier(const Json& object);

struct Policy;

// At most this many violations are listed for one object, and then one more saying so: a
// manifest crafted to break every check in a million containers costs bounded memory.
inline constexpr std::size_t kMaxViolations = 1000;

// Every violation of `policy` in the pod spec of `object` (a pod carrier). The checks read the
// spec as the API server stores it; a value of the wrong type is itself a violation (fail
// closed). Containers whose image an exemption names skip the container checks; namespace
// exemptions are the caller's (the webhook knows the namespace, a manifest on disk does not).
// Fails (kInvalidArgument) for other kinds, or when the object has no pod spec where its kind
// keeps one. dom.h has the same over simdjson's DOM.
core::Result<std::vector<Violation>> Judge(const Json& object, const Policy& policy);
// The same with the default settings of one profile.
core::Result<std::vector<Violation>> Judge(const Json& object, Profile profile);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_ENGINE_H_
