#include "botsec/api/render.h"

#include <algorithm>
#include <array>
#include <utility>

#include "botsec/core/cidr.h"
#include "botsec/core/hash.h"

namespace botsec::api {
namespace {

using core::Cause;
using core::ErrorCode;
using core::Result;

constexpr std::array<std::string_view, 3> kComputeResources = {"cpu", "memory",
                                                               "ephemeral-storage"};

double QuantityValue(const std::string& text) {
  auto quantity = policy::Quantity::Parse(text);
  return quantity ? quantity->value : 0;
}

Json Labels(const std::string& sandbox_namespace) {
  return {{std::string(kSandboxLabel), sandbox_namespace},
          {std::string(kManagedByLabel), std::string(kManagedBy)}};
}

Json Meta(const std::string& name, const std::string& ns) {
  return {{"name", name}, {"namespace", ns}, {"labels", Labels(ns)}};
}

// The bot container's requests and limits: the BotSandbox's, then the operator's defaults, with a
// default never below what the BotSandbox asked for.
Resources ResolveResources(const Resources& asked, const SandboxSettings& settings) {
  Resources out;
  for (std::string_view name : kComputeResources) {
    std::string key(name);
    auto request = asked.requests.find(key);
    auto limit = asked.limits.find(key);
    auto default_request = settings.default_requests.find(key);
    auto default_limit = settings.default_limits.find(key);
    if (limit != asked.limits.end()) {
      out.limits[key] = limit->second;
    } else if (default_limit != settings.default_limits.end()) {
      out.limits[key] = request != asked.requests.end() && QuantityValue(request->second) >
                                                               QuantityValue(default_limit->second)
                            ? request->second
                            : default_limit->second;
    }
    if (request != asked.requests.end()) {
      out.requests[key] = request->second;
    } else if (default_request != settings.default_requests.end()) {
      auto bound = out.limits.find(key);
      out.requests[key] = bound != out.limits.end() && QuantityValue(default_request->second) >
                                                           QuantityValue(bound->second)
                              ? bound->second
                              : default_request->second;
    }
  }
  return out;
}

// Causes for what exceeds the administrator's bounds.
std::vector<Cause> CheckBounds(const BotSandboxSpec& spec, const Resources& resources,
                               const policy::SandboxBounds& bounds) {
  std::vector<Cause> causes;
  auto over = [&](const std::string& field, const std::string& value, const policy::Quantity& max) {
    causes.push_back({.field = field,
                      .reason = "FieldValueInvalid",
                      .message = "Invalid value: \"" + value + "\": must be at most " + max.text +
                                 " (the administrator's bound)"});
  };
  auto field_of = [](const std::string& resource) {
    return resource == "ephemeral-storage" ? std::string("ephemeralStorage") : resource;
  };
  for (const auto& [list, path] : {std::pair{&resources.requests, "spec.resources.requests."},
                                   std::pair{&resources.limits, "spec.resources.limits."}}) {
    for (const auto& [resource, value] : *list) {
      auto max = bounds.max_resources.find(resource);
      if (max != bounds.max_resources.end() && QuantityValue(value) > max->second.value) {
        over(path + field_of(resource), value, max->second);
      }
    }
  }
  for (const auto& [resource, value] : spec.quota) {
    auto max = bounds.max_quota.find(resource);
    if (max != bounds.max_quota.end() && QuantityValue(value) > max->second.value) {
      over("spec.quota." + field_of(resource), value, max->second);
    }
  }
  if (spec.lifetime && bounds.max_ttl && spec.lifetime->ttl > *bounds.max_ttl) {
    causes.push_back({.field = "spec.lifetime.ttl",
                      .reason = "FieldValueInvalid",
                      .message = "Invalid value: \"" + spec.lifetime->ttl_text +
                                 "\": must be at most " + std::to_string(bounds.max_ttl->count()) +
                                 "s (the administrator's bound)"});
  }
  if (!bounds.runtime_classes.empty()) {
    const std::string runtime = spec.isolation.runtime_class_name.value_or("");
    if (std::ranges::find(bounds.runtime_classes, runtime) == bounds.runtime_classes.end()) {
      std::string allowed;
      for (const std::string& name : bounds.runtime_classes) {
        allowed += (allowed.empty() ? "\"" : ", \"") + name + "\"";
      }
      causes.push_back({.field = "spec.isolation.runtimeClassName",
                        .reason = "FieldValueNotSupported",
                        .message = (runtime.empty() ? std::string("Required value")
                                                    : "Unsupported value: \"" + runtime + "\"") +
                                   ": allowed runtime classes: " + allowed});
    }
  }
  return causes;
}

Json SecurityProfileJson(const SecurityProfile& profile) {
  Json out = {{"type", profile.type}};
  if (profile.localhost_profile) {
    out["localhostProfile"] = *profile.localhost_profile;
  }
  return out;
}

Json ResourceListJson(const ResourceList& list) {
  Json out = Json::object();
  for (const auto& [name, value] : list) {
    out[name] = value;
  }
  return out;
}

Json PodJson(const BotSandbox& sandbox, const std::string& ns, const Resources& resources) {
  const BotSandboxSpec& spec = sandbox.spec;
  Json container = {
      {"name", std::string(kBotName)},
      {"image", spec.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"resources",
       {{"requests", ResourceListJson(resources.requests)},
        {"limits", ResourceListJson(resources.limits)}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts", {{{"name", "tmp"}, {"mountPath", "/tmp"}}}},
      {"terminationMessagePolicy", "FallbackToLogsOnError"},
  };
  if (!spec.command.empty()) {
    container["command"] = spec.command;
  }
  if (!spec.args.empty()) {
    container["args"] = spec.args;
  }
  if (!spec.working_dir.empty()) {
    container["workingDir"] = spec.working_dir;
  }
  if (!spec.ports.empty()) {
    Json ports = Json::array();
    for (const ContainerPort& port : spec.ports) {
      Json item = {{"containerPort", port.container_port}, {"protocol", port.protocol}};
      if (!port.name.empty()) {
        item["name"] = port.name;
      }
      ports.push_back(std::move(item));
    }
    container["ports"] = std::move(ports);
  }
  if (!spec.env.empty()) {
    Json env = Json::array();
    for (const EnvVar& var : spec.env) {
      Json item = {{"name", var.name}};
      auto ref = [](const KeyRef& key_ref) {
        Json out = {{"name", key_ref.name}, {"key", key_ref.key}};
        if (key_ref.optional) {
          out["optional"] = true;
        }
        return out;
      };
      if (var.secret_key_ref) {
        item["valueFrom"] = {{"secretKeyRef", ref(*var.secret_key_ref)}};
      } else if (var.config_map_key_ref) {
        item["valueFrom"] = {{"configMapKeyRef", ref(*var.config_map_key_ref)}};
      } else {
        item["value"] = var.value.value_or("");
      }
      env.push_back(std::move(item));
    }
    container["env"] = std::move(env);
  }

  const Isolation& isolation = spec.isolation;
  Json pod_spec = {
      {"serviceAccountName", std::string(kBotName)},
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"restartPolicy", spec.restart_policy},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", isolation.run_as_user},
        {"runAsGroup", isolation.run_as_group},
        {"fsGroup", isolation.fs_group},
        {"seccompProfile", SecurityProfileJson(isolation.seccomp_profile)},
        {"appArmorProfile", SecurityProfileJson(isolation.app_armor_profile)}}},
      {"containers", {container}},
      {"volumes", {{{"name", "tmp"}, {"emptyDir", {{"sizeLimit", isolation.tmp_size}}}}}},
  };
  if (isolation.runtime_class_name) {
    pod_spec["runtimeClassName"] = *isolation.runtime_class_name;
  }
  if (!isolation.host_users) {
    pod_spec["hostUsers"] = false;
  }
  if (!spec.image_pull_secrets.empty()) {
    Json pull = Json::array();
    for (const std::string& name : spec.image_pull_secrets) {
      pull.push_back({{"name", name}});
    }
    pod_spec["imagePullSecrets"] = std::move(pull);
  }

