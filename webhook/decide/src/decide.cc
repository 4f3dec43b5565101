#include "botsec/webhook/decide.h"

#include <algorithm>
#include <set>
#include <utility>

#include "botsec/api/bot_sandbox.h"
#include "botsec/policy/dom.h"

namespace botsec::webhook {
namespace {

using policy::Violation;

bool IsWorkload(const GroupVersionResource& resource) {
  static const std::set<std::pair<std::string_view, std::string_view>> kWorkloads = {
      {"apps", "deployments"},  {"apps", "replicasets"},
      {"apps", "statefulsets"}, {"apps", "daemonsets"},
      {"batch", "jobs"},        {"batch", "cronjobs"},
      {"", "podtemplates"},     {"", "replicationcontrollers"},
  };
  return kWorkloads.contains({resource.group, resource.resource});
}

bool IsFence(const GroupVersionResource& resource) {
  static const std::set<std::pair<std::string_view, std::string_view>> kFences = {
      {"networking.k8s.io", "networkpolicies"},
      {"", "resourcequotas"},
      {"", "limitranges"},
      {"", "services"},
      {"rbac.authorization.k8s.io", "roles"},
      {"rbac.authorization.k8s.io", "rolebindings"},
  };
  return kFences.contains({resource.group, resource.resource});
}

const policy::Policy& PolicyOf(const WebhookSettings& settings) { return settings.sandbox.policy; }

bool ExemptNamespace(const policy::Policy& policy, const std::string& ns) {
  return std::ranges::any_of(policy.exemptions, [&](const policy::Exemption& exemption) {
    return std::ranges::find(exemption.namespaces, ns) != exemption.namespaces.end();
  });
}

std::string Line(const Violation& violation) {
  return violation.field.empty() ? violation.message : violation.field + ": " + violation.message;
}

std::string Described(const AdmissionRequest& request) {
  std::string kind = request.kind.kind.empty() ? request.resource.resource : request.kind.kind;
  std::string name = request.name.empty() && request.object.is_object()
                         ? api::TextAt(request.object.json(), {"metadata", "name"})
                         : request.name;
  return kind + " \"" + name + "\"";
}

std::string Headline(const AdmissionRequest& request, const Decision& decision,
                     const WebhookSettings& settings) {
  std::size_t count = decision.violations.size();
  std::string counted =
      " (" + std::to_string(count) + (count == 1 ? " violation" : " violations") + "):";
  if (decision.concern == "fence" || decision.concern == "namespace" ||
      decision.concern == "other") {
    return Described(request) + " is refused by BotSec" + counted;
  }
  return Described(request) + " violates BotSec policy \"" +
         std::string(policy::ProfileName(PolicyOf(settings).profile)) + "\"" + counted;
}

// Sets the verdict from the violations: admitted when there are none (or in warn mode, with each
// as a warning), else refused with one line per violation under the headline, which is only
// written then (naming the object may build its tree, ReviewObject::json()).
void Conclude(Decision& decision, const AdmissionRequest& request,
              const WebhookSettings& settings) {
  decision.verdict = {};
  if (decision.violations.empty()) {
    return;
  }
  if (settings.warn_only) {
    for (const Violation& violation : decision.violations) {
      decision.verdict.warnings.push_back("botsec (warn mode): " + Line(violation));
    }
    return;
  }
  std::string message = Headline(request, decision, settings);
  for (const Violation& violation : decision.violations) {
    message += "\n" + Line(violation);
  }
  decision.verdict.allowed = false;
  decision.verdict.code = 403;
  decision.verdict.reason = "Forbidden";
  decision.verdict.message = std::move(message);
}

Json WithoutBookkeeping(Json object) {
  if (object.contains("metadata") && object["metadata"].is_object()) {
    Json& metadata = object["metadata"];
    for (const char* key :
         {"finalizers", "ownerReferences", "resourceVersion", "managedFields", "generation"}) {
      metadata.erase(key);
    }
  }
  return object;
}

// Every element of `updated`'s list at `key` is in `old`'s.
bool Subset(const Json& old, const Json& updated, const char* key) {
  auto list = [key](const Json& object) {
    const Json* found = api::FieldAt(object, {"metadata", key});
    return found != nullptr && found->is_array() ? *found : Json::array();
  };
  Json before = list(old);
  return std::ranges::all_of(list(updated), [&](const Json& item) {
    return std::ranges::find(before, item) != before.end();
  });
}

// Judges the request's object (a Pod or a pod carrier) with the policy. With `may_free`, an
// UPDATE that only drops finalizers or owner references passes unjudged.
void JudgeObject(const AdmissionRequest& request, const WebhookSettings& settings, bool may_free,
                 Decision& decision) {
  if (!request.object.is_object()) {
    decision.violations.push_back({"object", "", "the request carries no object to judge"});
    return;
  }
  if (may_free && request.operation == "UPDATE" && request.old_object.is_object() &&
      OnlyDropsFinalizersOrOwners(request.old_object.json(), request.object.json())) {
    return;
  }
  // Where the review was parsed, when it was (no tree is built for a pod).
  const simdjson::dom::element* element = request.object.element();
  auto judged = element != nullptr ? policy::Judge(*element, PolicyOf(settings))
                                   : policy::Judge(request.object.json(), PolicyOf(settings));
  if (!judged) {
    decision.violations.push_back({"object", "", judged.error().message});
    return;
  }
  decision.violations = std::move(*judged);
}

void DecidePod(const AdmissionRequest& request, const WebhookSettings& settings,
               Decision& decision) {
  decision.concern = "pod";
  const std::string& sub = request.sub_resource;
  if (sub == "status" || sub == "binding") {
    return;  // the kubelet's and the scheduler's: they never change the spec
  }
  if (!sub.empty() && sub != "ephemeralcontainers" && sub != "resize") {
    decision.violations.push_back(
        {"subresource", "",
         "pods/" + sub +
             ": BotSec does not know this subresource and refuses it (the webhook configuration "
             "should not send it)"});
    return;
  }
  if (request.operation != "CREATE" && request.operation != "UPDATE") {
    return;
  }
  if (ExemptNamespace(PolicyOf(settings), request.namespace_)) {
    return;
  }
  JudgeObject(request, settings, /*may_free=*/sub.empty(), decision);
}

void DecideWorkload(const AdmissionRequest& request, const WebhookSettings& settings,
                    Decision& decision) {
  decision.concern = "workload";
  if ((request.operation != "CREATE" && request.operation != "UPDATE") ||
      !request.sub_resource.empty() || ExemptNamespace(PolicyOf(settings), request.namespace_)) {
    return;
  }
  JudgeObject(request, settings, /*may_free=*/true, decision);
}

void AddCauses(const core::Error& error, Decision& decision, const std::string& check) {
  if (error.causes.empty()) {
    decision.violations.push_back({check, "", error.message});
  }
  for (const core::Cause& cause : error.causes) {
    decision.violations.push_back({check, cause.field, cause.message});
  }
}

void DecideBotSandbox(const AdmissionRequest& request, const WebhookSettings& settings,
                      Decision& decision) {
  decision.concern = "botsandbox";
  if ((request.operation != "CREATE" && request.operation != "UPDATE") ||
      !request.sub_resource.empty()) {
    return;  // status is the operator's
  }
  if (!request.object.is_object()) {
    decision.violations.push_back({"object", "", "the request carries no BotSandbox to judge"});
    return;
  }
  if (request.operation == "UPDATE" && request.old_object.is_object() &&
      OnlyDropsFinalizersOrOwners(request.old_object.json(), request.object.json())) {
    return;  // the operator's own finalizer removal, or a stuck object being freed
  }
  auto sandbox = api::ParseBotSandbox(request.object.json());
  if (!sandbox) {
    AddCauses(sandbox.error(), decision, "botSandboxSpec");
    return;
  }
  auto pod = api::RenderPod(*sandbox, settings.sandbox);
  if (!pod) {
    AddCauses(pod.error(), decision, "sandboxBounds");
    return;
  }
  auto judged = policy::Judge(*pod, PolicyOf(settings));
  if (!judged) {
    decision.violations.push_back({"renderedPod", "", judged.error().message});
    return;
  }
  for (Violation& violation : *judged) {
    // The rendered Pod's fields are not the BotSandbox's: say whose they are.
    violation.message = "(in the Pod this BotSandbox renders) " + violation.message;
    decision.violations.push_back(std::move(violation));
  }
  // Every Secret, not only the ones an update adds: whoever edits a BotSandbox decides what its
  // bot runs, so must be allowed to read what it gets.
  std::set<std::string> names(sandbox->spec.secrets.begin(), sandbox->spec.secrets.end());
  names.insert(sandbox->spec.image_pull_secrets.begin(), sandbox->spec.image_pull_secrets.end());
  decision.secrets_to_authorize.assign(names.begin(), names.end());
}

void DecideFence(const AdmissionRequest& request, const WebhookSettings& settings,
                 const RequestFacts& facts, Decision& decision) {
  decision.concern = "fence";
  if (request.user.username == settings.operator_username) {
    return;
  }
  if (request.operation == "DELETE" && facts.namespace_terminating) {
    return;  // the namespace controller empties a namespace being deleted
  }
  decision.violations.push_back({"fence", "",
                                 request.resource.resource + " in sandbox namespace " +
                                     request.namespace_ + " are the sandbox's fences: only " +
                                     settings.operator_username +
                                     " may create, change or delete them"});
}

bool Guarded(std::string_view key) {
  return key.starts_with("botsec.io/") || key.starts_with("pod-security.kubernetes.io/");
}

// The guarded labels or annotations of `object`.
std::map<std::string, Json> GuardedEntries(const Json& object, const char* field) {
  std::map<std::string, Json> entries;
  const Json* found = api::FieldAt(object, {"metadata", field});
  if (found != nullptr && found->is_object()) {
    for (const auto& [key, value] : found->items()) {
      if (Guarded(key)) {
        entries.emplace(key, value);
      }
    }
  }
  return entries;
}

void DecideNamespace(const AdmissionRequest& request, const WebhookSettings& settings,
                     Decision& decision) {
  decision.concern = "namespace";
  if (request.user.username == settings.operator_username ||
      (request.operation != "CREATE" && request.operation != "UPDATE")) {
    return;
  }
  const Json empty = Json::object();
  const Json& old = request.old_object.is_object() ? request.old_object.json() : empty;
  for (const char* field : {"labels", "annotations"}) {
    std::map<std::string, Json> before = GuardedEntries(old, field);
    std::map<std::string, Json> after = GuardedEntries(request.object.json(), field);
    std::set<std::string> keys;
    for (const auto& entries : {before, after}) {
      for (const auto& [key, value] : entries) {
        keys.insert(key);
      }
    }
    for (const std::string& key : keys) {
      if (before.contains(key) && after.contains(key) && before[key] == after[key]) {
        continue;
      }
      std::string what = !after.contains(key)    ? "removed"
                         : !before.contains(key) ? "added"
                                                 : "changed";
      decision.violations.push_back(
          {"sandboxNamespace", std::string("metadata.") + field + "[" + key + "]",
           "Forbidden: " + what + "; only " + settings.operator_username +
               " sets the botsec.io and Pod Security " + field + " of a sandbox namespace"});
    }
  }
}

}  // namespace

bool OnlyDropsFinalizersOrOwners(const Json& old, const Json& updated) {
  return WithoutBookkeeping(old) == WithoutBookkeeping(updated) &&
         Subset(old, updated, "finalizers") && Subset(old, updated, "ownerReferences");
}

Decision Decide(const AdmissionRequest& request, const WebhookSettings& settings,
                const RequestFacts& facts) {
  Decision decision;
  const GroupVersionResource& resource = request.resource;
  if (resource.group.empty() && resource.resource == "pods") {
    DecidePod(request, settings, decision);
  } else if (IsWorkload(resource)) {
    DecideWorkload(request, settings, decision);
  } else if (resource.group == api::kGroup && resource.resource == api::kResource) {
    DecideBotSandbox(request, settings, decision);
  } else if (IsFence(resource)) {
    DecideFence(request, settings, facts, decision);
  } else if (resource.group.empty() && resource.resource == "namespaces") {
    DecideNamespace(request, settings, decision);
  } else {
    decision.concern = "other";
    decision.violations.push_back(
        {"resource", "",
         "BotSec does not judge " +
             (resource.group.empty() ? resource.resource
                                     : resource.resource + "." + resource.group) +
             " and refuses it (the webhook configuration should not send it)"});
  }
  Conclude(decision, request, settings);
  return decision;
}

namespace {

// Where a BotSandbox names Secret `name` first: "spec.secrets[1].name" or
// "spec.imagePullSecrets[0].name" ("spec.secrets" if nowhere, which Decide never asks about).
std::string SecretField(const Json& sandbox, const std::string& name) {
  const Json* spec = sandbox.is_object() && sandbox.contains("spec") ? &sandbox["spec"] : nullptr;
  for (const char* list : {"secrets", "imagePullSecrets"}) {
    if (spec == nullptr || !spec->is_object() || !spec->contains(list) ||
        !(*spec)[list].is_array()) {
      continue;
    }
    const Json& entries = (*spec)[list];
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].is_object() && entries[i].value("name", "") == name) {
        return "spec." + std::string(list) + "[" + std::to_string(i) + "].name";
      }
    }
  }
  return "spec.secrets";
}

}  // namespace

void DenyUnreadableSecrets(Decision& decision, const std::vector<std::string>& unreadable,
                           const AdmissionRequest& request, const WebhookSettings& settings) {
  for (const std::string& name : unreadable) {
    decision.violations.push_back(
        {"secretAccess", SecretField(request.object.json(), name),
         "Forbidden: " + request.user.username + " may not get Secret \"" + name +
             "\" in namespace " + request.namespace_ + ", so no BotSandbox of theirs may use it"});
  }
  Conclude(decision, request, settings);
}

}  // namespace botsec::webhook
