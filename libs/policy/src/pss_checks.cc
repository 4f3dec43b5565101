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

template <typename View>
Tri BoolOf(View value) {
  if (!value) {
    return Tri::kAbsent;
  }
  if (!value.is_boolean()) {
    return Tri::kWrongType;
  }
  return value.boolean() ? Tri::kTrue : Tri::kFalse;
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

template <typename View>
class Checker {
 public:
  using Container = ContainerRef<View>;

  Checker(const PodTemplateRef<View>& ref, const std::vector<Container>& containers,
          const PssOptions& options, std::vector<Violation>& out)
      : ref_(ref),
        options_(options),
        out_(out),
        spec_(ref.spec),
        pod_(ref.spec_path),
        meta_(ref.metadata_path),
        containers_(containers) {
    security_context_ = spec_.Get("securityContext");
    windows_ = options.windows_exemptions && StringOf(spec_.Get("os").Get("name")) == "windows";
    user_namespace_ = BoolOf(spec_.Get("hostUsers")) == Tri::kFalse;
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
  bool WrongBool(std::string_view check, View value, const FieldPath& field) {
    if (BoolOf(value) != Tri::kWrongType) {
      return false;
    }
    Add(check, field, "Invalid value: " + value.Dump() + ": must be a boolean");
    return true;
  }
  // A boolean field that must not be true.
  void MustNotBeTrue(std::string_view check, View object, std::string_view key,
                     const FieldPath& path) {
    View value = object.Get(key);
    if (!value) {
      return;
    }
    if (!WrongBool(check, value, path.Key(key)) && BoolOf(value) == Tri::kTrue) {
      Add(check, path.Key(key), "Forbidden: must not be true");
    }
  }
  static View SecurityContext(const Container& c) { return c.json.Get("securityContext"); }

  void WindowsHostProcess() {
    MustNotBeTrue("windowsHostProcess", security_context_.Get("windowsOptions"), "hostProcess",
                  pod_.Key("securityContext").Key("windowsOptions"));
    for (const Container& c : containers_) {
      MustNotBeTrue("windowsHostProcess", SecurityContext(c).Get("windowsOptions"), "hostProcess",
                    c.path.Key("securityContext").Key("windowsOptions"));
    }
  }

  void HostNamespaces() {
    for (std::string_view key : {"hostNetwork", "hostPID", "hostIPC"}) {
      MustNotBeTrue("hostNamespaces", spec_, key, pod_);
    }
  }

  void Privileged() {
    for (const Container& c : containers_) {
      MustNotBeTrue("privileged", SecurityContext(c), "privileged", c.path.Key("securityContext"));
    }
  }

  void CapabilitiesBaseline() {
    for (const Container& c : containers_) {
      View add = SecurityContext(c).Get("capabilities").Get("add");
      if (!add) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("capabilities").Key("add");
      if (!add.is_array()) {
        Add("capabilities_baseline", field, "Invalid value: must be a list");
        continue;
      }
      add.ForEachItem([&](std::size_t i, View each) {
        std::string_view name = StringOf(each);
        if (!In(name, kBaselineCapabilities)) {
          Add("capabilities_baseline", field.Index(i),
              "Forbidden: " + Quote(name) + " is not one of the baseline capabilities");
        }
      });
    }
  }

  void CapabilitiesRestricted() {
    for (const Container& c : containers_) {
      View caps = SecurityContext(c).Get("capabilities");
      View drop = caps.Get("drop");
      bool dropped_all = false;
      drop.ForEachItem([&](std::size_t /*i*/, View each) {
        dropped_all = dropped_all || StringOf(each) == "ALL";
      });
      if (!dropped_all) {
        Add("capabilities_restricted",
            c.path.Key("securityContext").Key("capabilities").Key("drop"),
            "Required value: must include \"ALL\"");
      }
      View add = caps.Get("add");
      if (!add) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("capabilities").Key("add");
      if (!add.is_array()) {
        Add("capabilities_restricted", field, "Invalid value: must be a list");
        continue;
      }
      add.ForEachItem([&](std::size_t i, View each) {
        if (!each.is_string() || each.string() != "NET_BIND_SERVICE") {
          Add("capabilities_restricted", field.Index(i),
              "Forbidden: " + each.Dump() + ": only \"NET_BIND_SERVICE\" may be added");
        }
      });
    }
  }

  void HostPathVolumes() {
    ForEachVolume([&](View volume, const FieldPath& path) {
      if (volume.Get("hostPath")) {
        Add("hostPathVolumes", path.Key("hostPath"), "Forbidden: hostPath volumes are not allowed");
      }
    });
  }

  void RestrictedVolumes() {
    ForEachVolume([&](View volume, const FieldPath& path) {
      for (std::string_view source : kRestrictedVolumeSources) {
        if (volume.Get(source)) {
          return;
        }
      }
      if (!volume.is_object()) {
        Add("restrictedVolumes", path, "Invalid value: must be an object");
        return;
      }
      volume.ForEachMember([&](std::string_view key, View value) {
        if (key != "name" && value) {
          Add("restrictedVolumes", path.Key(key),
              "Forbidden: " + Quote(key) +
                  " volumes are not allowed; allowed: " + List(kRestrictedVolumeSources));
          return false;
        }
        return true;
      });
      // No source at all: the API server makes it an emptyDir.
    });
  }

  template <typename Visit>
  void ForEachVolume(Visit visit) {
    View volumes = spec_.Get("volumes");
    if (!volumes) {
      return;
    }
    if (!volumes.is_array()) {
      Add("podSpec", pod_.Key("volumes"), "Invalid value: must be a list");
      return;
    }
    volumes.ForEachItem(
        [&](std::size_t i, View volume) { visit(volume, pod_.Key("volumes").Index(i)); });
  }

  void HostPorts() {
    for (const Container& c : containers_) {
      View ports = c.json.Get("ports");
      ports.ForEachItem([&](std::size_t i, View port) {
        View host_port = port.Get("hostPort");
        if (host_port && !host_port.is_zero()) {
          Add("hostPorts", c.path.Key("ports").Index(i).Key("hostPort"),
              "Forbidden: " + host_port.Dump() + ": host ports are not allowed");
        }
      });
    }
  }

  void ProfileType(std::string_view check, View profile, const FieldPath& field) {
    if (!profile) {
      return;
    }
    std::string_view type = StringOf(profile.Get("type"));
    if (!In(type, kProfileTypes)) {
      Add(check, field.Key("type"),
          "Unsupported value: " + Quote(type) + ": supported values: " + List(kProfileTypes));
    }
  }

  void AppArmor() {
    ProfileType("appArmorProfile", security_context_.Get("appArmorProfile"),
                pod_.Key("securityContext").Key("appArmorProfile"));
    for (const Container& c : containers_) {
      ProfileType("appArmorProfile", SecurityContext(c).Get("appArmorProfile"),
                  c.path.Key("securityContext").Key("appArmorProfile"));
    }
    View annotations = ref_.metadata.Get("annotations");
    constexpr std::string_view kPrefix = "container.apparmor.security.beta.kubernetes.io/";
    annotations.ForEachMember([&](std::string_view key, View value) {
      if (!key.starts_with(kPrefix)) {
        return true;
      }
      std::string_view profile = StringOf(value);
      if (!profile.empty() && profile != "runtime/default" && !profile.starts_with("localhost/")) {
        Add("appArmorProfile", meta_.Key("annotations").Subscript(key),
            "Unsupported value: " + Quote(profile) +
                R"(: supported values: "runtime/default", "localhost/*")");
      }
      return true;
    });
  }

  void SeLinuxOptions(View options, const FieldPath& field) {
    if (!options) {
      return;
    }
    std::string_view type = StringOf(options.Get("type"));
    if (!In(type, kSelinuxTypes)) {
      Add("seLinuxOptions", field.Key("type"),
          "Unsupported value: " + Quote(type) + ": supported values: " + List(kSelinuxTypes));
    }
    for (std::string_view key : {"user", "role"}) {
      if (!StringOf(options.Get(key)).empty()) {
        Add("seLinuxOptions", field.Key(key), "Forbidden: must not be set");
      }
    }
  }

  void SeLinux() {
    SeLinuxOptions(security_context_.Get("seLinuxOptions"),
                   pod_.Key("securityContext").Key("seLinuxOptions"));
    for (const Container& c : containers_) {
      SeLinuxOptions(SecurityContext(c).Get("seLinuxOptions"),
                     c.path.Key("securityContext").Key("seLinuxOptions"));
    }
  }

  void ProcMount(bool relax_for_user_namespace, std::string_view check) {
    if (relax_for_user_namespace && user_namespace_) {
      return;
    }
    for (const Container& c : containers_) {
      View proc_mount = SecurityContext(c).Get("procMount");
      if (proc_mount && StringOf(proc_mount) != "Default") {
        Add(check, c.path.Key("securityContext").Key("procMount"),
            "Unsupported value: " + proc_mount.Dump() + ": supported values: \"Default\"" +
                (relax_for_user_namespace ? " (any, with spec.hostUsers: false)" : ""));
      }
    }
  }

  void SeccompBaseline() {
    ProfileType("seccompProfile_baseline", security_context_.Get("seccompProfile"),
                pod_.Key("securityContext").Key("seccompProfile"));
    for (const Container& c : containers_) {
      ProfileType("seccompProfile_baseline", SecurityContext(c).Get("seccompProfile"),
                  c.path.Key("securityContext").Key("seccompProfile"));
    }
  }

  void SeccompRestricted() {
    View pod_profile = security_context_.Get("seccompProfile");
    FieldPath pod_field = pod_.Key("securityContext").Key("seccompProfile");
    ProfileType("seccompProfile_restricted", pod_profile, pod_field);
    bool pod_set = pod_profile && In(StringOf(pod_profile.Get("type")), kProfileTypes);
    for (const Container& c : containers_) {
      View profile = SecurityContext(c).Get("seccompProfile");
      FieldPath field = c.path.Key("securityContext").Key("seccompProfile");
      if (profile) {
        ProfileType("seccompProfile_restricted", profile, field);
      } else if (!pod_set) {
        Add("seccompProfile_restricted", field.Key("type"),
            R"(Required value: must be "RuntimeDefault" or "Localhost" here or in )" +
                pod_field.Key("type").str());
      }
    }
  }

  void Sysctls() {
    View sysctls = security_context_.Get("sysctls");
    sysctls.ForEachItem([&](std::size_t i, View sysctl) {
      std::string_view name = StringOf(sysctl.Get("name"));
      if (!In(name, kSysctls)) {
        Add("sysctls", pod_.Key("securityContext").Key("sysctls").Index(i).Key("name"),
            "Forbidden: " + Quote(name) + " is not one of the safe sysctls");
      }
    });
  }

  void HostField(View handler, const FieldPath& path) {
    if (!handler) {
      return;
    }
    for (std::string_view kind : {"httpGet", "tcpSocket"}) {
      std::string_view host = StringOf(handler.Get(kind).Get("host"));
      if (!host.empty()) {
        Add("hostProbesAndHostLifecycle", path.Key(kind).Key("host"),
            "Forbidden: " + Quote(host) + ": probes and lifecycle hooks must not name a host");
      }
    }
  }

  void HostProbesAndLifecycle() {
    for (const Container& c : containers_) {
      for (std::string_view probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
        HostField(c.json.Get(probe), c.path.Key(probe));
      }
      View lifecycle = c.json.Get("lifecycle");
      for (std::string_view hook : {"postStart", "preStop"}) {
        HostField(lifecycle.Get(hook), c.path.Key("lifecycle").Key(hook));
      }
    }
  }

  void AllowPrivilegeEscalation() {
    for (const Container& c : containers_) {
      View value = SecurityContext(c).Get("allowPrivilegeEscalation");
      if (BoolOf(value) == Tri::kFalse) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("allowPrivilegeEscalation");
      if (WrongBool("allowPrivilegeEscalation", value, field)) {
        continue;
      }
      Add("allowPrivilegeEscalation", field,
          !value ? "Required value: must be false" : "Forbidden: must be false");
    }
  }

  void RunAsNonRoot() {
    if (user_namespace_) {
      return;
    }
    View pod_value = security_context_.Get("runAsNonRoot");
    FieldPath pod_field = pod_.Key("securityContext").Key("runAsNonRoot");
    bool pod_true = BoolOf(pod_value) == Tri::kTrue;
    if (!WrongBool("runAsNonRoot", pod_value, pod_field) && BoolOf(pod_value) == Tri::kFalse) {
      Add("runAsNonRoot", pod_field, "Forbidden: must not be false");
    }
    for (const Container& c : containers_) {
      View value = SecurityContext(c).Get("runAsNonRoot");
      if (BoolOf(value) == Tri::kTrue || (!value && pod_true)) {
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
    auto check = [&](View context, const FieldPath& path) {
      View value = context.Get("runAsUser");
      if (!value) {
        return;
      }
      if (!value.is_integer()) {
        Add("runAsUser", path.Key("runAsUser"),
            "Invalid value: " + value.Dump() + ": must be an integer");
      } else if (value.is_zero()) {
        Add("runAsUser", path.Key("runAsUser"), "Forbidden: must not be 0 (root)");
      }
    };
    check(security_context_, pod_.Key("securityContext"));
    for (const Container& c : containers_) {
      check(SecurityContext(c), c.path.Key("securityContext"));
    }
  }

  const PodTemplateRef<View>& ref_;
  const PssOptions& options_;
  std::vector<Violation>& out_;
  View spec_;
  FieldPath pod_;   // spec
  FieldPath meta_;  // metadata
  View security_context_;
  bool windows_ = false;
  bool user_namespace_ = false;
  const std::vector<Container>& containers_;
};

}  // namespace

template <typename View>
void CheckPodSecurity(const PodTemplateRef<View>& ref,
                      const std::vector<ContainerRef<View>>& containers, const PssOptions& options,
                      std::vector<Violation>& out) {
  Checker<View> checker(ref, containers, options, out);
  checker.Run();
}

template void CheckPodSecurity<NlohmannView>(const PodTemplateRef<NlohmannView>&,
                                             const std::vector<ContainerRef<NlohmannView>>&,
                                             const PssOptions&, std::vector<Violation>&);
template void CheckPodSecurity<DomView>(const PodTemplateRef<DomView>&,
                                        const std::vector<ContainerRef<DomView>>&,
                                        const PssOptions&, std::vector<Violation>&);

}  // namespace botsec::policy::internal
