#include "pss_checks.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "json_fields.h"

namespace botsec::policy::internal {
namespace {

enum class Tri { kAbsent, kTrue, kFalse, kWrongType };

Tri BoolOf(const Json* value) {
  if (value == nullptr) {
    return Tri::kAbsent;
  }
  if (!value->is_boolean()) {
    return Tri::kWrongType;
  }
  return value->get<bool>() ? Tri::kTrue : Tri::kFalse;
}

std::string_view StringOf(const Json* value) {
  return value != nullptr && value->is_string()
             ? std::string_view(value->get_ref<const std::string&>())
             : std::string_view();
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

template <std::size_t N>
bool In(std::string_view value, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

template <std::size_t N>
std::string List(const std::array<std::string_view, N>& set) {
  std::string out;
  for (std::string_view each : set) {
    out += (out.empty() ? "" : ", ") + Quote(each);
  }
  return out;
}

constexpr std::array<std::string_view, 13> kBaselineCapabilities = {
    "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER",  "FSETID", "KILL",      "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID",       "SETPCAP", "SETUID", "SYS_CHROOT"};
constexpr std::array<std::string_view, 5> kSelinuxTypes = {
    "container_t", "container_init_t", "container_kvm_t", "container_engine_t", ""};
// The safe sysctls as of v1.37 (sets grew at 1.27, 1.29, 1.32 and 1.37).
constexpr std::array<std::string_view, 14> kSysctls = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
};
constexpr std::array<std::string_view, 9> kRestrictedVolumeSources = {
    "configMap", "csi",   "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
    "projected", "secret"};
constexpr std::array<std::string_view, 2> kProfileTypes = {"RuntimeDefault", "Localhost"};

class Checker {
 public:
  Checker(const PodTemplateRef& ref, const std::vector<ContainerRef>& containers,
          const PssOptions& options, std::vector<Violation>& out)
      : ref_(ref),
        options_(options),
        out_(out),
        spec_(ref.spec),
        pod_(ref.spec_path),
        meta_(ref.metadata_path),
        containers_(containers) {
    security_context_ = Get(spec_, "securityContext");
    windows_ = options.windows_exemptions && StringOf(Get(Get(spec_, "os"), "name")) == "windows";
    user_namespace_ = BoolOf(Get(spec_, "hostUsers")) == Tri::kFalse;
  }

  void Run() {
    bool restricted = options_.level == Level::kRestricted;
    WindowsHostProcess();
    HostNamespaces();
    Privileged();
    HostPorts();
    AppArmor();
    SeLinux();
    Sysctls();
    HostProbesAndLifecycle();
    if (restricted) {
      RestrictedVolumes();
      if (!windows_) {
        AllowPrivilegeEscalation();
        CapabilitiesRestricted();
        SeccompRestricted();
      }
      RunAsNonRoot();
      RunAsUser();
      ProcMount(/*relax_for_user_namespace=*/false, "procMount_restricted");
    } else {
      CapabilitiesBaseline();
      HostPathVolumes();
      ProcMount(/*relax_for_user_namespace=*/true, "procMount");
      SeccompBaseline();
    }
  }

 private:
  void Add(std::string_view check, const FieldPath& field, std::string message) {
    if (out_.size() < kMaxViolations) {
      out_.push_back({std::string(check), field.str(), std::move(message)});
    }
  }
  // Reports a wrong type and returns true when `value` is present but not a boolean.
  bool WrongBool(std::string_view check, const Json* value, const FieldPath& field) {
    if (BoolOf(value) != Tri::kWrongType) {
      return false;
    }
    Add(check, field, "Invalid value: " + Dump(*value) + ": must be a boolean");
    return true;
  }
  // A boolean field that must not be true.
  void MustNotBeTrue(std::string_view check, const Json* object, std::string_view key,
                     const FieldPath& path) {
    const Json* value = Get(object, key);
    if (value == nullptr) {
      return;
    }
    if (!WrongBool(check, value, path.Key(key)) && BoolOf(value) == Tri::kTrue) {
      Add(check, path.Key(key), "Forbidden: must not be true");
    }
  }
  static const Json* SecurityContext(const ContainerRef& c) {
    return Get(c.json, "securityContext");
  }

  void WindowsHostProcess() {
    MustNotBeTrue("windowsHostProcess", Get(security_context_, "windowsOptions"), "hostProcess",
                  pod_.Key("securityContext").Key("windowsOptions"));
    for (const ContainerRef& c : containers_) {
      MustNotBeTrue("windowsHostProcess", Get(SecurityContext(c), "windowsOptions"), "hostProcess",
                    c.path.Key("securityContext").Key("windowsOptions"));
    }
  }

  void HostNamespaces() {
    for (std::string_view key : {"hostNetwork", "hostPID", "hostIPC"}) {
      MustNotBeTrue("hostNamespaces", spec_, key, pod_);
    }
  }

  void Privileged() {
    for (const ContainerRef& c : containers_) {
      MustNotBeTrue("privileged", SecurityContext(c), "privileged", c.path.Key("securityContext"));
    }
  }

  void CapabilitiesBaseline() {
    for (const ContainerRef& c : containers_) {
      const Json* add = Get(Get(SecurityContext(c), "capabilities"), "add");
      if (add == nullptr) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("capabilities").Key("add");
      if (!add->is_array()) {
        Add("capabilities_baseline", field, "Invalid value: must be a list");
        continue;
      }
      for (std::size_t i = 0; i < add->size(); ++i) {
        std::string_view name = StringOf(&(*add)[i]);
        if (!In(name, kBaselineCapabilities)) {
          Add("capabilities_baseline", field.Index(i),
              "Forbidden: " + Quote(name) + " is not one of the baseline capabilities");
        }
      }
    }
  }

  void CapabilitiesRestricted() {
    for (const ContainerRef& c : containers_) {
      const Json* caps = Get(SecurityContext(c), "capabilities");
      const Json* drop = Get(caps, "drop");
      bool dropped_all = false;
      if (drop != nullptr && drop->is_array()) {
        dropped_all = std::any_of(drop->begin(), drop->end(), [](const Json& each) {
          return each.is_string() && each.get_ref<const std::string&>() == "ALL";
        });
      }
      if (!dropped_all) {
        Add("capabilities_restricted",
            c.path.Key("securityContext").Key("capabilities").Key("drop"),
            "Required value: must include \"ALL\"");
      }
      const Json* add = Get(caps, "add");
      if (add == nullptr) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("capabilities").Key("add");
      if (!add->is_array()) {
        Add("capabilities_restricted", field, "Invalid value: must be a list");
        continue;
      }
      for (std::size_t i = 0; i < add->size(); ++i) {
        const Json& each = (*add)[i];
        if (!each.is_string() || each.get_ref<const std::string&>() != "NET_BIND_SERVICE") {
          Add("capabilities_restricted", field.Index(i),
              "Forbidden: " + Dump(each) + ": only \"NET_BIND_SERVICE\" may be added");
        }
      }
    }
  }

  void HostPathVolumes() {
    ForEachVolume([&](const Json& volume, const FieldPath& path) {
      if (Get(&volume, "hostPath") != nullptr) {
        Add("hostPathVolumes", path.Key("hostPath"), "Forbidden: hostPath volumes are not allowed");
      }
    });
  }

  void RestrictedVolumes() {
    ForEachVolume([&](const Json& volume, const FieldPath& path) {
      for (std::string_view source : kRestrictedVolumeSources) {
        if (Get(&volume, source) != nullptr) {
          return;
        }
      }
      if (!volume.is_object()) {
        Add("restrictedVolumes", path, "Invalid value: must be an object");
        return;
      }
      for (const auto& [key, value] : volume.get_ref<const Json::object_t&>()) {
        if (key != "name" && !value.is_null()) {
          Add("restrictedVolumes", path.Key(key),
              "Forbidden: " + Quote(key) +
                  " volumes are not allowed; allowed: " + List(kRestrictedVolumeSources));
          return;
        }
      }
      // No source at all: the API server makes it an emptyDir.
    });
  }

  template <typename Visit>
  void ForEachVolume(Visit visit) {
    const Json* volumes = Get(spec_, "volumes");
    if (volumes == nullptr) {
      return;
    }
    if (!volumes->is_array()) {
      Add("podSpec", pod_.Key("volumes"), "Invalid value: must be a list");
      return;
    }
    for (std::size_t i = 0; i < volumes->size(); ++i) {
      visit((*volumes)[i], pod_.Key("volumes").Index(i));
    }
  }

  void HostPorts() {
    for (const ContainerRef& c : containers_) {
      const Json* ports = Get(c.json, "ports");
      if (ports == nullptr || !ports->is_array()) {
        continue;
      }
      for (std::size_t i = 0; i < ports->size(); ++i) {
        const Json* host_port = Get(&(*ports)[i], "hostPort");
        if (host_port != nullptr && !(host_port->is_number_integer() && *host_port == 0)) {
          Add("hostPorts", c.path.Key("ports").Index(i).Key("hostPort"),
              "Forbidden: " + Dump(*host_port) + ": host ports are not allowed");
        }
      }
    }
  }

  void ProfileType(std::string_view check, const Json* profile, const FieldPath& field) {
    if (profile == nullptr) {
      return;
    }
    std::string_view type = StringOf(Get(profile, "type"));
    if (!In(type, kProfileTypes)) {
      Add(check, field.Key("type"),
          "Unsupported value: " + Quote(type) + ": supported values: " + List(kProfileTypes));
    }
  }

  void AppArmor() {
    ProfileType("appArmorProfile", Get(security_context_, "appArmorProfile"),
                pod_.Key("securityContext").Key("appArmorProfile"));
    for (const ContainerRef& c : containers_) {
      ProfileType("appArmorProfile", Get(SecurityContext(c), "appArmorProfile"),
                  c.path.Key("securityContext").Key("appArmorProfile"));
    }
    const Json* annotations = Get(ref_.metadata, "annotations");
    if (annotations == nullptr || !annotations->is_object()) {
      return;
    }
    constexpr std::string_view kPrefix = "container.apparmor.security.beta.kubernetes.io/";
    for (const auto& [key, value] : annotations->get_ref<const Json::object_t&>()) {
      if (key.rfind(kPrefix, 0) != 0) {
        continue;
      }
      std::string_view profile = StringOf(&value);
      if (!profile.empty() && profile != "runtime/default" && profile.rfind("localhost/", 0) != 0) {
        Add("appArmorProfile", meta_.Key("annotations").Subscript(key),
            "Unsupported value: " + Quote(profile) +
                R"(: supported values: "runtime/default", "localhost/*")");
      }
    }
  }

  void SeLinuxOptions(const Json* options, const FieldPath& field) {
    if (options == nullptr) {
      return;
    }
    std::string_view type = StringOf(Get(options, "type"));
    if (!In(type, kSelinuxTypes)) {
      Add("seLinuxOptions", field.Key("type"),
          "Unsupported value: " + Quote(type) + ": supported values: " + List(kSelinuxTypes));
    }
    for (std::string_view key : {"user", "role"}) {
      if (!StringOf(Get(options, key)).empty()) {
        Add("seLinuxOptions", field.Key(key), "Forbidden: must not be set");
      }
    }
  }

  void SeLinux() {
    SeLinuxOptions(Get(security_context_, "seLinuxOptions"),
                   pod_.Key("securityContext").Key("seLinuxOptions"));
    for (const ContainerRef& c : containers_) {
      SeLinuxOptions(Get(SecurityContext(c), "seLinuxOptions"),
                     c.path.Key("securityContext").Key("seLinuxOptions"));
    }
  }

  void ProcMount(bool relax_for_user_namespace, std::string_view check) {
    if (relax_for_user_namespace && user_namespace_) {
      return;
    }
    for (const ContainerRef& c : containers_) {
      const Json* proc_mount = Get(SecurityContext(c), "procMount");
      if (proc_mount != nullptr && StringOf(proc_mount) != "Default") {
        Add(check, c.path.Key("securityContext").Key("procMount"),
            "Unsupported value: " + Dump(*proc_mount) + ": supported values: \"Default\"" +
                (relax_for_user_namespace ? " (any, with spec.hostUsers: false)" : ""));
      }
    }
  }

  void SeccompBaseline() {
    ProfileType("seccompProfile_baseline", Get(security_context_, "seccompProfile"),
                pod_.Key("securityContext").Key("seccompProfile"));
    for (const ContainerRef& c : containers_) {
      ProfileType("seccompProfile_baseline", Get(SecurityContext(c), "seccompProfile"),
                  c.path.Key("securityContext").Key("seccompProfile"));
    }
  }

  void SeccompRestricted() {
    const Json* pod_profile = Get(security_context_, "seccompProfile");
    FieldPath pod_field = pod_.Key("securityContext").Key("seccompProfile");
    ProfileType("seccompProfile_restricted", pod_profile, pod_field);
    bool pod_set = pod_profile != nullptr && In(StringOf(Get(pod_profile, "type")), kProfileTypes);
    for (const ContainerRef& c : containers_) {
      const Json* profile = Get(SecurityContext(c), "seccompProfile");
      FieldPath field = c.path.Key("securityContext").Key("seccompProfile");
      if (profile != nullptr) {
        ProfileType("seccompProfile_restricted", profile, field);
      } else if (!pod_set) {
        Add("seccompProfile_restricted", field.Key("type"),
            R"(Required value: must be "RuntimeDefault" or "Localhost" here or in )" +
                pod_field.Key("type").str());
      }
    }
  }

  void Sysctls() {
    const Json* sysctls = Get(security_context_, "sysctls");
    if (sysctls == nullptr || !sysctls->is_array()) {
      return;
    }
    for (std::size_t i = 0; i < sysctls->size(); ++i) {
      std::string_view name = StringOf(Get(&(*sysctls)[i], "name"));
      if (!In(name, kSysctls)) {
        Add("sysctls", pod_.Key("securityContext").Key("sysctls").Index(i).Key("name"),
            "Forbidden: " + Quote(name) + " is not one of the safe sysctls");
      }
    }
  }

  void HostField(const Json* handler, const FieldPath& path) {
    if (handler == nullptr) {
      return;
    }
    for (std::string_view kind : {"httpGet", "tcpSocket"}) {
      std::string_view host = StringOf(Get(Get(handler, kind), "host"));
      if (!host.empty()) {
        Add("hostProbesAndHostLifecycle", path.Key(kind).Key("host"),
            "Forbidden: " + Quote(host) + ": probes and lifecycle hooks must not name a host");
      }
    }
  }

  void HostProbesAndLifecycle() {
    for (const ContainerRef& c : containers_) {
      for (std::string_view probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
        HostField(Get(c.json, probe), c.path.Key(probe));
      }
      const Json* lifecycle = Get(c.json, "lifecycle");
      for (std::string_view hook : {"postStart", "preStop"}) {
        HostField(Get(lifecycle, hook), c.path.Key("lifecycle").Key(hook));
      }
    }
  }

  void AllowPrivilegeEscalation() {
    for (const ContainerRef& c : containers_) {
      const Json* value = Get(SecurityContext(c), "allowPrivilegeEscalation");
      if (BoolOf(value) == Tri::kFalse) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("allowPrivilegeEscalation");
      if (WrongBool("allowPrivilegeEscalation", value, field)) {
        continue;
      }
      Add("allowPrivilegeEscalation", field,
          value == nullptr ? "Required value: must be false" : "Forbidden: must be false");
    }
  }

  void RunAsNonRoot() {
    if (user_namespace_) {
      return;
    }
    const Json* pod_value = Get(security_context_, "runAsNonRoot");
    FieldPath pod_field = pod_.Key("securityContext").Key("runAsNonRoot");
    bool pod_true = BoolOf(pod_value) == Tri::kTrue;
    if (!WrongBool("runAsNonRoot", pod_value, pod_field) && BoolOf(pod_value) == Tri::kFalse) {
      Add("runAsNonRoot", pod_field, "Forbidden: must not be false");
    }
    for (const ContainerRef& c : containers_) {
      const Json* value = Get(SecurityContext(c), "runAsNonRoot");
      if (BoolOf(value) == Tri::kTrue || (value == nullptr && pod_true)) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("runAsNonRoot");
      if (WrongBool("runAsNonRoot", value, field)) {
        continue;
      }
      if (BoolOf(value) == Tri::kFalse) {
        Add("runAsNonRoot", field, "Forbidden: must not be false");
      } else {
        Add("runAsNonRoot", field, "Required value: must be true here or in " + pod_field.str());
      }
    }
  }

  void RunAsUser() {
    if (user_namespace_) {
      return;
    }
    auto check = [&](const Json* context, const FieldPath& path) {
      const Json* value = Get(context, "runAsUser");
      if (value == nullptr) {
        return;
      }
      if (!value->is_number_integer()) {
        Add("runAsUser", path.Key("runAsUser"),
            "Invalid value: " + Dump(*value) + ": must be an integer");
      } else if (*value == 0) {
        Add("runAsUser", path.Key("runAsUser"), "Forbidden: must not be 0 (root)");
      }
    };
    check(security_context_, pod_.Key("securityContext"));
    for (const ContainerRef& c : containers_) {
      check(SecurityContext(c), c.path.Key("securityContext"));
    }
  }

  const PodTemplateRef& ref_;
  const PssOptions& options_;
  std::vector<Violation>& out_;
  const Json* spec_;
  FieldPath pod_;   // spec
  FieldPath meta_;  // metadata
  const Json* security_context_ = nullptr;
  bool windows_ = false;
  bool user_namespace_ = false;
  const std::vector<ContainerRef>& containers_;
};

}  // namespace

void CheckPodSecurity(const PodTemplateRef& ref, const std::vector<ContainerRef>& containers,
                      const PssOptions& options, std::vector<Violation>& out) {
  Checker checker(ref, containers, options, out);
  checker.Run();
}

}  // namespace botsec::policy::internal
