#include "botsec/operator/reconciler.h"

#include <iostream>
#include <map>
#include <thread>
#include <utility>

#include "botsec/api/bot_sandbox.h"

namespace botsec::operator_reconcile {
namespace {

using api::Json;
using core::ErrorCode;
using core::Result;

kube::Resource BotSandboxes() {
  return {std::string(api::kGroup), std::string(api::kVersion), std::string(api::kResource), true};
}

// The kinds a sandbox is made of, watched by the operator's own label (NetworkPolicies all of
// them: a foreign one must be seen to be pruned).
struct ChildKind {
  std::string kind;
  kube::Resource resource;
  std::string selector;
};

std::vector<ChildKind> ChildKinds() {
  const std::string ours = std::string(api::kManagedByLabel) + "=" + std::string(api::kManagedBy);
  return {
      {"ServiceAccount", {"", "v1", "serviceaccounts", true}, ours},
      {"ResourceQuota", {"", "v1", "resourcequotas", true}, ours},
      {"LimitRange", {"", "v1", "limitranges", true}, ours},
      {"NetworkPolicy", {"networking.k8s.io", "v1", "networkpolicies", true}, ""},
      {"Secret", {"", "v1", "secrets", true}, ours},
      {"Service", {"", "v1", "services", true}, ours},
      {"Pod", {"", "v1", "pods", true}, ours},
  };
}

using api::TextAt;

std::string WriteKeyOf(std::string_view kind, const Json& object) {
  return WriteKey(kind, TextAt(object, {"metadata", "namespace"}),
                  TextAt(object, {"metadata", "name"}));
}

void Log(const std::string& message) { std::cerr << message << "\n"; }

}  // namespace

struct Reconciler::Informers {
  std::unique_ptr<kube::Informer> sandboxes;
  std::unique_ptr<kube::Informer> namespaces;
  std::unique_ptr<kube::Informer> source_secrets;
  std::map<std::string, std::unique_ptr<kube::Informer>> children;  // by kind
};

Result<kube::Resource> ResourceOfKind(std::string_view kind) {
  if (kind == "Namespace") {
    return kube::resources::Namespaces();
  }
  for (const ChildKind& child : ChildKinds()) {
    if (child.kind == kind) {
      return child.resource;
    }
  }
  return core::Fail(ErrorCode::kInternal, "no resource for kind " + std::string(kind));
}

Reconciler::Reconciler(kube::Client client, core::Clock& clock, ReconcilerOptions options)
    : client_(std::move(client)),
      clock_(clock),
      options_(std::move(options)),
      informers_(std::make_unique<Informers>()),
      queue_(clock, kube::NewControllerRateLimiter(clock, {})),
      events_(client_, {.component = std::string(kFieldManager)}, clock),
      recent_(clock) {
  auto selected = [](const std::string& selector) {
    kube::ReflectorOptions reflector;
    reflector.selectors.label_selector = selector;
    return reflector;
  };
  informers_->sandboxes =
      std::make_unique<kube::Informer>(client_, BotSandboxes(), options_.watch_namespace, clock_);
  informers_->namespaces =
      std::make_unique<kube::Informer>(client_, kube::resources::Namespaces(), "", clock_,
                                       selected(std::string(api::kSandboxLabel)));
  informers_->source_secrets = std::make_unique<kube::Informer>(
      client_, kube::Resource{"", "v1", "secrets", true}, options_.watch_namespace, clock_,
      selected(std::string(api::kSandboxAccessLabel) + "=true"));
  for (const ChildKind& child : ChildKinds()) {
    informers_->children[child.kind] = std::make_unique<kube::Informer>(
        client_, child.resource, "", clock_, selected(child.selector));
  }

  if (options_.metrics != nullptr) {
    queue_.SetObserver(options_.metrics);
    options_.metrics->SetMaxConcurrentReconciles(options_.workers);
  }
  auto enqueue = [this](const std::string& key) { queue_.Add(key); };
  informers_->sandboxes->AddEventHandler(
      [this](const Json& sandbox) {
        recent_.Seen(WriteKeyOf(api::kKind, sandbox), sandbox);
        return std::vector<std::string>{kube::KeyOf(sandbox)};
      },
      enqueue);
  informers_->namespaces->AddEventHandler(
      [this](const Json& ns) {
        recent_.Seen(WriteKeyOf("Namespace", ns), ns);
        std::string owner_key = TextAt(ns, {"metadata", "annotations", "botsec.io/owner"});
        return owner_key.empty() ? std::vector<std::string>{} : std::vector<std::string>{owner_key};
      },
      enqueue);
  for (auto& [kind, informer] : informers_->children) {
    informer->AddEventHandler(
        [this, kind = kind](const Json& child) {
          recent_.Seen(WriteKeyOf(kind, child), child);
          return OwnersOfChild(child);
        },
        enqueue);
  }
  informers_->source_secrets->AddEventHandler(
      [this](const Json& secret) { return OwnersOfSecret(secret); }, enqueue);
}

Reconciler::~Reconciler() {
  queue_.ShutDown();
  queue_.SetObserver(nullptr);
}

std::vector<std::string> Reconciler::OwnersOfChild(const Json& child) const {
  std::string ns = TextAt(child, {"metadata", "namespace"});
  kube::ObjectPtr sandbox_namespace = informers_->namespaces->store().Get(ns);
  if (sandbox_namespace == nullptr) {
    return {};
  }
  std::string owner = TextAt(*sandbox_namespace, {"metadata", "annotations", "botsec.io/owner"});
  return owner.empty() ? std::vector<std::string>{} : std::vector<std::string>{owner};
}

std::vector<std::string> Reconciler::OwnersOfSecret(const Json& secret) const {
  std::vector<std::string> owners;
  std::string ns = TextAt(secret, {"metadata", "namespace"});
  std::string name = TextAt(secret, {"metadata", "name"});
  for (const kube::ObjectPtr& object : informers_->sandboxes->store().ByNamespace(ns)) {
    const Json& spec = (*object)["spec"];
    for (const char* field : {"secrets", "imagePullSecrets"}) {
      if (!spec.contains(field) || !spec[field].is_array()) {
        continue;
      }
      for (const Json& ref : spec[field]) {
        if (ref.is_object() && ref.value("name", "") == name) {
          owners.push_back(kube::KeyOf(*object));
        }
      }
    }
  }
  return owners;
}

bool Reconciler::Synced() const {
  if (!informers_->sandboxes->HasSynced() || !informers_->namespaces->HasSynced() ||
      !informers_->source_secrets->HasSynced()) {
    return false;
  }
  for (const auto& [kind, informer] : informers_->children) {
    if (!informer->HasSynced()) {
      return false;
    }
  }
  return true;
}

operator_plan::Observed Reconciler::Gather(const api::BotSandbox& sandbox) const {
  operator_plan::Observed observed;
  observed.sandbox = sandbox;
  observed.now = clock_.WallNow();
  std::string ns = api::SandboxNamespaceName(options_.settings.namespace_prefix,
                                             sandbox.metadata.namespace_, sandbox.metadata.name);
  if (kube::ObjectPtr found =
          recent_.Current(WriteKey("Namespace", "", ns), informers_->namespaces->store().Get(ns))) {
    observed.namespace_ = *found;
    (*observed.namespace_)["kind"] = "Namespace";
    (*observed.namespace_)["apiVersion"] = "v1";
  } else if (auto direct = client_.Get(kube::resources::Namespaces(), "", ns)) {
    // Not labelled as a sandbox: someone else's namespace of that name.
    observed.namespace_ = *direct;
  }
  static const std::map<std::string, kube::Resource> informer_resource = [] {
    std::map<std::string, kube::Resource> by_kind;
    for (const ChildKind& child : ChildKinds()) {
      by_kind.emplace(child.kind, child.resource);
    }
    return by_kind;
  }();
  // What the caches hold, overlaid with what this operator wrote that they do not show yet.
  std::map<std::string, kube::ObjectPtr> children;
  for (const auto& [kind, informer] : informers_->children) {
    for (const kube::ObjectPtr& child : informer->store().ByNamespace(ns)) {
      children.emplace(WriteKeyOf(kind, *child), child);
    }
  }
  for (const std::string& key : recent_.KeysIn(ns)) {
    children.emplace(key, nullptr);
  }
  for (const auto& [write_key, cached] : children) {
    kube::ObjectPtr child = recent_.Current(write_key, cached);
    std::string kind = write_key.substr(0, write_key.find('/'));
    if (child == nullptr || !informer_resource.contains(kind)) {
      continue;
    }
    Json object = *child;
    // List items carry no kind or apiVersion.
    object["kind"] = kind;
    object["apiVersion"] = informer_resource.at(kind).ApiVersion();
    // Json's assignment takes its operand by value: name the key before moving the object.
    std::string key = operator_plan::ChildKey(object);
    observed.children.emplace(std::move(key), std::move(object));
  }
  std::vector<std::string> wanted = sandbox.spec.secrets;
  wanted.insert(wanted.end(), sandbox.spec.image_pull_secrets.begin(),
                sandbox.spec.image_pull_secrets.end());
  for (const std::string& name : wanted) {
    if (kube::ObjectPtr secret =
            informers_->source_secrets->store().Get(sandbox.metadata.namespace_ + "/" + name)) {
      observed.source_secrets[name] = *secret;
    } else if (auto direct = client_.Get(kube::Resource{"", "v1", "secrets", true},
                                         sandbox.metadata.namespace_, name)) {
      // There but not shared: only its labels matter, never its data.
      Json meta_only = {{"metadata", (*direct)["metadata"]}};
      observed.source_secrets[name] = std::move(meta_only);
    }
  }
  return observed;
}

Result<void> Reconciler::Execute(const Json& object, const api::BotSandbox& sandbox,
                                 const operator_plan::ReconcilePlan& plan) {
  const std::string& ns = sandbox.metadata.namespace_;
  const std::string& name = sandbox.metadata.name;
  const kube::ApplyOptions apply{.field_manager = std::string(kFieldManager), .force = true};
  for (const operator_plan::EventNote& note : plan.events) {
    events_.Record(object,
                   note.type == "Warning" ? kube::EventKind::kWarning : kube::EventKind::kNormal,
                   note.reason, note.message);
  }
  if (plan.add_finalizer) {
    Json patch = {{"metadata",
                   {{"resourceVersion", sandbox.metadata.resource_version},
                    {"finalizers", sandbox.metadata.finalizers}}}};
    patch["metadata"]["finalizers"].push_back(std::string(api::kFinalizer));
    auto patched = client_.Patch(BotSandboxes(), ns, name, kube::PatchType::kMerge, patch);
    if (!patched) {
      return core::Fail(patched.error().Wrap("adding the finalizer"));
    }
    recent_.Remember(WriteKey(api::kKind, ns, name), std::move(*patched));
  }
  if (plan.delete_sandbox) {
    auto deleted =
        client_.Delete(BotSandboxes(), ns, name, {.precondition_uid = sandbox.metadata.uid});
    if (!deleted && deleted.error().code != ErrorCode::kNotFound) {
      return core::Fail(deleted.error().Wrap("deleting the expired BotSandbox"));
    }
  }
  for (const Json& child : plan.apply) {
    auto resource = ResourceOfKind(child["kind"].get<std::string>());
    if (!resource) {
      return core::Fail(resource.error());
    }
    std::string child_ns = TextAt(child, {"metadata", "namespace"});
    auto applied = client_.Apply(*resource, child_ns, child, apply);
    if (!applied) {
      return core::Fail(applied.error().Wrap("applying " + operator_plan::ChildKey(child)));
    }
    recent_.Remember(WriteKeyOf(child["kind"].get<std::string>(), child), std::move(*applied));
  }
  for (const operator_plan::Removal& removal : plan.remove) {
    auto resource = ResourceOfKind(removal.kind);
    if (!resource) {
      return core::Fail(resource.error());
    }
    auto deleted = client_.Delete(
        *resource, removal.namespace_, removal.name,
        {.propagation = kube::Propagation::kBackground, .precondition_uid = removal.uid});
    if (!deleted && deleted.error().code != ErrorCode::kNotFound) {
      return core::Fail(deleted.error().Wrap("deleting " + removal.kind + "/" + removal.name));
    }
    recent_.Forget(WriteKey(removal.kind, removal.namespace_, removal.name));
  }
  if (plan.status) {
    Json status = {{"apiVersion", std::string(api::kApiVersion)},
                   {"kind", std::string(api::kKind)},
                   {"metadata", {{"name", name}, {"namespace", ns}}},
                   {"status", api::StatusToJson(*plan.status)}};
    auto applied = client_.Apply(BotSandboxes(), ns, status, apply, "status");
    if (!applied && applied.error().code != ErrorCode::kNotFound) {
      return core::Fail(applied.error().Wrap("writing the status"));
    }
    if (applied) {
      recent_.Remember(WriteKey(api::kKind, ns, name), std::move(*applied));
    }
  }
  if (plan.remove_finalizer) {
    const auto& finalizers = sandbox.metadata.finalizers;
    auto at = std::ranges::find(finalizers, api::kFinalizer);
    if (at != finalizers.end()) {
      std::string path = "/metadata/finalizers/" + std::to_string(at - finalizers.begin());
      // The test keeps another actor's finalizer, added meanwhile, from being removed instead.
      Json patch =
          Json::array({{{"op", "test"}, {"path", path}, {"value", std::string(api::kFinalizer)}},
                       {{"op", "remove"}, {"path", path}}});
      auto patched = client_.Patch(BotSandboxes(), ns, name, kube::PatchType::kJson, patch);
      if (!patched && patched.error().code != ErrorCode::kNotFound) {
        return core::Fail(patched.error().Wrap("removing the finalizer"));
      }
      recent_.Forget(WriteKey(api::kKind, ns, name));
    }
  }
  return {};
}

Result<std::optional<std::chrono::seconds>> Reconciler::Reconcile(const std::string& key) {
  ++reconciles_;
  kube::ObjectPtr object = informers_->sandboxes->store().Get(key);
  if (object != nullptr) {
    object = recent_.Current(WriteKeyOf(api::kKind, *object), object);
  }
  if (object == nullptr) {
    if (options_.metrics != nullptr) {
      options_.metrics->SandboxPhase(key, std::nullopt);
    }
    return std::optional<std::chrono::seconds>{};  // gone: its namespace went with its finalizer
  }
  auto sandbox = api::ParseBotSandbox(*object);
  if (!sandbox) {
    events_.Record(*object, kube::EventKind::kWarning, "InvalidSpec", sandbox.error().message);
    Log("Invalid BotSandbox sandbox=" + key + " error=\"" + sandbox.error().message + "\"");
    return std::optional<std::chrono::seconds>{};
  }
  operator_plan::ReconcilePlan plan = operator_plan::Plan(Gather(*sandbox), Settings());
  if (options_.metrics != nullptr) {
    std::optional<api::Phase> phase = plan.status ? plan.status->phase : sandbox->status.phase;
    options_.metrics->SandboxPhase(key, api::PhaseName(phase.value_or(api::Phase::kPending)));
  }
  if (auto done = Execute(*object, *sandbox, plan); !done) {
    ++failures_;
    return core::Fail(done.error());
  }
  if (!plan.apply.empty() || !plan.remove.empty() || plan.status || plan.add_finalizer ||
      plan.remove_finalizer || plan.delete_sandbox) {
    Log("Reconciled sandbox=" + key + " applied=" + std::to_string(plan.apply.size()) +
        " deleted=" + std::to_string(plan.remove.size()) + " status=" +
        (plan.status
             ? std::string(api::PhaseName(plan.status->phase.value_or(api::Phase::kPending)))
             : "unchanged"));
  }
  return plan.requeue_after;
}

void Reconciler::Work(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    std::optional<std::string> key = queue_.Get();
    if (!key) {
      return;
    }
    auto started = clock_.Now();
    if (options_.metrics != nullptr) {
      options_.metrics->WorkerActive(1);
    }
    auto outcome = Reconcile(*key);
    if (options_.metrics != nullptr) {
      options_.metrics->WorkerActive(-1);
      options_.metrics->Reconciled(!outcome ? "error" : (*outcome ? "requeue_after" : "success"),
                                   clock_.Now() - started);
    }
    if (!outcome) {
      Log("Reconcile failed sandbox=" + *key + " error=\"" + outcome.error().message + "\"");
      queue_.AddRateLimited(*key);
    } else {
      queue_.Forget(*key);
      std::chrono::seconds next = options_.resync_period;
      if (*outcome && **outcome < next) {
        next = std::max(**outcome, std::chrono::seconds(1));
      }
      queue_.AddAfter(*key, next);
    }
    queue_.Done(*key);
  }
}

