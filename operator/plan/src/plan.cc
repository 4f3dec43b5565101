#include "botsec/operator/plan.h"

#include <algorithm>
#include <set>
#include <utility>

#include "botsec/core/time.h"
#include "botsec/policy/engine.h"

namespace botsec::operator_plan {
namespace {

using api::BotSandboxStatus;
using api::Condition;
using api::Phase;

using api::FieldAt;
using api::TextAt;

bool Terminating(const Json& object) {
  return !TextAt(object, {"metadata", "deletionTimestamp"}).empty();
}

Removal RemovalOf(const Json& object) {
  return {.api_version = TextAt(object, {"apiVersion"}),
          .kind = TextAt(object, {"kind"}),
          .namespace_ = TextAt(object, {"metadata", "namespace"}),
          .name = TextAt(object, {"metadata", "name"}),
          .uid = TextAt(object, {"metadata", "uid"})};
}

// Sets condition `type`, keeping its lastTransitionTime when its status does not change.
void SetCondition(std::vector<Condition>& conditions, const std::vector<Condition>& before,
                  std::string_view type, bool value, std::string reason, std::string message,
                  std::int64_t generation, const std::string& now) {
  Condition condition{.type = std::string(type),
                      .status = value ? "True" : "False",
                      .reason = std::move(reason),
                      .message = std::move(message),
                      .last_transition_time = now,
                      .observed_generation = generation};
  if (const Condition* old = api::FindCondition(before, type);
      old != nullptr && old->status == condition.status) {
    condition.last_transition_time = old->last_transition_time;
  }
  conditions.push_back(std::move(condition));
}

// Problems that keep the bot from running, first one wins the Degraded condition's reason.
struct Problem {
  std::string reason;
  std::string message;
};

// The bot container's state, from the Pod's status.
std::optional<api::BotState> BotStateOf(const Json& pod) {
  const Json* statuses = FieldAt(pod, {"status", "containerStatuses"});
  if (statuses == nullptr || !statuses->is_array()) {
    return std::nullopt;
  }
  for (const Json& status : *statuses) {
    if (TextAt(status, {"name"}) != api::kBotName) {
      continue;
    }
    api::BotState state;
    const Json* ready = FieldAt(status, {"ready"});
    state.ready = ready != nullptr && ready->is_boolean() && ready->get<bool>();
    const Json* restarts = FieldAt(status, {"restartCount"});
    state.restart_count =
        restarts != nullptr && restarts->is_number_integer() ? restarts->get<std::int32_t>() : 0;
    for (const char* name : {"waiting", "running", "terminated"}) {
      const Json* detail = FieldAt(status, {"state", name});
      if (detail == nullptr || !detail->is_object()) {
        continue;
      }
      state.state = name == std::string_view("waiting")   ? "Waiting"
                    : name == std::string_view("running") ? "Running"
                                                          : "Terminated";
      state.reason = TextAt(*detail, {"reason"});
      state.message = TextAt(*detail, {"message"});
      if (const Json* code = FieldAt(*detail, {"exitCode"});
          code != nullptr && code->is_number_integer()) {
        state.exit_code = code->get<std::int32_t>();
      }
    }
    return state;
  }
  return std::nullopt;
}

bool PodReady(const Json& pod) {
  const Json* conditions = FieldAt(pod, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) {
    return false;
  }
  return std::ranges::any_of(*conditions, [](const Json& condition) {
    return TextAt(condition, {"type"}) == "Ready" && TextAt(condition, {"status"}) == "True";
  });
}

std::optional<Phase> PodPhase(const Json& pod) {
  std::string phase = TextAt(pod, {"status", "phase"});
  if (phase == "Running") {
    return Phase::kRunning;
  }
  if (phase == "Succeeded") {
    return Phase::kSucceeded;
  }
  if (phase == "Failed") {
    return Phase::kFailed;
  }
  return Phase::kPending;
}

// The sandbox namespace's own conditions, for a Degraded message when it will not go.
std::string NamespaceConditions(const Json& ns) {
  std::string message;
  const Json* conditions = FieldAt(ns, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) {
    return message;
  }
  for (const Json& condition : *conditions) {
    // ContentRemaining and FinalizersRemaining are a deletion in progress; these are failures.
    std::string type = TextAt(condition, {"type"});
    bool failure = type == "NamespaceDeletionDiscoveryFailure" ||
                   type == "NamespaceDeletionGroupVersionParsingFailure" ||
                   type == "NamespaceDeletionContentFailure";
    if (!failure || TextAt(condition, {"status"}) != "True") {
      continue;
    }
    message += (message.empty() ? "" : "; ") + TextAt(condition, {"type"}) + ": " +
               TextAt(condition, {"message"});
  }
  return message;
}

std::vector<Json> Fences(const api::RenderedSandbox& rendered) {
  std::vector<Json> fences = {rendered.namespace_, rendered.service_account,
                              rendered.resource_quota, rendered.limit_range};
  fences.insert(fences.end(), rendered.network_policies.begin(), rendered.network_policies.end());
  fences.insert(fences.end(), rendered.secrets.begin(), rendered.secrets.end());
  if (rendered.service) {
    fences.push_back(*rendered.service);
  }
  return fences;
}

// The API server keeps a list-map's entries in its own order: conditions compare as a set.
BotSandboxStatus Canonical(BotSandboxStatus status) {
  std::ranges::sort(status.conditions, {}, &Condition::type);
  return status;
}

void FinishStatus(const Observed& observed, ReconcilePlan& plan, BotSandboxStatus status) {
  if (!(Canonical(status) == Canonical(observed.sandbox.status))) {
    plan.status = std::move(status);
  }
}

}  // namespace

std::string ChildKey(const Json& object) {
  return TextAt(object, {"kind"}) + "/" + TextAt(object, {"metadata", "name"});
}

bool Covers(const Json& observed, const Json& desired) {
  if (desired.is_object()) {
    if (!observed.is_object()) {
      return false;
    }
    const auto& fields = desired.get_ref<const Json::object_t&>();
    return std::ranges::all_of(fields, [&](const auto& field) {
      auto it = observed.find(field.first);
      return it != observed.end() && Covers(*it, field.second);
    });
  }
  if (desired.is_array()) {
    if (!observed.is_array() || observed.size() != desired.size()) {
      return false;
    }
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (!Covers(observed[i], desired[i])) {
        return false;
      }
    }
    return true;
  }
  return observed == desired;
}