  Json metadata = Meta(std::string(kBotName), ns);
  metadata["labels"][std::string(kRoleLabel)] = "bot";
  Json annotations = Json::object();
  if (spec.network.egress_bandwidth) {
    annotations["kubernetes.io/egress-bandwidth"] = *spec.network.egress_bandwidth;
  }
  if (spec.network.ingress_bandwidth) {
    annotations["kubernetes.io/ingress-bandwidth"] = *spec.network.ingress_bandwidth;
  }
  // Pods are immutable: the hash of what we would create tells whether the Pod must be replaced.
  std::string hash = core::Hex64(core::Fnv1a64(pod_spec.dump() + annotations.dump())).substr(0, 16);
  annotations[std::string(kSpecHashAnnotation)] = hash;
  metadata["annotations"] = std::move(annotations);
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", pod_spec}};
}

Json PortsJson(const std::vector<PortRange>& ranges) {
  Json ports = Json::array();
  for (const PortRange& range : ranges) {
    Json port = {{"port", range.port}, {"protocol", range.protocol}};
    if (range.end_port) {
      port["endPort"] = *range.end_port;
    }
    ports.push_back(std::move(port));
  }
  return ports;
}

Json NetworkPolicy(const std::string& name, const std::string& ns, const Json& spec) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", Meta(name, ns)},
          {"spec", spec}};
}

