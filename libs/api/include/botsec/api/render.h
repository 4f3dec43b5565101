// A BotSandbox rendered into the objects of its sandbox: the Namespace, ServiceAccount,
// ResourceQuota, LimitRange, NetworkPolicies, mirrored Secrets, Service and the bot's Pod, as the
// JSON the operator applies (server-side apply, field manager botsec-operator). Pure: the same
// sandbox and settings always give the same objects, byte for byte, so that an unchanged sandbox
// is never written again.
//
// The webhook renders a BotSandbox's Pod the same way to judge it before anything exists.
#ifndef BOTSEC_API_RENDER_H_
#define BOTSEC_API_RENDER_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/api/bot_sandbox.h"
#include "botsec/core/result.h"
#include "botsec/policy/policy.h"

namespace botsec::api {

// Labels and annotations the operator puts on what it makes.
inline constexpr std::string_view kSandboxLabel = "botsec.io/sandbox";  // the sandbox namespace
inline constexpr std::string_view kEnforceLabel = "botsec.io/enforce";  // the webhook judges it
inline constexpr std::string_view kRoleLabel = "botsec.io/role";        // "bot" on the bot's Pod
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedBy = "botsec-operator";
inline constexpr std::string_view kOwnerUidAnnotation = "botsec.io/owner-uid";
inline constexpr std::string_view kOwnerAnnotation = "botsec.io/owner";  // "namespace/name"
inline constexpr std::string_view kSpecHashAnnotation = "botsec.io/spec-hash";
inline constexpr std::string_view kSandboxAccessLabel = "botsec.io/sandbox-access";
inline constexpr std::string_view kFinalizer = "botsec.io/cleanup";
inline constexpr std::string_view kBotName = "bot";  // the Pod, ServiceAccount, Service, ...

// What the operator's flags and the administrator's policy add to every sandbox.
struct SandboxSettings {
  std::string namespace_prefix = "bsb-";
  // The bot container's requests and limits where the BotSandbox leaves them out.
  ResourceList default_requests = {
      {"cpu", "100m"}, {"memory", "128Mi"}, {"ephemeral-storage", "256Mi"}};
  ResourceList default_limits = {{"cpu", "1"}, {"memory", "512Mi"}, {"ephemeral-storage", "1Gi"}};
  // pod-security.kubernetes.io/enforce-version on every sandbox namespace.
  std::string pod_security_version = "latest";
  // Where the cluster's DNS runs, for the allowDNS NetworkPolicy.
  std::string dns_namespace = "kube-system";
  std::map<std::string, std::string> dns_pod_labels = {{"k8s-app", "kube-dns"}};
  // Bounds (sandboxes.*) and never-reachable CIDRs.
  policy::Policy policy = policy::Policy::Default();
};

// The sandbox namespace of a BotSandbox: `<prefix><namespace>-<name>`, shortened to fit 63
// characters, then `-` and 8 hex digits of a hash of namespace and name, so that two BotSandboxes
// never share one however long their names.
std::string SandboxNamespaceName(std::string_view prefix, std::string_view owner_namespace,
                                 std::string_view owner_name);

// The objects of one sandbox, each a complete object for server-side apply.
// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members; nothing here throws
struct RenderedSandbox {
  std::string namespace_name;
  Json namespace_;
  Json service_account;
  Json resource_quota;
  Json limit_range;
  std::vector<Json> network_policies;  // sorted by name
  std::vector<Json> secrets;           // mirrored, in spec order
  std::optional<Json> service;         // when the bot declares ports
  Json pod;
  std::string pod_hash;  // of the Pod's spec, as its kSpecHashAnnotation
  // What was changed on the way, for an event: "egress to 169.254.0.0/16 dropped: never reachable".
  std::vector<std::string> notes;
};

// Renders `sandbox`. `secrets` holds the source Secrets (as read from the BotSandbox's namespace)
// that may be mirrored, by name; a Secret the sandbox names but `secrets` lacks is left out, and
// so is any env var that refers to it. Fails (kInvalidArgument, one Cause per problem) when the
// sandbox asks for more than the administrator's bounds allow.
core::Result<RenderedSandbox> Render(const BotSandbox& sandbox, const SandboxSettings& settings,
                                     const std::map<std::string, Json>& secrets);

// The bot's Pod alone, as Render makes it (no Secrets needed): for the webhook.
core::Result<Json> RenderPod(const BotSandbox& sandbox, const SandboxSettings& settings);

}  // namespace botsec::api

#endif  // BOTSEC_API_RENDER_H_