namespace {

// One reconcile's decisions, step by step; Plan runs the steps in order.
class Planner {
 public:
  Planner(const Observed& observed, const api::SandboxSettings& settings)
      : observed_(observed),
        settings_(settings),
        sandbox_(observed.sandbox),
        meta_(observed.sandbox.metadata),
        now_(core::FormatRfc3339(observed.now)),
        before_(observed.sandbox.status.conditions),
        status_(observed.sandbox.status) {
    status_.namespace_ =
        api::SandboxNamespaceName(settings.namespace_prefix, meta_.namespace_, meta_.name);
    status_.observed_generation = meta_.generation;
    status_.conditions.clear();
    status_.expires_at.clear();
    if (sandbox_.spec.lifetime) {
      if (auto created = core::ParseRfc3339(meta_.creation_timestamp)) {
        expires_ = *created + sandbox_.spec.lifetime->ttl;
        status_.expires_at = core::FormatRfc3339(*expires_);
      }
    }
    expired_ = expires_ && observed.now >= *expires_;
    namespace_ours_ = observed.namespace_ &&
                      TextAt(*observed.namespace_,
                             {"metadata", "annotations", api::kOwnerUidAnnotation}) == meta_.uid;
  }

  ReconcilePlan Run() && {
    if (meta_.deletion_timestamp) {
      Delete();
    } else if (Start()) {
      auto rendered = api::Render(sandbox_, settings_, MirrorableSecrets());
      if (!rendered) {
        Degraded({"OutOfBounds", rendered.error().message});
      } else {
        for (const std::string& note : rendered->notes) {
          plan_.events.push_back({"Warning", "EgressNarrowed", note});
        }
        CheckPolicy(rendered->pod);
        Fences(*rendered);
        Prune();
        Pod(*rendered);
      }
    }
    FinishStatus(observed_, plan_, std::move(status_));
    return std::move(plan_);
  }