// The egress allowlist with the never-reachable blocks cut out: a block inside one is dropped, a
// never-reachable block inside an allowed one joins its `except`.
std::optional<Json> EgressAllowlist(const Network& network, const std::string& ns,
                                    const std::vector<std::string>& never_reach,
                                    std::vector<std::string>& notes) {
  std::vector<core::Cidr> forbidden;
  for (const std::string& text : never_reach) {
    if (auto cidr = core::Cidr::Parse(text)) {
      forbidden.push_back(*cidr);
    }
  }
  Json rules = Json::array();
  for (const EgressCidr& entry : network.egress_cidrs) {
    auto cidr = core::Cidr::Parse(entry.cidr);
    if (!cidr) {
      continue;
    }
    auto inside = std::ranges::find_if(
        forbidden, [&](const core::Cidr& block) { return block.Contains(*cidr); });
    if (inside != forbidden.end()) {
      notes.push_back("egress to " + entry.cidr + " dropped: inside never-reachable " +
                      inside->ToString());
      continue;
    }
    std::vector<std::string> except = entry.except;
    for (const core::Cidr& block : forbidden) {
      std::string text = block.ToString();
      if (cidr->Contains(block) && std::ranges::find(except, text) == except.end()) {
        except.push_back(text);
      }
    }
    Json block = {{"cidr", entry.cidr}};
    if (!except.empty()) {
      block["except"] = except;
    }
    Json rule = {{"to", {{{"ipBlock", block}}}}};
    if (!entry.ports.empty()) {
      rule["ports"] = PortsJson(entry.ports);
    }
    rules.push_back(std::move(rule));
  }
  if (rules.empty()) {
    return std::nullopt;
  }
  return NetworkPolicy(
      "egress-allowlist", ns,
      {{"podSelector", Json::object()}, {"policyTypes", {"Egress"}}, {"egress", rules}});
}

std::vector<Json> NetworkPolicies(const BotSandbox& sandbox, const std::string& ns,
                                  const SandboxSettings& settings,
                                  std::vector<std::string>& notes) {
  const Network& network = sandbox.spec.network;
  std::vector<Json> policies;
  policies.push_back(
      NetworkPolicy("default-deny", ns,
                    {{"podSelector", Json::object()}, {"policyTypes", {"Ingress", "Egress"}}}));
  if (network.allow_dns) {
    Json dns_pods = Json::object();
    for (const auto& [key, value] : settings.dns_pod_labels) {
      dns_pods[key] = value;
    }
    policies.push_back(NetworkPolicy(
        "allow-dns", ns,
        {{"podSelector", Json::object()},
         {"policyTypes", {"Egress"}},
         {"egress",
          {{{"to",
             {{{"namespaceSelector",
                {{"matchLabels", {{"kubernetes.io/metadata.name", settings.dns_namespace}}}}},
               {"podSelector", {{"matchLabels", dns_pods}}}}}},
            {"ports",
             {{{"port", 53}, {"protocol", "UDP"}}, {{"port", 53}, {"protocol", "TCP"}}}}}}}}));
  }
  if (auto egress = EgressAllowlist(network, ns, settings.policy.sandboxes.never_reach, notes)) {
    policies.push_back(*std::move(egress));
  }
  if (!network.ingress.empty()) {
    Json rules = Json::array();
    for (const IngressRule& rule : network.ingress) {
      Json from = Json::array();
      for (const std::string& name : rule.from_sandboxes) {
        std::string peer =
            SandboxNamespaceName(settings.namespace_prefix, sandbox.metadata.namespace_, name);
        from.push_back(
            {{"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", peer}}}}},
             {"podSelector", {{"matchLabels", {{std::string(kRoleLabel), "bot"}}}}}});
      }
      for (const std::string& name : rule.from_namespaces) {
        from.push_back(
            {{"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", name}}}}}});
      }
      Json item = {{"from", std::move(from)}};
      if (!rule.ports.empty()) {
        item["ports"] = PortsJson(rule.ports);
      }
      rules.push_back(std::move(item));
    }
    policies.push_back(
        NetworkPolicy("ingress", ns,
                      {{"podSelector", {{"matchLabels", {{std::string(kRoleLabel), "bot"}}}}},
                       {"policyTypes", {"Ingress"}},
                       {"ingress", rules}}));
  }
  std::ranges::sort(policies, [](const Json& a, const Json& b) {
    return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
  });
  return policies;
}

