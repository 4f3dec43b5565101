#include "botsec/api/bot_sandbox.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <utility>

#include "botsec/core/cidr.h"
#include "botsec/policy/policy.h"

namespace botsec::api {
namespace {

using core::Cause;
using core::ErrorCode;
using core::Result;

// Reads fields of a JSON object, collecting every problem with its path in apimachinery's words.
class FieldReader {
 public:
  [[nodiscard]] const std::vector<Cause>& causes() const { return causes_; }

  void Invalid(const std::string& path, const Json& value, const std::string& message) {
    std::string shown = value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump();
    Add(path, "FieldValueInvalid", "Invalid value: " + shown + ": " + message);
  }
  void Required(const std::string& path, const std::string& message = "") {
    Add(path, "FieldValueRequired", "Required value" + (message.empty() ? "" : ": " + message));
  }
  void Unsupported(const std::string& path, const Json& value,
                   std::initializer_list<std::string_view> supported) {
    std::string message = "Unsupported value: " + value.dump() + ": supported values: ";
    bool first = true;
    for (std::string_view option : supported) {
      message += (first ? "\"" : ", \"") + std::string(option) + "\"";
      first = false;
    }
    Add(path, "FieldValueNotSupported", message);
  }
  void Duplicate(const std::string& path, const Json& value) {
    Add(path, "FieldValueDuplicate", "Duplicate value: " + value.dump());
  }

  // The member `key` of `parent` if present and not null; nullptr otherwise.
  static const Json* Member(const Json& parent, std::string_view key) {
    if (!parent.is_object()) {
      return nullptr;
    }
    const auto& fields = parent.get_ref<const Json::object_t&>();
    auto it = fields.find(key);
    if (it == fields.end() || it->second.is_null()) {
      return nullptr;
    }
    return &it->second;
  }

  const Json* Object(const Json& parent, std::string_view key, const std::string& path) {
    const Json* value = Member(parent, key);
    if (value != nullptr && !value->is_object()) {
      Invalid(path, *value, "must be an object");
      return nullptr;
    }
    return value;
  }

  const Json* Array(const Json& parent, std::string_view key, const std::string& path,
                    std::size_t max_items) {
    const Json* value = Member(parent, key);
    if (value == nullptr) {
      return nullptr;
    }
    if (!value->is_array()) {
      Invalid(path, *value, "must be a list");
      return nullptr;
    }
    if (value->size() > max_items) {
      Add(path, "FieldValueTooMany",
          "Too many: " + std::to_string(value->size()) + ": must have at most " +
              std::to_string(max_items) + " items");
      return nullptr;
    }
    return value;
  }

  std::optional<std::string> String(const Json& parent, std::string_view key,
                                    const std::string& path, std::size_t max_length = 4096) {
    const Json* value = Member(parent, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_string()) {
      Invalid(path, *value, "must be a string");
      return std::nullopt;
    }
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > max_length) {
      Add(path, "FieldValueTooLong",
          "Too long: may not be more than " + std::to_string(max_length) + " bytes");
      return std::nullopt;
    }
    return text;
  }

  std::string RequiredString(const Json& parent, std::string_view key, const std::string& path,
                             std::size_t max_length = 253) {
    auto text = String(parent, key, path, max_length);
    if (!text) {
      if (Member(parent, key) == nullptr) {
        Required(path);
      }
      return "";
    }
    if (text->empty()) {
      Required(path);
    }
    return *text;
  }

  std::optional<std::int64_t> Int(const Json& parent, std::string_view key, const std::string& path,
                                  std::int64_t min, std::int64_t max) {
    const Json* value = Member(parent, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_number_integer()) {
      Invalid(path, *value, "must be an integer");
      return std::nullopt;
    }
    std::int64_t number =
        value->is_number_unsigned() &&
                value->get<std::uint64_t>() >
                    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
            ? std::numeric_limits<std::int64_t>::max()
            : value->get<std::int64_t>();
    if (number < min || number > max) {
      Invalid(
          path, *value,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", inclusive");
      return std::nullopt;
    }
    return number;
  }

  std::optional<bool> Bool(const Json& parent, std::string_view key, const std::string& path) {
    const Json* value = Member(parent, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_boolean()) {
      Invalid(path, *value, "must be true or false");
      return std::nullopt;
    }
    return value->get<bool>();
  }