 private:
  void Set(std::string_view type, bool value, std::string reason, std::string message) {
    SetCondition(status_.conditions, before_, type, value, std::move(reason), std::move(message),
                 meta_.generation, now_);
  }

  // Deletion: the namespace goes first, and with it everything in it; then the finalizer.
  void Delete() {
    if (std::ranges::find(meta_.finalizers, api::kFinalizer) == meta_.finalizers.end()) {
      status_ = sandbox_.status;  // not ours to finish
      return;
    }
    status_.phase = Phase::kTerminating;
    status_.pod_ip.clear();
    if (!observed_.namespace_ || !namespace_ours_) {
      plan_.remove_finalizer = true;
      return;
    }
    if (!Terminating(*observed_.namespace_)) {
      plan_.remove.push_back(RemovalOf(*observed_.namespace_));
      plan_.events.push_back(
          {"Normal", "Deleting", "deleting sandbox namespace " + status_.namespace_});
    }
    std::string stuck = NamespaceConditions(*observed_.namespace_);
    Set(kDegraded, !stuck.empty(), stuck.empty() ? "AsExpected" : "NamespaceStuck",
        stuck.empty() ? "" : "namespace " + status_.namespace_ + " is not going away: " + stuck);
    Set(kReady, false, "Terminating", "waiting for namespace " + status_.namespace_ + " to go");
    plan_.requeue_after = std::chrono::seconds(5);
  }

  // The finalizer, a namespace that is not ours, the TTL under onExpiry: Delete. False when
  // there is nothing more to do.
  bool Start() {
    plan_.add_finalizer =
        std::ranges::find(meta_.finalizers, api::kFinalizer) == meta_.finalizers.end();
    if (observed_.namespace_ && !namespace_ours_) {
      // Never adopt, change or delete a namespace that is not ours.
      Degraded({"NamespaceConflict", "namespace " + status_.namespace_ +
                                         " exists and does not belong to this BotSandbox; it is "
                                         "left alone"});
      return false;
    }
    if (expired_ && sandbox_.spec.lifetime->on_expiry == api::OnExpiry::kDelete) {
      plan_.delete_sandbox = true;
      plan_.events.push_back(
          {"Normal", "Expired",
           "the TTL of " + sandbox_.spec.lifetime->ttl_text + " ran out: deleting the BotSandbox"});
      status_.phase = Phase::kExpired;
      return false;
    }
    if (expires_ && !expired_) {
      plan_.requeue_after = std::chrono::ceil<std::chrono::seconds>(*expires_ - observed_.now);
    }
    return true;
  }

  void Degraded(const Problem& problem) {
    status_.phase = Phase::kPending;
    Set(kReady, false, problem.reason, problem.message);
    Set(kDegraded, true, problem.reason, problem.message);
    plan_.events.push_back({"Warning", problem.reason, problem.message});
  }

  // The Secrets it may mirror: those its namespace labels for sandboxes.
  std::map<std::string, Json> MirrorableSecrets() {
    std::map<std::string, Json> mirrorable;
    std::vector<std::string> wanted = sandbox_.spec.secrets;
    wanted.insert(wanted.end(), sandbox_.spec.image_pull_secrets.begin(),
                  sandbox_.spec.image_pull_secrets.end());
    for (const std::string& name : wanted) {
      std::string full = meta_.namespace_ + "/" + name;
      auto source = observed_.source_secrets.find(name);
      if (source == observed_.source_secrets.end()) {
        problems_.push_back(
            {"SecretNotFound", "Secret " + full + " does not exist: the Pod waits for it"});
      } else if (TextAt(source->second, {"metadata", "labels", api::kSandboxAccessLabel}) !=
                 "true") {
        problems_.push_back(
            {"SecretNotShared", "Secret " + full + " is not labelled " +
                                    std::string(api::kSandboxAccessLabel) +
                                    "=true, so it is not mirrored: the Pod waits for it"});
      } else {
        mirrorable.emplace(name, source->second);
      }
    }
    return mirrorable;
  }