Json ResourceQuota(const BotSandboxSpec& spec, const Resources& resources, const std::string& ns) {
  Json hard = {{"pods", "1"},
               {"services.nodeports", "0"},
               {"services.loadbalancers", "0"},
               {"persistentvolumeclaims", "0"}};
  for (std::string_view name : kComputeResources) {
    std::string key(name);
    // By default the quota holds exactly the bot.
    auto limit = resources.limits.find(key);
    auto request = resources.requests.find(key);
    if (request != resources.requests.end()) {
      hard["requests." + key] = request->second;
    }
    if (limit != resources.limits.end()) {
      hard["limits." + key] = limit->second;
    }
  }
  for (const auto& [name, value] : spec.quota) {
    if (name == "cpu" || name == "memory" || name == "ephemeral-storage") {
      hard["requests." + name] = value;
      hard["limits." + name] = value;
    } else {
      hard[name] = value;
    }
  }
  hard["services.nodeports"] = "0";
  hard["services.loadbalancers"] = "0";
  return {{"apiVersion", "v1"},
          {"kind", "ResourceQuota"},
          {"metadata", Meta(std::string(kBotName), ns)},
          {"spec", {{"hard", hard}}}};
}

Json LimitRange(const SandboxSettings& settings, const std::string& ns) {
  Json limit = {{"type", "Container"},
                {"default", ResourceListJson(settings.default_limits)},
                {"defaultRequest", ResourceListJson(settings.default_requests)}};
  Json max = Json::object();
  for (const auto& [name, bound] : settings.policy.sandboxes.max_resources) {
    if (std::ranges::find(kComputeResources, name) != kComputeResources.end()) {
      max[name] = bound.text;
    }
  }
  if (!max.empty()) {
    limit["max"] = std::move(max);
  }
  return {{"apiVersion", "v1"},
          {"kind", "LimitRange"},
          {"metadata", Meta(std::string(kBotName), ns)},
          {"spec", {{"limits", {limit}}}}};
}

Result<std::pair<std::string, Resources>> Prepare(const BotSandbox& sandbox,
                                                  const SandboxSettings& settings) {
  Resources resources = ResolveResources(sandbox.spec.resources, settings);
  std::vector<Cause> causes = CheckBounds(sandbox.spec, resources, settings.policy.sandboxes);
  if (!causes.empty()) {
    std::string message;
    for (const Cause& cause : causes) {
      message += (message.empty() ? "" : "; ") + cause.field + ": " + cause.message;
    }
    return tl::unexpected(
        core::Error{.code = ErrorCode::kInvalidArgument, .message = message, .causes = causes});
  }
  return std::pair{SandboxNamespaceName(settings.namespace_prefix, sandbox.metadata.namespace_,
                                        sandbox.metadata.name),
                   resources};
}

}  // namespace