  // A quantity, written as a string or an integer, that must be positive.
  std::optional<std::string> Quantity(const Json& parent, std::string_view key,
                                      const std::string& path) {
    const Json* value = Member(parent, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    std::string text;
    if (value->is_string()) {
      text = value->get<std::string>();
    } else if (value->is_number_integer()) {
      text = value->dump();
    } else {
      Invalid(path, *value, "must be a quantity such as 500m, 2, 8Gi");
      return std::nullopt;
    }
    auto parsed = policy::Quantity::Parse(text);
    if (!parsed || parsed->value <= 0) {
      Invalid(path, *value, "must be a positive quantity such as 500m, 2, 8Gi");
      return std::nullopt;
    }
    return text;
  }

  std::vector<std::string> Strings(const Json& parent, std::string_view key,
                                   const std::string& path, std::size_t max_items,
                                   std::size_t max_length = 4096) {
    std::vector<std::string> out;
    const Json* list = Array(parent, key, path, max_items);
    if (list == nullptr) {
      return out;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      std::string item_path = path + "[" + std::to_string(i) + "]";
      if (!(*list)[i].is_string()) {
        Invalid(item_path, (*list)[i], "must be a string");
        continue;
      }
      const auto& text = (*list)[i].get_ref<const std::string&>();
      if (text.size() > max_length) {
        Add(item_path, "FieldValueTooLong",
            "Too long: may not be more than " + std::to_string(max_length) + " bytes");
        continue;
      }
      out.push_back(text);
    }
    return out;
  }

 private:
  void Add(const std::string& path, std::string reason, std::string message) {
    causes_.push_back({.field = path, .reason = std::move(reason), .message = std::move(message)});
  }

  std::vector<Cause> causes_;
};

std::string Index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

bool IsDnsLabel(std::string_view text) {
  if (text.empty() || text.size() > 63 || text.front() == '-' || text.back() == '-') {
    return false;
  }
  return std::ranges::all_of(
      text, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool IsDnsSubdomain(std::string_view text) {
  if (text.empty() || text.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t dot = text.find('.', start);
    if (!IsDnsLabel(text.substr(start, dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool IsServiceName(std::string_view text) {
  return IsDnsLabel(text) && text.size() <= 15 && text.find("--") == std::string_view::npos &&
         std::ranges::any_of(text, [](char c) { return c >= 'a' && c <= 'z'; });
}

std::string Protocol(FieldReader& reader, const Json& parent, const std::string& path) {
  auto protocol = reader.String(parent, "protocol", path + ".protocol");
  if (!protocol) {
    return "TCP";
  }
  if (*protocol != "TCP" && *protocol != "UDP" && *protocol != "SCTP") {
    reader.Unsupported(path + ".protocol", *protocol, {"TCP", "UDP", "SCTP"});
  }
  return *protocol;
}

// Names of the objects in a list of {name: ...}, each at most once.
std::vector<std::string> Names(FieldReader& reader, const Json& spec, std::string_view key,
                               const std::string& path, std::size_t max_items) {
  std::vector<std::string> names;
  const Json* list = reader.Array(spec, key, path, max_items);
  if (list == nullptr) {
    return names;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string item_path = Index(path, i);
    if (!(*list)[i].is_object()) {
      reader.Invalid(item_path, (*list)[i], "must be an object");
      continue;
    }
    std::string name = reader.RequiredString((*list)[i], "name", item_path + ".name");
    if (name.empty()) {
      continue;
    }
    if (std::ranges::find(names, name) != names.end()) {
      reader.Duplicate(item_path, {{"name", name}});
      continue;
    }
    names.push_back(name);
  }
  return names;
}

std::vector<ContainerPort> ReadPorts(FieldReader& reader, const Json& spec) {
  std::vector<ContainerPort> ports;
  const Json* list = reader.Array(spec, "ports", "spec.ports", 16);
  if (list == nullptr) {
    return ports;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string path = Index("spec.ports", i);
    const Json& item = (*list)[i];
    if (!item.is_object()) {
      reader.Invalid(path, item, "must be an object");
      continue;
    }
    ContainerPort port;
    if (auto name = reader.String(item, "name", path + ".name", 15)) {
      if (!IsServiceName(*name)) {
        reader.Invalid(path + ".name", *name,
                       "must be an IANA service name (lower-case letters, digits and '-', at "
                       "least one letter)");
      }
      port.name = *name;
    }
    auto number = reader.Int(item, "containerPort", path + ".containerPort", 1, 65535);
    if (!number && FieldReader::Member(item, "containerPort") == nullptr) {
      reader.Required(path + ".containerPort");
    }
    port.container_port = static_cast<std::int32_t>(number.value_or(0));
    port.protocol = Protocol(reader, item, path);
    bool duplicate = std::ranges::any_of(ports, [&](const ContainerPort& other) {
      return other.container_port == port.container_port && other.protocol == port.protocol;
    });
    if (duplicate) {
      reader.Duplicate(path, {{"containerPort", port.container_port}, {"protocol", port.protocol}});
      continue;
    }
    ports.push_back(port);
  }
  return ports;
}

std::optional<KeyRef> ReadKeyRef(FieldReader& reader, const Json& parent, std::string_view key,
                                 const std::string& path) {
  const Json* ref = reader.Object(parent, key, path);
  if (ref == nullptr) {
    return std::nullopt;
  }
  KeyRef out;
  out.name = reader.RequiredString(*ref, "name", path + ".name");
  out.key = reader.RequiredString(*ref, "key", path + ".key");
  out.optional = reader.Bool(*ref, "optional", path + ".optional").value_or(false);
  return out;
}

std::vector<EnvVar> ReadEnv(FieldReader& reader, const Json& spec) {
  std::vector<EnvVar> env;
  const Json* list = reader.Array(spec, "env", "spec.env", 128);
  if (list == nullptr) {
    return env;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string path = Index("spec.env", i);
    const Json& item = (*list)[i];
    if (!item.is_object()) {
      reader.Invalid(path, item, "must be an object");
      continue;
    }
    EnvVar var;
    var.name = reader.RequiredString(item, "name", path + ".name", 256);
    if (var.name.find('=') != std::string::npos) {
      reader.Invalid(path + ".name", var.name, "must not contain '='");
    }
    var.value = reader.String(item, "value", path + ".value", 32768);
    if (const Json* from = reader.Object(item, "valueFrom", path + ".valueFrom")) {
      if (var.value) {
        reader.Invalid(path, item, "value and valueFrom are mutually exclusive");
      }
      var.secret_key_ref =
          ReadKeyRef(reader, *from, "secretKeyRef", path + ".valueFrom.secretKeyRef");
      var.config_map_key_ref =
          ReadKeyRef(reader, *from, "configMapKeyRef", path + ".valueFrom.configMapKeyRef");
      if (var.secret_key_ref.has_value() == var.config_map_key_ref.has_value()) {
        reader.Invalid(path + ".valueFrom", *from,
                       "exactly one of secretKeyRef and configMapKeyRef");
      }
    }
    if (std::ranges::any_of(env, [&](const EnvVar& other) { return other.name == var.name; })) {
      reader.Duplicate(path, {{"name", var.name}});
      continue;
    }
    env.push_back(std::move(var));
  }
  return env;
}

// The resource names of the API (cpu, memory, ephemeral-storage) by their field names here.
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kResourceFields = {{
    {"cpu", "cpu"},
    {"memory", "memory"},
    {"ephemeralStorage", "ephemeral-storage"},
}};

ResourceList ReadResourceList(FieldReader& reader, const Json& parent, std::string_view key,
                              const std::string& path) {
  ResourceList list;
  const Json* values = reader.Object(parent, key, path);
  if (values == nullptr) {
    return list;
  }
  for (const auto& [field, resource] : kResourceFields) {
    if (auto quantity = reader.Quantity(*values, field, path + "." + std::string(field))) {
      list.emplace(resource, *quantity);
    }
  }
  return list;
}

Resources ReadResources(FieldReader& reader, const Json& spec) {
  Resources resources;
  const Json* object = reader.Object(spec, "resources", "spec.resources");
  if (object == nullptr) {
    return resources;
  }
  resources.requests = ReadResourceList(reader, *object, "requests", "spec.resources.requests");
  resources.limits = ReadResourceList(reader, *object, "limits", "spec.resources.limits");
  for (const auto& [field, resource] : kResourceFields) {
    auto request = resources.requests.find(std::string(resource));
    auto limit = resources.limits.find(std::string(resource));
    if (request == resources.requests.end() || limit == resources.limits.end()) {
      continue;
    }
    auto request_value = policy::Quantity::Parse(request->second);
    auto limit_value = policy::Quantity::Parse(limit->second);
    if (request_value && limit_value && request_value->value > limit_value->value) {
      reader.Invalid("spec.resources.requests." + std::string(field), request->second,
                     "must be less than or equal to the " + std::string(resource) + " limit");
    }
  }
  return resources;
}

Quota ReadQuota(FieldReader& reader, const Json& spec) {
  Quota quota;
  const Json* object = reader.Object(spec, "quota", "spec.quota");
  if (object == nullptr) {
    return quota;
  }
  for (const auto& [field, resource] : kResourceFields) {
    if (auto quantity = reader.Quantity(*object, field, "spec.quota." + std::string(field))) {
      quota.emplace(resource, *quantity);
    }
  }
  constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kCounts = {{
      {"pods", "pods"},
      {"configMaps", "configmaps"},
      {"secrets", "secrets"},
      {"services", "services"},
      {"persistentVolumeClaims", "persistentvolumeclaims"},
  }};
  for (const auto& [field, resource] : kCounts) {
    if (auto count = reader.Int(*object, field, "spec.quota." + std::string(field), 0, 1000000)) {
      quota.emplace(resource, std::to_string(*count));
    }
  }
  return quota;
}

std::vector<PortRange> ReadPortRanges(FieldReader& reader, const Json& parent,
                                      const std::string& path) {
  std::vector<PortRange> ranges;
  const Json* list = reader.Array(parent, "ports", path, 32);
  if (list == nullptr) {
    return ranges;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string item_path = Index(path, i);
    const Json& item = (*list)[i];
    if (!item.is_object()) {
      reader.Invalid(item_path, item, "must be an object");
      continue;
    }
    PortRange range;
    auto port = reader.Int(item, "port", item_path + ".port", 1, 65535);
    if (!port && FieldReader::Member(item, "port") == nullptr) {
      reader.Required(item_path + ".port");
    }
    range.port = static_cast<std::int32_t>(port.value_or(0));
    if (auto end = reader.Int(item, "endPort", item_path + ".endPort", 1, 65535)) {
      if (port && *end < *port) {
        reader.Invalid(item_path + ".endPort", *end, "must be greater than or equal to port");
      }
      range.end_port = static_cast<std::int32_t>(*end);
    }
    range.protocol = Protocol(reader, item, item_path);
    ranges.push_back(range);
  }
  return ranges;
}

std::optional<core::Cidr> ReadCidr(FieldReader& reader, const Json& value,
                                   const std::string& path) {
  if (!value.is_string()) {
    reader.Invalid(path, value, "must be a string");
    return std::nullopt;
  }
  auto cidr = core::Cidr::Parse(value.get<std::string>());
  if (!cidr) {
    reader.Invalid(path, value, cidr.error().message);
    return std::nullopt;
  }
  return *cidr;
}

std::vector<EgressCidr> ReadEgress(FieldReader& reader, const Json& network) {
  std::vector<EgressCidr> out;
  if (const Json* egress = reader.Object(network, "egress", "spec.network.egress")) {
    const Json* cidrs = reader.Array(*egress, "cidrs", "spec.network.egress.cidrs", 64);
    for (std::size_t i = 0; cidrs != nullptr && i < cidrs->size(); ++i) {
      std::string path = Index("spec.network.egress.cidrs", i);
      const Json& item = (*cidrs)[i];
      if (!item.is_object()) {
        reader.Invalid(path, item, "must be an object");
        continue;
      }
      EgressCidr entry;
      std::optional<core::Cidr> block;
      if (const Json* cidr = FieldReader::Member(item, "cidr")) {
        block = ReadCidr(reader, *cidr, path + ".cidr");
        entry.cidr = cidr->is_string() ? cidr->get<std::string>() : "";
      } else {
        reader.Required(path + ".cidr");
      }
      const Json* excepts = reader.Array(item, "except", path + ".except", 32);
      for (std::size_t j = 0; excepts != nullptr && j < excepts->size(); ++j) {
        std::string except_path = Index(path + ".except", j);
        auto inner = ReadCidr(reader, (*excepts)[j], except_path);
        if (!inner) {
          continue;
        }
        if (block && !block->Contains(*inner)) {
          reader.Invalid(except_path, (*excepts)[j], "must lie inside cidr " + entry.cidr);
          continue;
        }
        entry.except.push_back((*excepts)[j].get<std::string>());
      }
      entry.ports = ReadPortRanges(reader, item, path + ".ports");
      out.push_back(std::move(entry));
    }
  }
  return out;
}

std::vector<IngressRule> ReadIngress(FieldReader& reader, const Json& network) {
  std::vector<IngressRule> out;
  const Json* ingress = reader.Array(network, "ingress", "spec.network.ingress", 32);
  for (std::size_t i = 0; ingress != nullptr && i < ingress->size(); ++i) {
    std::string path = Index("spec.network.ingress", i);
    const Json& item = (*ingress)[i];
    if (!item.is_object()) {
      reader.Invalid(path, item, "must be an object");
      continue;
    }
    IngressRule rule;
    rule.from_sandboxes = reader.Strings(item, "fromSandboxes", path + ".fromSandboxes", 64, 63);
    rule.from_namespaces = reader.Strings(item, "fromNamespaces", path + ".fromNamespaces", 64, 63);
    for (const auto& [list, field] : {std::pair{&rule.from_sandboxes, "fromSandboxes"},
                                      std::pair{&rule.from_namespaces, "fromNamespaces"}}) {
      for (std::size_t j = 0; j < list->size(); ++j) {
        if (!IsDnsLabel((*list)[j])) {
          reader.Invalid(Index(path + "." + field, j), (*list)[j],
                         "must be a DNS label (lower-case letters, digits and '-')");
        }
      }
    }
    if (rule.from_sandboxes.empty() && rule.from_namespaces.empty()) {
      reader.Required(path, "name at least one of fromSandboxes and fromNamespaces");
    }
    rule.ports = ReadPortRanges(reader, item, path + ".ports");
    out.push_back(std::move(rule));
  }
  return out;
}

Network ReadNetwork(FieldReader& reader, const Json& spec) {
  Network network;
  const Json* object = reader.Object(spec, "network", "spec.network");
  if (object == nullptr) {
    return network;
  }
  network.egress_cidrs = ReadEgress(reader, *object);
  network.allow_dns = reader.Bool(*object, "allowDNS", "spec.network.allowDNS").value_or(true);
  network.ingress = ReadIngress(reader, *object);
  if (const Json* bandwidth = reader.Object(*object, "bandwidth", "spec.network.bandwidth")) {
    network.egress_bandwidth =
        reader.Quantity(*bandwidth, "egress", "spec.network.bandwidth.egress");
    network.ingress_bandwidth =
        reader.Quantity(*bandwidth, "ingress", "spec.network.bandwidth.ingress");
  }
  return network;
}

SecurityProfile ReadProfile(FieldReader& reader, const Json& parent, std::string_view key,
                            const std::string& path) {
  SecurityProfile profile;
  const Json* object = reader.Object(parent, key, path);
  if (object == nullptr) {
    return profile;
  }
  if (auto type = reader.String(*object, "type", path + ".type")) {
    if (*type != "RuntimeDefault" && *type != "Localhost") {
      reader.Unsupported(path + ".type", *type, {"RuntimeDefault", "Localhost"});
    }
    profile.type = *type;
  }
  profile.localhost_profile =
      reader.String(*object, "localhostProfile", path + ".localhostProfile");
  if ((profile.type == "Localhost") != profile.localhost_profile.has_value()) {
    reader.Invalid(path, *object,
                   "localhostProfile is required with type Localhost and forbidden otherwise");
  }
  return profile;
}

Isolation ReadIsolation(FieldReader& reader, const Json& spec) {
  Isolation isolation;
  const Json* object = reader.Object(spec, "isolation", "spec.isolation");
  if (object == nullptr) {
    return isolation;
  }
  if (auto runtime =
          reader.String(*object, "runtimeClassName", "spec.isolation.runtimeClassName", 253)) {
    if (!IsDnsSubdomain(*runtime)) {
      reader.Invalid("spec.isolation.runtimeClassName", *runtime,
                     "must be a DNS subdomain (lower-case letters, digits, '-' and '.')");
    }
    isolation.runtime_class_name = *runtime;
  }
  isolation.seccomp_profile =
      ReadProfile(reader, *object, "seccompProfile", "spec.isolation.seccompProfile");
  isolation.app_armor_profile =
      ReadProfile(reader, *object, "appArmorProfile", "spec.isolation.appArmorProfile");
  constexpr std::int64_t kMaxId = 2147483647;
  isolation.run_as_user =
      reader.Int(*object, "runAsUser", "spec.isolation.runAsUser", 1, kMaxId).value_or(kDefaultId);
  isolation.run_as_group = reader.Int(*object, "runAsGroup", "spec.isolation.runAsGroup", 1, kMaxId)
                               .value_or(kDefaultId);
  isolation.fs_group =
      reader.Int(*object, "fsGroup", "spec.isolation.fsGroup", 1, kMaxId).value_or(kDefaultId);
  isolation.host_users =
      reader.Bool(*object, "hostUsers", "spec.isolation.hostUsers").value_or(true);
  if (auto size = reader.Quantity(*object, "tmpSize", "spec.isolation.tmpSize")) {
    auto bytes = policy::Quantity::Parse(*size);
    constexpr double kMaxTmp = 64.0 * 1024 * 1024 * 1024;
    if (bytes && bytes->value > kMaxTmp) {
      reader.Invalid("spec.isolation.tmpSize", *size, "must be at most 64Gi");
    }
    isolation.tmp_size = *size;
  }
  return isolation;
}

std::optional<Lifetime> ReadLifetime(FieldReader& reader, const Json& spec) {
  const Json* object = reader.Object(spec, "lifetime", "spec.lifetime");
  if (object == nullptr) {
    return std::nullopt;
  }
  Lifetime lifetime;
  auto ttl = reader.String(*object, "ttl", "spec.lifetime.ttl", 64);
  if (!ttl) {
    if (FieldReader::Member(*object, "ttl") == nullptr) {
      reader.Required("spec.lifetime.ttl");
    }
  } else if (auto seconds = policy::ParseDuration(*ttl); seconds) {
    lifetime.ttl = *seconds;
    lifetime.ttl_text = *ttl;
  } else {
    reader.Invalid("spec.lifetime.ttl", *ttl, "must be a positive duration such as 2h, 90m, 1h30m");
  }
  if (auto expiry = reader.String(*object, "onExpiry", "spec.lifetime.onExpiry")) {
    if (*expiry == "Retain") {
      lifetime.on_expiry = OnExpiry::kRetain;
    } else if (*expiry != "Delete") {
      reader.Unsupported("spec.lifetime.onExpiry", *expiry, {"Delete", "Retain"});
    }
  }
  return lifetime;
}

BotSandboxSpec ReadSpec(FieldReader& reader, const Json& spec) {
  BotSandboxSpec out;
  out.image = reader.RequiredString(spec, "image", "spec.image", 1024);
  if (std::ranges::any_of(out.image, [](char c) { return c == ' ' || c == '\t' || c == '\n'; })) {
    reader.Invalid("spec.image", out.image, "must not contain whitespace");
  }
  out.image_pull_secrets = Names(reader, spec, "imagePullSecrets", "spec.imagePullSecrets", 16);
  out.command = reader.Strings(spec, "command", "spec.command", 256);
  out.args = reader.Strings(spec, "args", "spec.args", 256);
  out.working_dir = reader.String(spec, "workingDir", "spec.workingDir").value_or("");
  out.ports = ReadPorts(reader, spec);
  out.env = ReadEnv(reader, spec);
  if (auto policy = reader.String(spec, "restartPolicy", "spec.restartPolicy")) {
    if (*policy != "Always" && *policy != "OnFailure" && *policy != "Never") {
      reader.Unsupported("spec.restartPolicy", *policy, {"Always", "OnFailure", "Never"});
    }
    out.restart_policy = *policy;
  }
  out.resources = ReadResources(reader, spec);
  out.quota = ReadQuota(reader, spec);
  out.network = ReadNetwork(reader, spec);
  out.isolation = ReadIsolation(reader, spec);
  out.secrets = Names(reader, spec, "secrets", "spec.secrets", 32);
  out.lifetime = ReadLifetime(reader, spec);
  out.suspend = reader.Bool(spec, "suspend", "spec.suspend").value_or(false);
  return out;
}

std::optional<Phase> ParsePhase(std::string_view name) {
  for (Phase phase : {Phase::kPending, Phase::kRunning, Phase::kSucceeded, Phase::kFailed,
                      Phase::kSuspended, Phase::kExpired, Phase::kTerminating}) {
    if (PhaseName(phase) == name) {
      return phase;
    }
  }
  return std::nullopt;
}

// Status is ours: read leniently, so that a status written by another version never blocks a
// reconcile. What cannot be read is left at its zero value and rewritten.
BotSandboxStatus ReadStatus(const Json& status) {
  BotSandboxStatus out;
  if (!status.is_object()) {
    return out;
  }
  auto text = [&](const Json& object, std::string_view key) {
    const Json* value = FieldReader::Member(object, key);
    return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
  };
  auto integer = [&](const Json& object, std::string_view key) -> std::int64_t {
    const Json* value = FieldReader::Member(object, key);
    return value != nullptr && value->is_number_integer() ? value->get<std::int64_t>() : 0;
  };
  out.phase = ParsePhase(text(status, "phase"));
  out.namespace_ = text(status, "namespace");
  out.pod_name = text(status, "podName");
  out.pod_ip = text(status, "podIP");
  out.start_time = text(status, "startTime");
  out.expires_at = text(status, "expiresAt");
  out.observed_generation = integer(status, "observedGeneration");
  if (const Json* bot = FieldReader::Member(status, "bot"); bot != nullptr && bot->is_object()) {
    BotState state;
    state.state = text(*bot, "state");
    const Json* ready = FieldReader::Member(*bot, "ready");
    state.ready = ready != nullptr && ready->is_boolean() && ready->get<bool>();
    state.restart_count = static_cast<std::int32_t>(integer(*bot, "restartCount"));
    if (const Json* code = FieldReader::Member(*bot, "exitCode");
        code != nullptr && code->is_number_integer()) {
      state.exit_code = code->get<std::int32_t>();
    }
    state.reason = text(*bot, "reason");
    state.message = text(*bot, "message");
    out.bot = state;
  }
  if (const Json* conditions = FieldReader::Member(status, "conditions");
      conditions != nullptr && conditions->is_array()) {
    for (const Json& item : *conditions) {
      if (!item.is_object()) {
        continue;
      }
      out.conditions.push_back({.type = text(item, "type"),
                                .status = text(item, "status"),
                                .reason = text(item, "reason"),
                                .message = text(item, "message"),
                                .last_transition_time = text(item, "lastTransitionTime"),
                                .observed_generation = integer(item, "observedGeneration")});
    }
  }
  return out;
}

std::string JoinCauses(const std::vector<Cause>& causes) {
  std::string message;
  for (const Cause& cause : causes) {
    message += (message.empty() ? "" : "; ") + cause.field + ": " + cause.message;
  }
  return message;
}

}  // namespace

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPending:
      return "Pending";
    case Phase::kRunning:
      return "Running";
    case Phase::kSucceeded:
      return "Succeeded";
    case Phase::kFailed:
      return "Failed";
    case Phase::kSuspended:
      return "Suspended";
    case Phase::kExpired:
      return "Expired";
    case Phase::kTerminating:
      return "Terminating";
  }
  return "Pending";
}

Result<ObjectMeta> ParseObjectMeta(const Json& object) {
  const Json* metadata = object.is_object() ? FieldReader::Member(object, "metadata") : nullptr;
  if (metadata == nullptr || !metadata->is_object()) {
    return core::Fail(ErrorCode::kInvalidArgument, "metadata: Required value");
  }
  auto text = [&](std::string_view key) {
    const Json* value = FieldReader::Member(*metadata, key);
    return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
  };
  ObjectMeta meta;
  meta.name = text("name");
  if (meta.name.empty()) {
    return core::Fail(ErrorCode::kInvalidArgument, "metadata.name: Required value");
  }
  meta.namespace_ = text("namespace");
  meta.uid = text("uid");
  meta.resource_version = text("resourceVersion");
  meta.creation_timestamp = text("creationTimestamp");
  if (std::string deleted = text("deletionTimestamp"); !deleted.empty()) {
    meta.deletion_timestamp = deleted;
  }
  if (const Json* generation = FieldReader::Member(*metadata, "generation");
      generation != nullptr && generation->is_number_integer()) {
    meta.generation = generation->get<std::int64_t>();
  }
  for (auto [key, target] :
       {std::pair{"labels", &meta.labels}, std::pair{"annotations", &meta.annotations}}) {
    if (const Json* map = FieldReader::Member(*metadata, key); map != nullptr && map->is_object()) {
      for (const auto& [name, value] : map->items()) {
        if (value.is_string()) {
          target->emplace(name, value.get<std::string>());
        }
      }
    }
  }
  if (const Json* finalizers = FieldReader::Member(*metadata, "finalizers");
      finalizers != nullptr && finalizers->is_array()) {
    for (const Json& finalizer : *finalizers) {
      if (finalizer.is_string()) {
        meta.finalizers.push_back(finalizer.get<std::string>());
      }
    }
  }
  return meta;
}

Result<BotSandbox> ParseBotSandbox(const Json& object) {
  auto meta = ParseObjectMeta(object);
  if (!meta) {
    return core::Fail(meta.error());
  }
  FieldReader reader;
  BotSandbox sandbox;
  sandbox.metadata = *std::move(meta);
  const Json* spec = FieldReader::Member(object, "spec");
  if (spec == nullptr) {
    reader.Required("spec");
  } else if (!spec->is_object()) {
    reader.Invalid("spec", *spec, "must be an object");
  } else {
    sandbox.spec = ReadSpec(reader, *spec);
  }
  if (!reader.causes().empty()) {
    core::Error error{.code = ErrorCode::kInvalidArgument,
                      .message = JoinCauses(reader.causes()),
                      .causes = reader.causes()};
    return tl::unexpected(std::move(error));
  }
  if (const Json* status = FieldReader::Member(object, "status")) {
    sandbox.status = ReadStatus(*status);
  }
  return sandbox;
}

Json StatusToJson(const BotSandboxStatus& status) {
  Json out = Json::object();
  if (status.phase) {
    out["phase"] = PhaseName(*status.phase);
  }
  auto set = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) {
      out[std::string(key)] = value;
    }
  };
  set("namespace", status.namespace_);
  set("podName", status.pod_name);
  set("podIP", status.pod_ip);
  set("startTime", status.start_time);
  set("expiresAt", status.expires_at);
  if (status.bot) {
    Json bot = {{"ready", status.bot->ready}, {"restartCount", status.bot->restart_count}};
    if (!status.bot->state.empty()) {
      bot["state"] = status.bot->state;
    }
    if (status.bot->exit_code) {
      bot["exitCode"] = *status.bot->exit_code;
    }
    if (!status.bot->reason.empty()) {
      bot["reason"] = status.bot->reason;
    }
    if (!status.bot->message.empty()) {
      bot["message"] = status.bot->message;
    }
    out["bot"] = std::move(bot);
  }
  out["observedGeneration"] = status.observed_generation;
  Json conditions = Json::array();
  for (const Condition& condition : status.conditions) {
    conditions.push_back({{"type", condition.type},
                          {"status", condition.status},
                          {"reason", condition.reason},
                          {"message", condition.message},
                          {"lastTransitionTime", condition.last_transition_time},
                          {"observedGeneration", condition.observed_generation}});
  }
  out["conditions"] = std::move(conditions);
  return out;
}

const Json* FieldAt(const Json& object, std::initializer_list<std::string_view> path) {
  const Json* at = &object;
  for (std::string_view key : path) {
    if (!at->is_object()) {
      return nullptr;
    }
    const auto& fields = at->get_ref<const Json::object_t&>();
    auto it = fields.find(key);
    if (it == fields.end()) {
      return nullptr;
    }
    at = &it->second;
  }
  return at;
}

std::string TextAt(const Json& object, std::initializer_list<std::string_view> path) {
  const Json* value = FieldAt(object, path);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  auto it = std::ranges::find_if(
      conditions, [&](const Condition& condition) { return condition.type == type; });
  return it == conditions.end() ? nullptr : &*it;
}

}  // namespace botsec::api