  // Never create a Pod our own webhook would refuse.
  void CheckPolicy(const Json& pod) {
    auto violations = policy::Judge(pod, settings_.policy);
    if (!violations) {
      problems_.insert(problems_.begin(), {"PolicyViolation", violations.error().message});
      return;
    }
    if (violations->empty()) {
      return;
    }
    std::string message = "the bot's Pod would break the policy: ";
    for (std::size_t i = 0; i < violations->size(); ++i) {
      const policy::Violation& v = (*violations)[i];
      message += (i == 0 ? "" : "; ") + v.field + ": " + v.message;
    }
    problems_.insert(problems_.begin(), {"PolicyViolation", std::move(message)});
  }

  // The fences, in order, each written only when what is there differs.
  void Fences(const api::RenderedSandbox& rendered) {
    const Condition* isolated_before = api::FindCondition(before_, kIsolated);
    const bool was_isolated = isolated_before != nullptr && isolated_before->status == "True";
    for (const Json& fence : operator_plan::Fences(rendered)) {
      std::string key = ChildKey(fence);
      desired_keys_.insert(key);
      const Json* seen = nullptr;
      if (key.starts_with("Namespace/")) {
        seen = observed_.namespace_ ? &*observed_.namespace_ : nullptr;
      } else if (auto it = observed_.children.find(key); it != observed_.children.end()) {
        seen = &it->second;
      }
      if (seen != nullptr && Covers(*seen, fence)) {
        continue;
      }
      fences_in_place_ = false;
      plan_.apply.push_back(fence);
      if (seen != nullptr || was_isolated) {
        plan_.events.push_back({"Warning", "DriftRepaired",
                                std::string(seen != nullptr ? "restored " : "recreated ") + key +
                                    " in " + status_.namespace_});
      } else if (key.starts_with("Namespace/")) {
        plan_.events.push_back(
            {"Normal", "Creating", "creating sandbox namespace " + status_.namespace_});
      }
    }
  }

  // NetworkPolicies are ours alone: any other one could open a fence.
  void Prune() {
    for (const auto& [key, child] : observed_.children) {
      bool ours = TextAt(child, {"metadata", "labels", api::kManagedByLabel}) == api::kManagedBy;
      bool prunable = key.starts_with("NetworkPolicy/") ||
                      (ours && (key.starts_with("Secret/") || key.starts_with("Service/")));
      if (!prunable || desired_keys_.contains(key) || Terminating(child)) {
        continue;
      }
      plan_.remove.push_back(RemovalOf(child));
      if (!ours) {
        foreign_policy_ = true;
        plan_.events.push_back({"Warning", "ForeignNetworkPolicyDeleted",
                                "deleted " + key + " in " + status_.namespace_ +
                                    ": only the operator's NetworkPolicies may fence a sandbox"});
      }
    }
  }

  void Pod(const api::RenderedSandbox& rendered) {
    const Json* pod = nullptr;
    if (auto it = observed_.children.find("Pod/" + std::string(api::kBotName));
        it != observed_.children.end()) {
      pod = &it->second;
    }
    const bool suspended = sandbox_.spec.suspend;
    const bool hold = suspended || expired_ || !problems_.empty();
    // A bot that ran to its end is not started again: known from its Pod while the Pod is there
    // (even while it is being deleted), and from the status this operator wrote once it is gone.
    const bool runs_once = sandbox_.spec.restart_policy != "Always";
    const std::string hash =
        pod == nullptr ? "" : TextAt(*pod, {"metadata", "annotations", api::kSpecHashAnnotation});
    const bool pod_of_spec = pod != nullptr && hash == rendered.pod_hash;
    const bool pod_finished =
        runs_once && pod_of_spec &&
        (PodPhase(*pod) == Phase::kSucceeded || PodPhase(*pod) == Phase::kFailed);
    const bool completed =
        pod_finished ||
        (runs_once &&
         (sandbox_.status.phase == Phase::kSucceeded || sandbox_.status.phase == Phase::kFailed) &&
         sandbox_.status.observed_generation == meta_.generation);
    if (pod != nullptr && !Terminating(*pod) && (hold || !pod_of_spec)) {
      plan_.remove.push_back(RemovalOf(*pod));
      std::string why = suspended  ? "the sandbox is suspended"
                        : expired_ ? "the TTL ran out"
                                   : "it cannot run as specified";
      plan_.events.push_back(
          {"Normal", hold ? "PodDeleted" : "PodReplaced",
           hold ? "deleted the bot's Pod: " + why : "the spec changed: replacing the bot's Pod"});
    } else if (pod == nullptr && !hold && !completed) {
      plan_.apply.push_back(rendered.pod);
      plan_.events.push_back(
          {"Normal", "PodCreated", "creating the bot's Pod in " + status_.namespace_});
    }
    const bool pod_current = pod_of_spec && !Terminating(*pod);
    Report(pod_current || pod_finished ? pod : nullptr, pod_current && PodReady(*pod), completed);
  }