std::string SandboxNamespaceName(std::string_view prefix, std::string_view owner_namespace,
                                 std::string_view owner_name) {
  std::string key = std::string(owner_namespace) + "/" + std::string(owner_name);
  std::string suffix = "-" + core::Hex64(core::Fnv1a64(key)).substr(0, 8);
  std::string base =
      std::string(prefix) + std::string(owner_namespace) + "-" + std::string(owner_name);
  constexpr std::size_t kMaxLength = 63;
  if (base.size() > kMaxLength - suffix.size()) {
    base.resize(kMaxLength - suffix.size());
  }
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) {
    base.pop_back();
  }
  std::ranges::replace(base, '.', '-');
  return base + suffix;
}

Result<Json> RenderPod(const BotSandbox& sandbox, const SandboxSettings& settings) {
  auto prepared = Prepare(sandbox, settings);
  if (!prepared) {
    return tl::unexpected(prepared.error());
  }
  return PodJson(sandbox, prepared->first, prepared->second);
}

Result<RenderedSandbox> Render(const BotSandbox& sandbox, const SandboxSettings& settings,
                               const std::map<std::string, Json>& secrets) {
  auto prepared = Prepare(sandbox, settings);
  if (!prepared) {
    return tl::unexpected(prepared.error());
  }
  const auto& [ns, resources] = *prepared;
  RenderedSandbox out;
  out.namespace_name = ns;

  Json labels = Labels(ns);
  labels[std::string(kEnforceLabel)] = "true";
  for (const char* mode : {"enforce", "audit", "warn"}) {
    labels[std::string("pod-security.kubernetes.io/") + mode] = "restricted";
    labels[std::string("pod-security.kubernetes.io/") + mode + "-version"] =
        settings.pod_security_version;
  }
  out.namespace_ = {{"apiVersion", "v1"},
                    {"kind", "Namespace"},
                    {"metadata",
                     {{"name", ns},
                      {"labels", labels},
                      {"annotations",
                       {{std::string(kOwnerUidAnnotation), sandbox.metadata.uid},
                        {std::string(kOwnerAnnotation),
                         sandbox.metadata.namespace_ + "/" + sandbox.metadata.name}}}}}};

  out.service_account = {{"apiVersion", "v1"},
                         {"kind", "ServiceAccount"},
                         {"metadata", Meta(std::string(kBotName), ns)},
                         {"automountServiceAccountToken", false}};
  out.resource_quota = ResourceQuota(sandbox.spec, resources, ns);
  out.limit_range = LimitRange(settings, ns);
  out.network_policies = NetworkPolicies(sandbox, ns, settings, out.notes);

  std::vector<std::string> mirrored = sandbox.spec.secrets;
  for (const std::string& name : sandbox.spec.image_pull_secrets) {
    if (std::ranges::find(mirrored, name) == mirrored.end()) {
      mirrored.push_back(name);
    }
  }
  for (const std::string& name : mirrored) {
    auto source = secrets.find(name);
    if (source == secrets.end()) {
      continue;
    }
    Json secret = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", Meta(name, ns)}};
    secret["type"] = source->second.value("type", "Opaque");
    secret["data"] = source->second.contains("data") && source->second["data"].is_object()
                         ? source->second["data"]
                         : Json::object();
    out.secrets.push_back(std::move(secret));
  }

  if (!sandbox.spec.ports.empty()) {
    Json ports = Json::array();
    for (const ContainerPort& port : sandbox.spec.ports) {
      std::string name = port.name;
      if (name.empty()) {
        // A Service with several ports needs each named: "tcp-8080".
        std::string protocol = port.protocol;
        std::ranges::transform(protocol, protocol.begin(),
                               [](char c) { return static_cast<char>(c - 'A' + 'a'); });
        name = protocol + "-" + std::to_string(port.container_port);
      }
      ports.push_back({{"name", name},
                       {"port", port.container_port},
                       {"targetPort", port.container_port},
                       {"protocol", port.protocol}});
    }
    out.service = Json{{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"metadata", Meta(std::string(kBotName), ns)},
                       {"spec",
                        {{"type", "ClusterIP"},
                         {"selector", {{std::string(kRoleLabel), "bot"}}},
                         {"ports", std::move(ports)}}}};
  }

  out.pod = PodJson(sandbox, ns, resources);
  out.pod_hash = out.pod["metadata"]["annotations"][std::string(kSpecHashAnnotation)];
  return out;
}

}  // namespace botsec::api
