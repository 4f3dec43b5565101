// Every Pod Security check, table-driven: each bad setting placed in each kind of container (and
// at pod level where the field exists there), crossed with the pod-level settings that can allow
// or forbid it. The field path of each violation is exact.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "support/judge_both_ways.h"

namespace botsec::policy {
namespace {

// A pod that passes pss-restricted, with one container of each kind.
Json RestrictedPod() {
  Json secure = {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", {"ALL"}}}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "bot"}}},
          {"spec",
           {{"securityContext",
             {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
            {"initContainers", {{{"name", "init"}, {"image", "i"}, {"securityContext", secure}}}},
            {"containers", {{{"name", "main"}, {"image", "m"}, {"securityContext", secure}}}},
            {"ephemeralContainers",
             {{{"name", "debug"}, {"image", "d"}, {"securityContext", secure}}}}}}};
}

const std::vector<std::string> kContainerKinds = {"initContainers", "containers",
                                                  "ephemeralContainers"};

std::vector<Violation> Violations(const Json& pod, Profile profile) {
  auto judged = testing::JudgeBothWays(pod, Policy::ForProfile(profile));
  EXPECT_TRUE(judged) << judged.error().message;
  return judged ? *judged : std::vector<Violation>{};
}

bool Has(const std::vector<Violation>& violations, const std::string& check,
         const std::string& field) {
  return std::any_of(violations.begin(), violations.end(),
                     [&](const Violation& v) { return v.check == check && v.field == field; });
}

std::string Dump(const std::vector<Violation>& violations) {
  std::string out;
  for (const Violation& v : violations) {
    out += "\n  " + v.check + " " + v.field + ": " + v.message;
  }
  return out;
}

TEST(PssChecksTest, TheBasePodPassesEveryLevel) {
  EXPECT_TRUE(Violations(RestrictedPod(), Profile::kPssBaseline).empty());
  EXPECT_TRUE(Violations(RestrictedPod(), Profile::kPssRestricted).empty())
      << Dump(Violations(RestrictedPod(), Profile::kPssRestricted));
}

// A setting inside a container that one check forbids, at the given level.
struct ContainerCase {
  std::string check;
  Json::json_pointer pointer;  // inside the container
  Json value;
  std::string field;  // after "spec.<kind>[0]."
  bool baseline;      // also forbidden at baseline
};

TEST(PssChecksTest, EachContainerCheckFiresInEveryContainerKindWithItsExactPath) {
  const std::vector<ContainerCase> cases = {
      {"privileged", Json::json_pointer("/securityContext/privileged"), true,
       "securityContext.privileged", true},
      {"capabilities_baseline", Json::json_pointer("/securityContext/capabilities/add"),
       Json::array({"NET_ADMIN"}), "securityContext.capabilities.add[0]", true},
      {"capabilities_restricted", Json::json_pointer("/securityContext/capabilities/add"),
       Json::array({"CHOWN"}), "securityContext.capabilities.add[0]", false},
      {"capabilities_restricted", Json::json_pointer("/securityContext/capabilities/drop"),
       Json::array({"NET_RAW"}), "securityContext.capabilities.drop", false},
      {"hostPorts", Json::json_pointer("/ports"),
       Json::array({{{"containerPort", 80}, {"hostPort", 80}}}), "ports[0].hostPort", true},
      {"appArmorProfile",
       Json::json_pointer("/securityContext/appArmorProfile"),
       {{"type", "Unconfined"}},
       "securityContext.appArmorProfile.type",
       true},
      {"seLinuxOptions",
       Json::json_pointer("/securityContext/seLinuxOptions"),
       {{"type", "spc_t"}},
       "securityContext.seLinuxOptions.type",
       true},
      {"seLinuxOptions",
       Json::json_pointer("/securityContext/seLinuxOptions"),
       {{"user", "root"}},
       "securityContext.seLinuxOptions.user",
       true},
      {"procMount", Json::json_pointer("/securityContext/procMount"), "Unmasked",
       "securityContext.procMount", true},
      {"procMount_restricted", Json::json_pointer("/securityContext/procMount"), "Unmasked",
       "securityContext.procMount", false},
      {"seccompProfile_baseline",
       Json::json_pointer("/securityContext/seccompProfile"),
       {{"type", "Unconfined"}},
       "securityContext.seccompProfile.type",
       true},
      {"seccompProfile_restricted",
       Json::json_pointer("/securityContext/seccompProfile"),
       {{"type", "Unconfined"}},
       "securityContext.seccompProfile.type",
       false},
      {"windowsHostProcess", Json::json_pointer("/securityContext/windowsOptions/hostProcess"),
       true, "securityContext.windowsOptions.hostProcess", true},
      {"hostProbesAndHostLifecycle",
       Json::json_pointer("/livenessProbe"),
       {{"httpGet", {{"host", "10.0.0.1"}, {"port", 80}}}},
       "livenessProbe.httpGet.host",
       true},
      {"hostProbesAndHostLifecycle",
       Json::json_pointer("/readinessProbe"),
       {{"tcpSocket", {{"host", "metadata"}, {"port", 80}}}},
       "readinessProbe.tcpSocket.host",
       true},
      {"hostProbesAndHostLifecycle",
       Json::json_pointer("/lifecycle/preStop"),
       {{"httpGet", {{"host", "x"}, {"port", 80}}}},
       "lifecycle.preStop.httpGet.host",
       true},
      {"allowPrivilegeEscalation", Json::json_pointer("/securityContext/allowPrivilegeEscalation"),
       true, "securityContext.allowPrivilegeEscalation", false},
      {"allowPrivilegeEscalation", Json::json_pointer("/securityContext/allowPrivilegeEscalation"),
       nullptr, "securityContext.allowPrivilegeEscalation", false},
      {"runAsNonRoot", Json::json_pointer("/securityContext/runAsNonRoot"), false,
       "securityContext.runAsNonRoot", false},
      {"runAsUser", Json::json_pointer("/securityContext/runAsUser"), 0,
       "securityContext.runAsUser", false},
      {"privileged", Json::json_pointer("/securityContext/privileged"), "true",
       "securityContext.privileged", true},  // wrong type: fail closed
  };
  for (const ContainerCase& c : cases) {
    for (const std::string& kind : kContainerKinds) {
      Json pod = RestrictedPod();
      pod["spec"][kind][0][c.pointer] = c.value;
      std::string field = "spec." + kind + "[0]." + c.field;
      std::vector<Violation> restricted = Violations(pod, Profile::kPssRestricted);
      std::vector<Violation> baseline = Violations(pod, Profile::kPssBaseline);
      if (c.check.ends_with("_baseline") || c.check == "procMount") {
        // Replaced at restricted by a stricter check of the same field.
        EXPECT_TRUE(Has(baseline, c.check, field)) << c.check << " " << field << Dump(baseline);
        continue;
      }
      EXPECT_TRUE(Has(restricted, c.check, field)) << c.check << " " << field << Dump(restricted);
      EXPECT_EQ(Has(baseline, c.check, field), c.baseline)
          << c.check << " " << field << Dump(baseline);
    }
  }
}

TEST(PssChecksTest, PodLevelChecksNameThePodField) {
  struct PodCase {
    std::string check;
    Json::json_pointer pointer;
    Json value;
    std::string field;
  };
  for (const PodCase& c : std::vector<PodCase>{
           {"hostNamespaces", Json::json_pointer("/hostNetwork"), true, "spec.hostNetwork"},
           {"hostNamespaces", Json::json_pointer("/hostPID"), true, "spec.hostPID"},
           {"hostNamespaces", Json::json_pointer("/hostIPC"), true, "spec.hostIPC"},
           {"sysctls", Json::json_pointer("/securityContext/sysctls"),
            Json::array({{{"name", "kernel.msgmax"}, {"value", "1"}}}),
            "spec.securityContext.sysctls[0].name"},
           {"restrictedVolumes", Json::json_pointer("/volumes"),
            Json::array({{{"name", "v"}, {"nfs", {{"server", "x"}, {"path", "/"}}}}}),
            "spec.volumes[0].nfs"},
           {"restrictedVolumes", Json::json_pointer("/volumes"),
            Json::array({{{"name", "v"}, {"hostPath", {{"path", "/"}}}}}),
            "spec.volumes[0].hostPath"},
           {"runAsUser", Json::json_pointer("/securityContext/runAsUser"), 0,
            "spec.securityContext.runAsUser"},
           {"seLinuxOptions",
            Json::json_pointer("/securityContext/seLinuxOptions"),
            {{"role", "sysadm_r"}},
            "spec.securityContext.seLinuxOptions.role"},
           {"appArmorProfile",
            Json::json_pointer("/securityContext/appArmorProfile"),
            {{"type", "Unconfined"}},
            "spec.securityContext.appArmorProfile.type"},
           {"windowsHostProcess",
            Json::json_pointer("/securityContext/windowsOptions"),
            {{"hostProcess", true}},
            "spec.securityContext.windowsOptions.hostProcess"},
       }) {
    Json pod = RestrictedPod();
    pod["spec"][c.pointer] = c.value;
    std::vector<Violation> violations = Violations(pod, Profile::kPssRestricted);
    EXPECT_TRUE(Has(violations, c.check, c.field)) << c.field << Dump(violations);
  }
}

TEST(PssChecksTest, AllowedValuesPass) {
  Json pod = RestrictedPod();
  Json& main = pod["spec"]["containers"][0];
  main["securityContext"]["capabilities"]["add"] = {"NET_BIND_SERVICE"};
  main["securityContext"]["seLinuxOptions"] = {{"type", "container_engine_t"}};
  main["securityContext"]["procMount"] = "Default";
  main["securityContext"]["appArmorProfile"] = {{"type", "Localhost"},
                                                {"localhostProfile", "bots"}};
  main["ports"] = {{{"containerPort", 8080}, {"hostPort", 0}}};
  pod["spec"]["securityContext"]["sysctls"] = {{{"name", "net.ipv4.tcp_notsent_lowat"}}};
  pod["spec"]["volumes"] = {{{"name", "tmp"}, {"emptyDir", Json::object()}}, {{"name", "bare"}}};
  pod["metadata"]["annotations"] = {
      {"container.apparmor.security.beta.kubernetes.io/main", "runtime/default"}};
  EXPECT_TRUE(Violations(pod, Profile::kPssRestricted).empty())
      << Dump(Violations(pod, Profile::kPssRestricted));
  pod["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/main"] =
      "unconfined";
  EXPECT_TRUE(Has(Violations(pod, Profile::kPssBaseline), "appArmorProfile",
                  "metadata.annotations[container.apparmor.security.beta.kubernetes.io/main]"));
}

TEST(PssChecksTest, RunAsNonRootAndSeccompResolvePodLevelAgainstContainerLevel) {
  struct Case {
    Json pod_value;        // spec.securityContext.<field>, or null to leave unset
    Json container_value;  // spec.containers[0].securityContext.<field>, or null
    bool allowed;
  };
  // runAsNonRoot: the pod's true covers containers that are silent; any false fails.
  for (const Case& c : std::vector<Case>{{true, nullptr, true},
                                         {nullptr, true, false},  // init and debug are silent
                                         {true, false, false},
                                         {false, true, false},
                                         {nullptr, nullptr, false}}) {
    Json pod = RestrictedPod();
    pod["spec"]["securityContext"]["runAsNonRoot"] = c.pod_value;
    pod["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = c.container_value;
    auto violations = Violations(pod, Profile::kPssRestricted);
    EXPECT_EQ(violations.empty(), c.allowed)
        << "pod " << c.pod_value << " container " << c.container_value << Dump(violations);
  }
  // Every container set, pod silent: allowed.
  Json pod = RestrictedPod();
  pod["spec"]["securityContext"].erase("runAsNonRoot");
  for (const std::string& kind : kContainerKinds) {
    pod["spec"][kind][0]["securityContext"]["runAsNonRoot"] = true;
  }
  EXPECT_TRUE(Violations(pod, Profile::kPssRestricted).empty());
  // seccomp: the same, with a container's own valid profile standing in for the pod's.
  pod = RestrictedPod();
  pod["spec"]["securityContext"].erase("seccompProfile");
  auto violations = Violations(pod, Profile::kPssRestricted);
  for (const std::string& kind : kContainerKinds) {
    EXPECT_TRUE(Has(violations, "seccompProfile_restricted",
                    "spec." + kind + "[0].securityContext.seccompProfile.type"))
        << Dump(violations);
    pod["spec"][kind][0]["securityContext"]["seccompProfile"] = {{"type", "Localhost"},
                                                                 {"localhostProfile", "p.json"}};
  }
  EXPECT_TRUE(Violations(pod, Profile::kPssRestricted).empty());
}

TEST(PssChecksTest, UserNamespacesRelaxWhatUpstreamRelaxes) {
  Json pod = RestrictedPod();
  pod["spec"]["hostUsers"] = false;
  pod["spec"]["securityContext"]["runAsNonRoot"] = false;
  pod["spec"]["securityContext"]["runAsUser"] = 0;
  pod["spec"]["containers"][0]["securityContext"]["procMount"] = "Unmasked";
  auto restricted = Violations(pod, Profile::kPssRestricted);
  EXPECT_FALSE(Has(restricted, "runAsNonRoot", "spec.securityContext.runAsNonRoot"));
  EXPECT_FALSE(Has(restricted, "runAsUser", "spec.securityContext.runAsUser"));
  // procMount_restricted is never relaxed; baseline's procMount is.
  EXPECT_TRUE(
      Has(restricted, "procMount_restricted", "spec.containers[0].securityContext.procMount"));
  EXPECT_TRUE(Violations(pod, Profile::kPssBaseline).empty());
  pod["spec"]["hostUsers"] = true;
  EXPECT_TRUE(
      Has(Violations(pod, Profile::kPssRestricted), "runAsUser", "spec.securityContext.runAsUser"));
}

TEST(PssChecksTest, WindowsPodsAreExemptUnderRestrictedButNotUnderBot) {
  Json pod = RestrictedPod();
  pod["spec"]["os"] = {{"name", "windows"}};
  pod["spec"]["securityContext"].erase("seccompProfile");
  for (const std::string& kind : kContainerKinds) {
    pod["spec"][kind][0].erase("securityContext");
  }
  pod["spec"]["securityContext"]["runAsNonRoot"] = true;
  EXPECT_TRUE(Violations(pod, Profile::kPssRestricted).empty())
      << Dump(Violations(pod, Profile::kPssRestricted));
  auto bot = Violations(pod, Profile::kBot);
  EXPECT_TRUE(Has(bot, "allowPrivilegeEscalation",
                  "spec.containers[0].securityContext.allowPrivilegeEscalation"));
  EXPECT_TRUE(Has(bot, "capabilities_restricted",
                  "spec.ephemeralContainers[0].securityContext.capabilities.drop"));
  EXPECT_TRUE(Has(bot, "seccompProfile_restricted",
                  "spec.initContainers[0].securityContext.seccompProfile.type"));
}

TEST(PssChecksTest, EveryViolationIsReportedNotJustTheFirst) {
  Json pod = RestrictedPod();
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["hostPID"] = true;
  for (const std::string& kind : kContainerKinds) {
    pod["spec"][kind][0]["securityContext"]["privileged"] = true;
  }
  auto violations = Violations(pod, Profile::kPssBaseline);
  EXPECT_EQ(violations.size(), 5U) << Dump(violations);
}

TEST(PssChecksTest, AHugePodCostsBoundedViolations) {
  Json pod = RestrictedPod();
  Json bad = {{"name", "x"}, {"image", "x"}, {"securityContext", {{"privileged", true}}}};
  pod["spec"]["containers"] = Json::array();
  for (int i = 0; i < 3000; ++i) {
    pod["spec"]["containers"].push_back(bad);
  }
  auto violations = Violations(pod, Profile::kBot);
  ASSERT_EQ(violations.size(), kMaxViolations + 1);
  EXPECT_EQ(violations.back().check, "tooManyViolations");
  EXPECT_EQ(violations.back().message,
            "Forbidden: more than 1000 violations; the first 1000 are listed");
}

TEST(PssChecksTest, FindsThePodTemplateInEveryWorkloadKind) {
  Json pod = RestrictedPod();
  pod["spec"]["hostIPC"] = true;
  Json tmpl = {{"metadata", pod["metadata"]}, {"spec", pod["spec"]}};
  struct Case {
    Json object;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {{{"kind", "Deployment"}, {"spec", {{"template", tmpl}}}}, "spec.template.spec.hostIPC"},
           {{{"kind", "ReplicaSet"}, {"spec", {{"template", tmpl}}}}, "spec.template.spec.hostIPC"},
           {{{"kind", "StatefulSet"}, {"spec", {{"template", tmpl}}}},
            "spec.template.spec.hostIPC"},
           {{{"kind", "DaemonSet"}, {"spec", {{"template", tmpl}}}}, "spec.template.spec.hostIPC"},
           {{{"kind", "Job"}, {"spec", {{"template", tmpl}}}}, "spec.template.spec.hostIPC"},
           {{{"kind", "ReplicationController"}, {"spec", {{"template", tmpl}}}},
            "spec.template.spec.hostIPC"},
           {{{"kind", "PodTemplate"}, {"template", tmpl}}, "template.spec.hostIPC"},
           {{{"kind", "CronJob"}, {"spec", {{"jobTemplate", {{"spec", {{"template", tmpl}}}}}}}},
            "spec.jobTemplate.spec.template.spec.hostIPC"},
       }) {
    auto violations = Violations(c.object, Profile::kPssBaseline);
    EXPECT_TRUE(Has(violations, "hostNamespaces", c.field)) << c.field << Dump(violations);
  }
  auto missing = testing::JudgeBothWays(Json{{"kind", "Deployment"}, {"spec", Json::object()}},
                                        Policy::ForProfile(Profile::kBot));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "spec.template: Required value");
  EXPECT_FALSE(IsPodCarrier(Json{{"kind", "Service"}}));
}

}  // namespace
}  // namespace botsec::policy

namespace botsec::policy {
namespace {

// Pod level {allowed value, forbidden value, unset} crossed with the main container's, the other
// containers left unset; the verdict must equal upstream's rule, written out here independently.
TEST(PssOverrideMatrixTest, PodLevelCrossedWithContainerLevel) {
  struct Field {
    std::string name;
    Json::json_pointer pointer;  // under securityContext
    std::vector<Json> pod_values;
    std::vector<Json> container_values;
    std::function<bool(const Json& pod, const Json& container)> allowed;
  };
  auto valid_seccomp = [](const Json& v) {
    return v.is_object() && (v["type"] == "RuntimeDefault" || v["type"] == "Localhost");
  };
  const std::vector<Field> fields = {
      {"runAsNonRoot",
       Json::json_pointer("/runAsNonRoot"),
       {true, false, nullptr},
       {true, false, nullptr},
       // Init and debug containers are unset: only the pod's true can cover them.
       [](const Json& pod, const Json& c) { return pod == true && c != false; }},
      {"runAsUser",
       Json::json_pointer("/runAsUser"),
       {1000, 0, nullptr},
       {1000, 0, nullptr},
       [](const Json& pod, const Json& c) { return pod != 0 && c != 0; }},
      {"seccompProfile",
       Json::json_pointer("/seccompProfile"),
       {{{"type", "RuntimeDefault"}}, {{"type", "Unconfined"}}, nullptr},
       {{{"type", "Localhost"}, {"localhostProfile", "p"}}, {{"type", "Unconfined"}}, nullptr},
       [&](const Json& pod, const Json& c) {
         return valid_seccomp(pod) && (c.is_null() || valid_seccomp(c));
       }},
      {"appArmorProfile",
       Json::json_pointer("/appArmorProfile"),
       {{{"type", "RuntimeDefault"}}, {{"type", "Unconfined"}}, nullptr},
       {{{"type", "Localhost"}, {"localhostProfile", "p"}}, {{"type", "Unconfined"}}, nullptr},
       [](const Json& pod, const Json& c) {
         return (pod.is_null() || pod["type"] != "Unconfined") &&
                (c.is_null() || c["type"] != "Unconfined");
       }},
  };
  int cases = 0;
  for (const Field& field : fields) {
    for (const Json& pod_value : field.pod_values) {
      for (const Json& container_value : field.container_values) {
        Json pod = RestrictedPod();
        Json& pod_context = pod["spec"]["securityContext"];
        Json& main_context = pod["spec"]["containers"][0]["securityContext"];
        pod_context.erase(field.pointer.back());
        if (!pod_value.is_null()) {
          pod_context[field.pointer] = pod_value;
        }
        if (!container_value.is_null()) {
          main_context[field.pointer] = container_value;
        }
        if (field.name != "seccompProfile" && !pod_context.contains("seccompProfile")) {
          pod_context["seccompProfile"] = {{"type", "RuntimeDefault"}};
        }
        auto violations = Violations(pod, Profile::kPssRestricted);
        EXPECT_EQ(violations.empty(), field.allowed(pod_value, container_value))
            << field.name << " pod=" << pod_value << " container=" << container_value
            << Dump(violations);
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 36);
}

TEST(PssChecksTest, SidecarInitContainersAreJudgedLikeTheRest) {
  Json pod = RestrictedPod();
  Json sidecar = pod["spec"]["initContainers"][0];
  sidecar["name"] = "proxy";
  sidecar["restartPolicy"] = "Always";
  sidecar["securityContext"]["capabilities"]["add"] = {"NET_ADMIN"};
  pod["spec"]["initContainers"].push_back(sidecar);
  auto violations = Violations(pod, Profile::kPssRestricted);
  EXPECT_TRUE(Has(violations, "capabilities_restricted",
                  "spec.initContainers[1].securityContext.capabilities.add[0]"))
      << Dump(violations);
}

}  // namespace
}  // namespace botsec::policy