api::SandboxSettings Reconciler::Settings() const {
  std::lock_guard lock(policy_mu_);
  return options_.settings;
}

void Reconciler::SetPolicy(policy::Policy policy) {
  {
    std::lock_guard lock(policy_mu_);
    options_.settings.policy = std::move(policy);
  }
  for (const std::string& key : informers_->sandboxes->store().Keys()) {
    queue_.Add(key);
  }
}

void Reconciler::Run(const std::stop_token& stop) {
  std::vector<std::jthread> threads;
  auto start = [&](kube::Informer& informer) {
    threads.emplace_back([&informer, stop] { informer.Run(stop); });
  };
  start(*informers_->sandboxes);
  start(*informers_->namespaces);
  start(*informers_->source_secrets);
  for (auto& [kind, informer] : informers_->children) {
    start(*informer);
  }
  while (!stop.stop_requested() && !Synced()) {
    clock_.SleepFor(std::chrono::milliseconds(50), stop);
  }
  if (!stop.stop_requested()) {
    Log("Caches synced workers=" + std::to_string(options_.workers));
    for (int i = 0; i < options_.workers; ++i) {
      threads.emplace_back([this, stop] { Work(stop); });
    }
  }
  std::stop_callback shutdown(stop, [this] { queue_.ShutDown(); });
  threads.clear();  // joins
  events_.Flush();
}

}  // namespace botsec::operator_reconcile
