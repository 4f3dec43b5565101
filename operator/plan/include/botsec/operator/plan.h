// The reconcile decided in one pure function: Plan(observed, settings) says what the cluster
// should get — the finalizer, the objects to apply in order, the objects to delete, the new
// status, events, and when to look again. It needs no client, clock or thread; the reconciler
// (operator/reconcile) gathers `Observed` from its caches and carries the plan out.
//
// Writes are planned only where the observed object differs from the desired one, so a resync of
// a converged sandbox plans nothing at all.
#ifndef BOTSEC_OPERATOR_PLAN_H_
#define BOTSEC_OPERATOR_PLAN_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "botsec/api/bot_sandbox.h"
#include "botsec/api/render.h"

namespace botsec::operator_plan {

using api::Json;

// What the reconciler saw, for one BotSandbox.
struct Observed {
  api::BotSandbox sandbox;
  // The sandbox namespace, when one of that name exists (ours or not).
  std::optional<Json> namespace_;
  // The objects in the sandbox namespace, keyed "Kind/name": ours and any NetworkPolicy.
  std::map<std::string, Json> children;
  // Secrets the sandbox names, as found in its BotSandbox's namespace (labelled or not).
  std::map<std::string, Json> source_secrets;
  std::chrono::system_clock::time_point now;
};

// An object to delete, with the uid it must still have.
struct Removal {
  std::string api_version;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;

  friend bool operator==(const Removal&, const Removal&) = default;
};

struct EventNote {
  std::string type;  // Normal or Warning
  std::string reason;
  std::string message;

  friend bool operator==(const EventNote&, const EventNote&) = default;
};

struct ReconcilePlan {
  bool add_finalizer = false;
  bool remove_finalizer = false;
  bool delete_sandbox = false;                  // the TTL ran out under onExpiry: Delete
  std::vector<Json> apply;                      // in this order: namespace, fences, then the Pod
  std::vector<Removal> remove;                  // the Pod to replace, foreign NetworkPolicies, ...
  std::optional<api::BotSandboxStatus> status;  // set when it differs from the observed one
  std::vector<EventNote> events;
  std::optional<std::chrono::seconds> requeue_after;
};

// The condition types the operator keeps.
inline constexpr std::string_view kReady = "Ready";
inline constexpr std::string_view kIsolated = "Isolated";
inline constexpr std::string_view kPodReady = "PodReady";
inline constexpr std::string_view kDegraded = "Degraded";

// "Kind/name", the key of Observed::children.
std::string ChildKey(const Json& object);

// Whether every field `desired` sets has that value in `observed` (maps compared key by key,
// lists element by element): what the server adds (defaults, status, metadata) does not count.
bool Covers(const Json& observed, const Json& desired);

ReconcilePlan Plan(const Observed& observed, const api::SandboxSettings& settings);

}  // namespace botsec::operator_plan

#endif  // BOTSEC_OPERATOR_PLAN_H_
