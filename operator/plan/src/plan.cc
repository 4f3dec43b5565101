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

const Json* Field(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* key : path) {
    if (!at->is_object()) {
      return nullptr;
    }
    auto it = at->find(key);
    if (it == at->end()) {
      return nullptr;
    }
    at = &*it;
  }
  return at;
}

std::string Text(const Json& object, std::initializer_list<const char*> path) {
  const Json* value = Field(object, path);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

bool Terminating(const Json& object) {
  return !Text(object, {"metadata", "deletionTimestamp"}).empty();
}

Removal RemovalOf(const Json& object) {
  return {.api_version = Text(object, {"apiVersion"}),
          .kind = Text(object, {"kind"}),
          .namespace_ = Text(object, {"metadata", "namespace"}),
          .name = Text(object, {"metadata", "name"}),
          .uid = Text(object, {"metadata", "uid"})};
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
  const Json* statuses = Field(pod, {"status", "containerStatuses"});
  if (statuses == nullptr || !statuses->is_array()) {
    return std::nullopt;
  }
  for (const Json& status : *statuses) {
    if (Text(status, {"name"}) != api::kBotName) {
      continue;
    }
    api::BotState state;
    const Json* ready = Field(status, {"ready"});
    state.ready = ready != nullptr && ready->is_boolean() && ready->get<bool>();
    const Json* restarts = Field(status, {"restartCount"});
    state.restart_count =
        restarts != nullptr && restarts->is_number_integer() ? restarts->get<std::int32_t>() : 0;
    for (const char* name : {"waiting", "running", "terminated"}) {
      const Json* detail = Field(status, {"state", name});
      if (detail == nullptr || !detail->is_object()) {
        continue;
      }
      state.state = name == std::string_view("waiting")   ? "Waiting"
                    : name == std::string_view("running") ? "Running"
                                                          : "Terminated";
      state.reason = Text(*detail, {"reason"});
      state.message = Text(*detail, {"message"});
      if (const Json* code = Field(*detail, {"exitCode"});
          code != nullptr && code->is_number_integer()) {
        state.exit_code = code->get<std::int32_t>();
      }
    }
    return state;
  }
  return std::nullopt;
}

bool PodReady(const Json& pod) {
  const Json* conditions = Field(pod, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) {
    return false;
  }
  return std::ranges::any_of(*conditions, [](const Json& condition) {
    return Text(condition, {"type"}) == "Ready" && Text(condition, {"status"}) == "True";
  });
}

std::optional<Phase> PodPhase(const Json& pod) {
  std::string phase = Text(pod, {"status", "phase"});
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
  const Json* conditions = Field(ns, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) {
    return message;
  }
  for (const Json& condition : *conditions) {
    // ContentRemaining and FinalizersRemaining are a deletion in progress; these are failures.
    std::string type = Text(condition, {"type"});
    bool failure = type == "NamespaceDeletionDiscoveryFailure" ||
                   type == "NamespaceDeletionGroupVersionParsingFailure" ||
                   type == "NamespaceDeletionContentFailure";
    if (!failure || Text(condition, {"status"}) != "True") {
      continue;
    }
    message += (message.empty() ? "" : "; ") + Text(condition, {"type"}) + ": " +
               Text(condition, {"message"});
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
  return Text(object, {"kind"}) + "/" + Text(object, {"metadata", "name"});
}

bool Covers(const Json& observed, const Json& desired) {
  if (desired.is_object()) {
    if (!observed.is_object()) {
      return false;
    }
    for (const auto& [key, value] : desired.items()) {
      auto it = observed.find(key);
      if (it == observed.end() || !Covers(*it, value)) {
        return false;
      }
    }
    return true;
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

ReconcilePlan Plan(const Observed& observed, const api::SandboxSettings& settings) {
  ReconcilePlan plan;
  const api::BotSandbox& sandbox = observed.sandbox;
  const api::ObjectMeta& meta = sandbox.metadata;
  const std::string now = core::FormatRfc3339(observed.now);
  const std::vector<Condition>& before = sandbox.status.conditions;

  BotSandboxStatus status = sandbox.status;
  status.namespace_ =
      api::SandboxNamespaceName(settings.namespace_prefix, meta.namespace_, meta.name);
  status.observed_generation = meta.generation;
  status.conditions.clear();
  std::optional<std::chrono::system_clock::time_point> expires;
  if (sandbox.spec.lifetime) {
    if (auto created = core::ParseRfc3339(meta.creation_timestamp)) {
      expires = *created + sandbox.spec.lifetime->ttl;
      status.expires_at = core::FormatRfc3339(*expires);
    }
  } else {
    status.expires_at.clear();
  }

  const bool has_finalizer =
      std::ranges::find(meta.finalizers, api::kFinalizer) != meta.finalizers.end();
  const bool namespace_ours =
      observed.namespace_ &&
      Text(*observed.namespace_,
           {"metadata", "annotations", std::string(api::kOwnerUidAnnotation).c_str()}) == meta.uid;

  // Deletion: the namespace goes first, and with it everything in it; then the finalizer.
  if (meta.deletion_timestamp) {
    if (!has_finalizer) {
      return plan;
    }
    status.phase = Phase::kTerminating;
    status.pod_ip.clear();
    if (observed.namespace_ && namespace_ours) {
      std::string stuck = NamespaceConditions(*observed.namespace_);
      if (!Terminating(*observed.namespace_)) {
        plan.remove.push_back(RemovalOf(*observed.namespace_));
        plan.events.push_back(
            {"Normal", "Deleting", "deleting sandbox namespace " + status.namespace_});
      }
      SetCondition(
          status.conditions, before, kDegraded, !stuck.empty(),
          stuck.empty() ? "AsExpected" : "NamespaceStuck",
          stuck.empty() ? "" : "namespace " + status.namespace_ + " is not going away: " + stuck,
          meta.generation, now);
      SetCondition(status.conditions, before, kReady, false, "Terminating",
                   "waiting for namespace " + status.namespace_ + " to go", meta.generation, now);
      plan.requeue_after = std::chrono::seconds(5);
    } else {
      plan.remove_finalizer = true;
    }
    FinishStatus(observed, plan, std::move(status));
    return plan;
  }

  plan.add_finalizer = !has_finalizer;

  auto degraded = [&](const Problem& problem, Phase phase) {
    status.phase = phase;
    SetCondition(status.conditions, before, kReady, false, problem.reason, problem.message,
                 meta.generation, now);
    SetCondition(status.conditions, before, kDegraded, true, problem.reason, problem.message,
                 meta.generation, now);
    plan.events.push_back({"Warning", problem.reason, problem.message});
  };

  // Never adopt, change or delete a namespace that is not ours.
  if (observed.namespace_ && !namespace_ours) {
    degraded({"NamespaceConflict", "namespace " + status.namespace_ +
                                       " exists and does not belong to this BotSandbox; it is "
                                       "left alone"},
             Phase::kPending);
    FinishStatus(observed, plan, std::move(status));
    return plan;
  }

  const bool expired = expires && observed.now >= *expires;
  if (expired && sandbox.spec.lifetime->on_expiry == api::OnExpiry::kDelete) {
    plan.delete_sandbox = true;
    plan.events.push_back(
        {"Normal", "Expired",
         "the TTL of " + sandbox.spec.lifetime->ttl_text + " ran out: deleting the BotSandbox"});
    status.phase = Phase::kExpired;
    FinishStatus(observed, plan, std::move(status));
    return plan;
  }

  // The Secrets it may mirror: those its namespace labels for sandboxes.
  std::map<std::string, Json> mirrorable;
  std::vector<Problem> problems;
  std::vector<std::string> wanted = sandbox.spec.secrets;
  wanted.insert(wanted.end(), sandbox.spec.image_pull_secrets.begin(),
                sandbox.spec.image_pull_secrets.end());
  for (const std::string& name : wanted) {
    auto source = observed.source_secrets.find(name);
    if (source == observed.source_secrets.end()) {
      problems.push_back({"SecretNotFound", "Secret " + meta.namespace_ + "/" + name +
                                                " does not exist: the Pod waits for it"});
      continue;
    }
    if (Text(source->second,
             {"metadata", "labels", std::string(api::kSandboxAccessLabel).c_str()}) != "true") {
      problems.push_back(
          {"SecretNotShared", "Secret " + meta.namespace_ + "/" + name + " is not labelled " +
                                  std::string(api::kSandboxAccessLabel) +
                                  "=true, so it is not mirrored: the Pod waits for it"});
      continue;
    }
    mirrorable.emplace(name, source->second);
  }

  auto rendered = api::Render(sandbox, settings, mirrorable);
  if (!rendered) {
    degraded({"OutOfBounds", rendered.error().message}, Phase::kPending);
    FinishStatus(observed, plan, std::move(status));
    return plan;
  }
  for (const std::string& note : rendered->notes) {
    plan.events.push_back({"Warning", "EgressNarrowed", note});
  }

  // Never create a Pod our own webhook would refuse.
  if (auto violations = policy::Judge(rendered->pod, settings.policy); !violations) {
    problems.push_back({"PolicyViolation", violations.error().message});
  } else if (!violations->empty()) {
    std::string message = "the bot's Pod would break the policy: ";
    for (std::size_t i = 0; i < violations->size(); ++i) {
      const policy::Violation& v = (*violations)[i];
      message += (i == 0 ? "" : "; ") + v.field + ": " + v.message;
    }
    problems.insert(problems.begin(), {"PolicyViolation", message});
  }

  // The fences, in order, each written only when what is there differs.
  std::set<std::string> desired_keys;
  bool fences_in_place = true;
  const Condition* isolated_before = api::FindCondition(before, kIsolated);
  const bool was_isolated = isolated_before != nullptr && isolated_before->status == "True";
  for (const Json& fence : Fences(*rendered)) {
    std::string key = ChildKey(fence);
    desired_keys.insert(key);
    const Json* seen = nullptr;
    if (key.starts_with("Namespace/")) {
      seen = observed.namespace_ ? &*observed.namespace_ : nullptr;
    } else if (auto it = observed.children.find(key); it != observed.children.end()) {
      seen = &it->second;
    }
    if (seen != nullptr && Covers(*seen, fence)) {
      continue;
    }
    fences_in_place = false;
    plan.apply.push_back(fence);
    if (seen != nullptr || was_isolated) {
      plan.events.push_back({"Warning", "DriftRepaired",
                             std::string(seen != nullptr ? "restored " : "recreated ") + key +
                                 " in " + status.namespace_});
    } else if (key.starts_with("Namespace/")) {
      plan.events.push_back(
          {"Normal", "Creating", "creating sandbox namespace " + status.namespace_});
    }
  }
  // NetworkPolicies are ours alone: any other one could open a fence.
  bool foreign_policy = false;
  for (const auto& [key, child] : observed.children) {
    bool ours = Text(child, {"metadata", "labels", std::string(api::kManagedByLabel).c_str()}) ==
                api::kManagedBy;
    bool prunable = key.starts_with("NetworkPolicy/") ||
                    (ours && (key.starts_with("Secret/") || key.starts_with("Service/")));
    if (!prunable || desired_keys.contains(key) || Terminating(child)) {
      continue;
    }
    plan.remove.push_back(RemovalOf(child));
    if (!ours) {
      foreign_policy = true;
      plan.events.push_back({"Warning", "ForeignNetworkPolicyDeleted",
                             "deleted " + key + " in " + status.namespace_ +
                                 ": only the operator's NetworkPolicies may fence a sandbox"});
    }
  }

  // The Pod.
  const bool suspended = sandbox.spec.suspend;
  const Json* pod = nullptr;
  if (auto it = observed.children.find("Pod/" + std::string(api::kBotName));
      it != observed.children.end()) {
    pod = &it->second;
  }
  const bool hold = suspended || expired || !problems.empty();
  // A bot that ran to its end is not started again: known from its Pod while the Pod is there
  // (even while it is being deleted), and from the status this operator wrote once it is gone.
  const bool runs_once = sandbox.spec.restart_policy != "Always";
  const bool pod_of_spec =
      pod != nullptr &&
      Text(*pod, {"metadata", "annotations", std::string(api::kSpecHashAnnotation).c_str()}) ==
          rendered->pod_hash;
  const bool pod_finished =
      runs_once && pod_of_spec &&
      (PodPhase(*pod) == Phase::kSucceeded || PodPhase(*pod) == Phase::kFailed);
  const bool completed =
      pod_finished ||
      (runs_once &&
       (sandbox.status.phase == Phase::kSucceeded || sandbox.status.phase == Phase::kFailed) &&
       sandbox.status.observed_generation == meta.generation);
  if (pod != nullptr) {
    std::string hash =
        Text(*pod, {"metadata", "annotations", std::string(api::kSpecHashAnnotation).c_str()});
    if (!Terminating(*pod) && (hold || hash != rendered->pod_hash)) {
      plan.remove.push_back(RemovalOf(*pod));
      plan.events.push_back(
          {"Normal", hold ? "PodDeleted" : "PodReplaced",
           hold ? "deleted the bot's Pod: " + std::string(suspended ? "the sandbox is suspended"
                                                          : expired ? "the TTL ran out"
                                                                    : "it cannot run as specified")
                : "the spec changed: replacing the bot's Pod"});
    }
  } else if (!hold && !completed) {
    plan.apply.push_back(rendered->pod);
    plan.events.push_back(
        {"Normal", "PodCreated", "creating the bot's Pod in " + status.namespace_});
  }

  // Status from what was observed.
  const bool pod_current = pod_of_spec && !Terminating(*pod);
  const bool pod_reportable = pod_current || pod_finished;
  if (pod_reportable) {
    status.pod_name = Text(*pod, {"metadata", "name"});
    status.pod_ip = Text(*pod, {"status", "podIP"});
    status.start_time = Text(*pod, {"status", "startTime"});
    status.bot = BotStateOf(*pod);
  } else if (!completed) {
    status.pod_name.clear();
    status.pod_ip.clear();
    status.start_time.clear();
    status.bot.reset();
  }
  const bool ready = pod_current && PodReady(*pod);
  if (suspended) {
    status.phase = Phase::kSuspended;
  } else if (expired) {
    status.phase = Phase::kExpired;
  } else if (pod_reportable) {
    status.phase = PodPhase(*pod);
  } else if (!completed) {
    status.phase = Phase::kPending;
  }

  const bool isolated = fences_in_place && !foreign_policy;
  SetCondition(
      status.conditions, before, kIsolated, isolated,
      isolated ? "FencesInPlace" : (foreign_policy ? "ForeignNetworkPolicy" : "FencesApplying"),
      isolated ? "every fence of " + status.namespace_ + " is in place"
               : "the fences of " + status.namespace_ + " are being put in place",
      meta.generation, now);
  SetCondition(status.conditions, before, kPodReady, ready, ready ? "PodReady" : "PodNotReady",
               ready ? "the bot's Pod is ready" : "the bot's Pod is not ready", meta.generation,
               now);
  if (!problems.empty()) {
    SetCondition(status.conditions, before, kReady, false, problems.front().reason,
                 problems.front().message, meta.generation, now);
    SetCondition(status.conditions, before, kDegraded, true, problems.front().reason,
                 problems.front().message, meta.generation, now);
    for (const Problem& problem : problems) {
      plan.events.push_back({"Warning", problem.reason, problem.message});
    }
  } else {
    const bool finished = completed && !suspended && !expired;
    std::string why = suspended           ? "Suspended"
                      : expired           ? "Expired"
                      : finished          ? "Completed"
                      : ready && isolated ? "Running"
                                          : "Starting";
    SetCondition(status.conditions, before, kReady, ready && isolated, why,
                 ready && isolated ? "the bot is running in its sandbox"
                 : suspended       ? "the sandbox is suspended"
                 : expired         ? "the TTL ran out; the sandbox is kept for inspection"
                 : finished        ? "the bot ran to its end and is not restarted"
                                   : "the sandbox is starting",
                 meta.generation, now);
    SetCondition(status.conditions, before, kDegraded, false, "AsExpected", "", meta.generation,
                 now);
  }

  if (expires && !expired) {
    plan.requeue_after = std::chrono::ceil<std::chrono::seconds>(*expires - observed.now);
  }
  FinishStatus(observed, plan, std::move(status));
  return plan;
}

}  // namespace botsec::operator_plan
