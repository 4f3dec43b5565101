// The policy document: which profile, the bot checks' settings, exemptions with their reasons, and
// the bounds an administrator sets on what a BotSandbox may ask for. Read from YAML; unknown keys
// and bad values are refused with their line and column.
//
//   apiVersion: botsec.io/v1alpha1
//   kind: Policy
//   profile: bot                      # pss-baseline | pss-restricted | bot
//   checks:
//     readOnlyRootFilesystem: true
//     serviceAccountToken: false      # true: a bot pod may mount an API token
//     resources:
//       requireLimits: true           # cpu and memory limits on every container that has them
//       maxLimits: {cpu: "4", memory: 8Gi, ephemeral-storage: 20Gi}
//     runtimeClasses: [gvisor, kata]  # empty: any, or none
//     images:
//       registries: [ghcr.io/acme/]   # empty: any
//       requireDigest: true
//   exemptions:
//     - namespaces: [legacy-bots]     # not judged by the webhook (offline: ignored)
//       reason: migrating by 2027-01
//     - images: [registry.k8s.io/pause:3.10]  # containers with this image skip container checks
//       reason: the sandbox's pause image
//   sandboxes:
//     maxResources: {cpu: "4", memory: 8Gi, ephemeral-storage: 20Gi}
//     maxQuota: {pods: "10", cpu: "8", memory: 16Gi, ephemeral-storage: 50Gi}
//     maxTTL: 24h
//     runtimeClasses: [gvisor]
//     neverReach: [10.0.0.0/8]        # always joined by link-local and cloud metadata addresses
#ifndef BOTSEC_POLICY_POLICY_H_
#define BOTSEC_POLICY_POLICY_H_

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/file_stamp.h"
#include "botsec/core/result.h"
#include "botsec/policy/engine.h"

namespace botsec::policy {

// A Kubernetes resource quantity ("500m", "2", "8Gi", "1e3") as a number of base units.
struct Quantity {
  double value = 0;  // cores for cpu, bytes for memory and storage, a count for objects
  std::string text;  // as written

  // Fails (kInvalidArgument) on anything the API server would not accept.
  static core::Result<Quantity> Parse(std::string_view text);
};

// Resource name ("cpu", "memory", "ephemeral-storage", "pods", ...) to its bound.
using ResourceBounds = std::map<std::string, Quantity, std::less<>>;

struct BotChecks {
  bool read_only_root_filesystem = true;
  bool allow_service_account_token = false;
  bool require_limits = true;
  ResourceBounds max_limits;                 // per container
  std::vector<std::string> runtime_classes;  // allowed; empty: any
  std::vector<std::string> registries;       // allowed image prefixes; empty: any
  bool require_digest = false;
};

struct Exemption {
  std::vector<std::string> namespaces;
  std::vector<std::string> images;
  std::string reason;  // required
};

struct SandboxBounds {
  ResourceBounds max_resources;
  ResourceBounds max_quota;
  std::optional<std::chrono::seconds> max_ttl;
  std::vector<std::string> runtime_classes;
  // CIDRs no sandbox may reach: the administrator's, plus kAlwaysNeverReach.
  std::vector<std::string> never_reach;
};

// Link-local (where cloud metadata services live: 169.254.169.254, 169.254.170.2), IPv6
// link-local, AWS's IPv6 metadata address and Alibaba Cloud's metadata address.
inline constexpr std::array<std::string_view, 4> kAlwaysNeverReach = {
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32"};

struct Policy {
  Profile profile = Profile::kBot;
  BotChecks checks;
  std::vector<Exemption> exemptions;
  SandboxBounds sandboxes;

  // The default policy: the bot profile with its default checks.
  static Policy Default();
  // A policy of one profile with default settings.
  static Policy ForProfile(Profile profile);
};

// Reads a policy document. Errors name the line, column and key path:
// "line 7, column 5: checks.resourcez: unknown key (known: readOnlyRootFilesystem, ...)".
core::Result<Policy> ParsePolicy(std::string_view yaml);

// Reads the policy document in file `path` (a binary's --policy, read once at start-up). Errors
// name the file: "--policy /etc/botsec/policy.yaml: line 3, column 1: ...".
core::Result<Policy> ReadPolicyFile(const std::string& path);

// Notices when a policy file changes (a rewrite, or the symlink swap of a ConfigMap update) and
// reads it again. Not thread-safe: one caller polls.
class PolicyReloader {
 public:
  // Remembers the file as it is now (read at start-up with ReadPolicyFile).
  explicit PolicyReloader(std::string path);

  // The policy, when the file changed since the last call and reads well; nullopt when it did not
  // change. When it changed and does not read, the error, once for each version of the file: the
  // caller keeps the policy it has.
  core::Result<std::optional<Policy>> Poll();

  // Poll, then `apply` a changed policy and log "Policy reloaded path=... profile=...", or log why
  // a changed file was not taken (the policy in force stays).
  void PollAndApply(const std::function<void(const Policy&)>& apply, std::ostream& log);

 private:
  std::string path_;
  core::FileStamp seen_;
};

// "2h", "90m", "1h30m", "45s": a Go-style duration of whole seconds.
core::Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_POLICY_H_
