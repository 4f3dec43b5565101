// The BotSandbox API (botsec.io/v1alpha1), typed: what the operator reconciles and the webhook
// judges. crds/botsec.io_botsandboxes.yaml is the schema the API server enforces; ParseBotSandbox
// reads an object as the API server stored it and checks the same rules again, so an object that
// reached us some other way (an older CRD, a test, `botsec check`) is held to them too.
//
// Quantities stay as written ("500m", "2Gi"): the operator copies them into the objects it makes,
// and compares them through policy::Quantity.
#ifndef BOTSEC_API_BOT_SANDBOX_H_
#define BOTSEC_API_BOT_SANDBOX_H_

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::api {

using Json = nlohmann::json;

inline constexpr std::string_view kGroup = "botsec.io";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "botsec.io/v1alpha1";
inline constexpr std::string_view kKind = "BotSandbox";
inline constexpr std::string_view kResource = "botsandboxes";

// The metadata the operator reads.
struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  std::string creation_timestamp;  // RFC 3339
  std::optional<std::string> deletion_timestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
};

struct KeyRef {
  std::string name;
  std::string key;
  bool optional = false;
};

struct EnvVar {
  std::string name;
  std::optional<std::string> value;
  std::optional<KeyRef> secret_key_ref;      // a key of a mirrored Secret
  std::optional<KeyRef> config_map_key_ref;  // a key of a ConfigMap in the sandbox
};

struct ContainerPort {
  std::string name;
  std::int32_t container_port = 0;
  std::string protocol = "TCP";
};

// "cpu", "memory", "ephemeral-storage" (the API's spelling) to a quantity as written.
using ResourceList = std::map<std::string, std::string>;

struct Resources {
  ResourceList requests;
  ResourceList limits;
};

// The sandbox namespace's ResourceQuota: "pods", "cpu", "memory", "ephemeral-storage",
// "configmaps", "secrets", "services", "persistentvolumeclaims" to a quantity or count.
using Quota = std::map<std::string, std::string>;

struct PortRange {
  std::int32_t port = 0;
  std::optional<std::int32_t> end_port;
  std::string protocol = "TCP";
};

struct EgressCidr {
  std::string cidr;
  std::vector<std::string> except;
  std::vector<PortRange> ports;  // empty: every port
};

struct IngressRule {
  std::vector<std::string> from_sandboxes;
  std::vector<std::string> from_namespaces;
  std::vector<PortRange> ports;  // empty: every port
};

struct Network {
  std::vector<EgressCidr> egress_cidrs;
  bool allow_dns = true;
  std::vector<IngressRule> ingress;
  std::optional<std::string> egress_bandwidth;
  std::optional<std::string> ingress_bandwidth;
};

struct SecurityProfile {
  std::string type = "RuntimeDefault";  // or "Localhost"
  std::optional<std::string> localhost_profile;
};

inline constexpr std::int64_t kDefaultId = 65532;

struct Isolation {
  std::optional<std::string> runtime_class_name;
  SecurityProfile seccomp_profile;
  SecurityProfile app_armor_profile;
  std::int64_t run_as_user = kDefaultId;
  std::int64_t run_as_group = kDefaultId;
  std::int64_t fs_group = kDefaultId;
  bool host_users = true;
  std::string tmp_size = "64Mi";
};

enum class OnExpiry { kDelete, kRetain };

struct Lifetime {
  std::chrono::seconds ttl{0};
  std::string ttl_text;  // as written
  OnExpiry on_expiry = OnExpiry::kDelete;
};

struct BotSandboxSpec {
  std::string image;
  std::vector<std::string> image_pull_secrets;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::vector<EnvVar> env;
  std::string restart_policy = "Always";
  Resources resources;
  Quota quota;
  Network network;
  Isolation isolation;
  std::vector<std::string> secrets;
  std::optional<Lifetime> lifetime;
  bool suspend = false;
};

enum class Phase { kPending, kRunning, kSucceeded, kFailed, kSuspended, kExpired, kTerminating };

std::string_view PhaseName(Phase phase);

// metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;  // RFC 3339
  std::int64_t observed_generation = 0;

  friend bool operator==(const Condition&, const Condition&) = default;
};

struct BotState {
  std::string state;  // Waiting, Running, Terminated
  bool ready = false;
  std::int32_t restart_count = 0;
  std::optional<std::int32_t> exit_code;
  std::string reason;
  std::string message;

  friend bool operator==(const BotState&, const BotState&) = default;
};

struct BotSandboxStatus {
  std::optional<Phase> phase;
  std::string namespace_;
  std::string pod_name;
  std::string pod_ip;
  std::string start_time;  // RFC 3339
  std::string expires_at;  // RFC 3339
  std::optional<BotState> bot;
  std::int64_t observed_generation = 0;
  std::vector<Condition> conditions;

  friend bool operator==(const BotSandboxStatus&, const BotSandboxStatus&) = default;
};

struct BotSandbox {
  ObjectMeta metadata;
  BotSandboxSpec spec;
  BotSandboxStatus status;
};

// Reads an object's metadata. Fails (kInvalidArgument) when it is not an object or has no name.
core::Result<ObjectMeta> ParseObjectMeta(const Json& object);

// Reads a BotSandbox, applying the CRD's defaults to what is left out. Every problem is reported,
// each as a Cause with its field path, apimachinery's reason and message; the Error's message
// joins them: "spec.lifetime.ttl: Invalid value: \"2 days\": must be a duration such as 2h".
core::Result<BotSandbox> ParseBotSandbox(const Json& object);

// The status as the API's JSON (for a server-side apply of the status subresource).
Json StatusToJson(const BotSandboxStatus& status);

// The member at `path` ({"metadata", "annotations", "botsec.io/owner"}) of an object, or nullptr
// when a step is missing or not an object.
const Json* FieldAt(const Json& object, std::initializer_list<std::string_view> path);
// The string at `path`, or "" when there is none.
std::string TextAt(const Json& object, std::initializer_list<std::string_view> path);

// The condition of `type`, or nullptr.
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);

}  // namespace botsec::api

#endif  // BOTSEC_API_BOT_SANDBOX_H_