  // Status from what was observed: `pod` is the bot's Pod when it speaks for the current spec.
  void Report(const Json* pod, bool ready, bool completed) {
    const bool suspended = sandbox_.spec.suspend;
    if (pod != nullptr) {
      status_.pod_name = TextAt(*pod, {"metadata", "name"});
      status_.pod_ip = TextAt(*pod, {"status", "podIP"});
      status_.start_time = TextAt(*pod, {"status", "startTime"});
      status_.bot = BotStateOf(*pod);
    } else if (!completed) {
      status_.pod_name.clear();
      status_.pod_ip.clear();
      status_.start_time.clear();
      status_.bot.reset();
    }
    if (suspended) {
      status_.phase = Phase::kSuspended;
    } else if (expired_) {
      status_.phase = Phase::kExpired;
    } else if (pod != nullptr) {
      status_.phase = PodPhase(*pod);
    } else if (!completed) {
      status_.phase = Phase::kPending;
    }
    const bool isolated = fences_in_place_ && !foreign_policy_;
    Set(kIsolated, isolated,
        isolated ? "FencesInPlace" : (foreign_policy_ ? "ForeignNetworkPolicy" : "FencesApplying"),
        isolated ? "every fence of " + status_.namespace_ + " is in place"
                 : "the fences of " + status_.namespace_ + " are being put in place");
    Set(kPodReady, ready, ready ? "PodReady" : "PodNotReady",
        ready ? "the bot's Pod is ready" : "the bot's Pod is not ready");
    if (!problems_.empty()) {
      Set(kReady, false, problems_.front().reason, problems_.front().message);
      Set(kDegraded, true, problems_.front().reason, problems_.front().message);
      for (const Problem& problem : problems_) {
        plan_.events.push_back({"Warning", problem.reason, problem.message});
      }
      return;
    }
    const bool running = ready && isolated;
    const bool finished = completed && !suspended && !expired_;
    std::pair<std::string, std::string> why =
        suspended  ? std::pair{"Suspended", "the sandbox is suspended"}
        : expired_ ? std::pair{"Expired", "the TTL ran out; the sandbox is kept for inspection"}
        : finished ? std::pair{"Completed", "the bot ran to its end and is not restarted"}
        : running  ? std::pair{"Running", "the bot is running in its sandbox"}
                   : std::pair{"Starting", "the sandbox is starting"};
    Set(kReady, running, why.first, why.second);
    Set(kDegraded, false, "AsExpected", "");
  }

  const Observed& observed_;
  const api::SandboxSettings& settings_;
  const api::BotSandbox& sandbox_;
  const api::ObjectMeta& meta_;
  const std::string now_;
  const std::vector<Condition>& before_;
  BotSandboxStatus status_;
  std::optional<std::chrono::system_clock::time_point> expires_;
  bool expired_ = false;
  bool namespace_ours_ = false;
  ReconcilePlan plan_;
  std::vector<Problem> problems_;
  std::set<std::string> desired_keys_;
  bool fences_in_place_ = true;
  bool foreign_policy_ = false;
};

}  // namespace

ReconcilePlan Plan(const Observed& observed, const api::SandboxSettings& settings) {
  return Planner(observed, settings).Run();
}

}  // namespace botsec::operator_plan
