// Proves that the control plane under tools/cluster.sh is the real thing: upstream kube-apiserver
// 1.37.2 with RBAC and auditing, a controller-manager that finalizes namespaces and runs
// Deployments, a scheduler that binds pods, and KWOK reporting them Running on simulated nodes.
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cluster.h"

namespace botsec::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// A pod that passes Pod Security "restricted", so no warning or policy gets in the way.
std::string RestrictedPod(const std::string& name, const std::string& ns) {
  return json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"spec",
       {{"securityContext",
         {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"containers", json::array({{{"name", "bot"},
                                     {"image", "registry.invalid/bot:1"},
                                     {"securityContext",
                                      {{"allowPrivilegeEscalation", false},
                                       {"capabilities", {{"drop", json::array({"ALL"})}}}}}}})}}}}
      .dump();
}

TEST(ControlPlaneTest, ServesUpstreamKubernetes1372) {
  BOTSEC_REQUIRE_CLUSTER();
  auto raw = cluster.Kubectl({"get", "--raw", "/version"});
  ASSERT_TRUE(raw && raw->ok()) << (raw ? raw->err : raw.error().message);
  json version = json::parse(raw->out, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(version.value("gitVersion", ""), "v1.37.2") << raw->out;
  EXPECT_EQ(version.value("major", ""), "1");
  EXPECT_EQ(version.value("minor", ""), "37");
  EXPECT_EQ(version.value("gitTreeState", ""), "clean");
}

TEST(ControlPlaneTest, NamespaceControllerFinalizesADeletedNamespace) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-ns");
  ASSERT_TRUE(ns) << ns.error().message;
  auto cm = cluster.Kubectl({"-n", *ns, "create", "configmap", "payload", "--from-literal=a=b"});
  ASSERT_TRUE(cm && cm->ok()) << (cm ? cm->err : cm.error().message);

  auto del = cluster.Kubectl({"delete", "namespace", *ns, "--wait=false"});
  ASSERT_TRUE(del && del->ok()) << (del ? del->err : del.error().message);
  // Without the namespace controller the namespace would stay Terminating forever.
  bool gone = Eventually(
      [&] {
        auto got = cluster.KubectlJson({"get", "namespace", *ns});
        return !got && got.error().code == core::ErrorCode::kNotFound;
      },
      seconds(90));
  EXPECT_TRUE(gone) << "namespace " << *ns << " was not fully deleted within 90 s";
}

TEST(ControlPlaneTest, SchedulerBindsAPodAndKwokReportsItRunning) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-pod");
  ASSERT_TRUE(ns) << ns.error().message;
  auto created = cluster.Kubectl({"apply", "-f", "-"}, RestrictedPod("bot", *ns));
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);

  json pod;
  bool running = Eventually(
      [&] {
        auto got = cluster.KubectlJson({"-n", *ns, "get", "pod", "bot"});
        if (!got) {
          return false;
        }
        pod = *got;
        return pod["status"].value("phase", "") == "Running";
      },
      seconds(60));
  ASSERT_TRUE(running) << "pod never Running: " << pod.dump(2);
  const std::set<std::string> nodes = {"kwok-node-0", "kwok-node-1"};
  EXPECT_TRUE(nodes.contains(pod["spec"].value("nodeName", "")))
      << "bound to " << pod["spec"].value("nodeName", "<none>");

  json scheduled;
  bool has_event = Eventually(
      [&] {
        auto events = cluster.KubectlJson({"-n", *ns, "get", "events", "--field-selector",
                                           "involvedObject.name=bot,reason=Scheduled"});
        if (!events || (*events)["items"].empty()) {
          return false;
        }
        scheduled = (*events)["items"][0];
        return true;
      },
      seconds(30));
  ASSERT_TRUE(has_event) << "no Scheduled event for pod bot";
  EXPECT_EQ(scheduled.value("reportingComponent", ""), "default-scheduler") << scheduled.dump(2);
  cluster.DeleteNamespace(*ns);
}

TEST(ControlPlaneTest, DeploymentProducesReadyPods) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-deploy");
  ASSERT_TRUE(ns) << ns.error().message;
  json deployment = {{"apiVersion", "apps/v1"},
                     {"kind", "Deployment"},
                     {"metadata", {{"name", "web"}, {"namespace", *ns}}},
                     {"spec",
                      {{"replicas", 2},
                       {"selector", {{"matchLabels", {{"app", "web"}}}}},
                       {"template",
                        {{"metadata", {{"labels", {{"app", "web"}}}}},
                         {"spec", json::parse(RestrictedPod("x", *ns))["spec"]}}}}}};
  auto created = cluster.Kubectl({"apply", "-f", "-"}, deployment.dump());
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);

  json status;
  bool ready = Eventually(
      [&] {
        auto got = cluster.KubectlJson({"-n", *ns, "get", "deployment", "web"});
        if (!got) {
          return false;
        }
        status = (*got)["status"];
        return status.value("readyReplicas", 0) == 2;
      },
      seconds(90));
  ASSERT_TRUE(ready) << "deployment status: " << status.dump(2);

  auto pods = cluster.KubectlJson({"-n", *ns, "get", "pods", "-l", "app=web"});
  ASSERT_TRUE(pods) << pods.error().message;
  ASSERT_EQ((*pods)["items"].size(), 2U);
  for (const json& p : (*pods)["items"]) {
    EXPECT_EQ(p["status"].value("phase", ""), "Running");
    ASSERT_FALSE(p["metadata"]["ownerReferences"].empty());
    EXPECT_EQ(p["metadata"]["ownerReferences"][0].value("kind", ""), "ReplicaSet");
  }
  cluster.DeleteNamespace(*ns);
}

TEST(ControlPlaneTest, RbacRefusesAUserUntilARoleBindingAllows) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-rbac");
  ASSERT_TRUE(ns) << ns.error().message;
  const std::string user = "eve-" + *ns;
  auto kubeconfig = cluster.UserKubeconfig(user, {"botsec:testers"});
  ASSERT_TRUE(kubeconfig) << kubeconfig.error().message;

  auto denied = cluster.Kubectl({"-n", *ns, "get", "pods"}, "", *kubeconfig);
  ASSERT_TRUE(denied) << denied.error().message;
  EXPECT_NE(denied->exit_code, 0);
  EXPECT_NE(denied->err.find("Forbidden"), std::string::npos) << denied->err;
  EXPECT_NE(denied->err.find("User \"" + user + "\" cannot list resource \"pods\""),
            std::string::npos)
      << denied->err;

  auto bound = cluster.Kubectl(
      {"-n", *ns, "create", "rolebinding", "eve-view", "--clusterrole=view", "--user=" + user});
  ASSERT_TRUE(bound && bound->ok()) << (bound ? bound->err : bound.error().message);
  bool allowed = Eventually(
      [&] {
        auto got = cluster.Kubectl({"-n", *ns, "get", "pods"}, "", *kubeconfig);
        return got && got->ok();
      },
      seconds(30));
  EXPECT_TRUE(allowed) << "the view RoleBinding never took effect";
  // `view` does not grant Secrets: RBAC still decides per resource.
  auto secrets = cluster.Kubectl({"-n", *ns, "get", "secrets"}, "", *kubeconfig);
  ASSERT_TRUE(secrets) << secrets.error().message;
  EXPECT_NE(secrets->exit_code, 0);
  EXPECT_NE(secrets->err.find("cannot list resource \"secrets\""), std::string::npos)
      << secrets->err;
  cluster.DeleteNamespace(*ns);
}

TEST(ControlPlaneTest, ServiceAccountTokenIdentifiesTheAccount) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-sa");
  ASSERT_TRUE(ns) << ns.error().message;
  auto sa = cluster.Kubectl({"-n", *ns, "create", "serviceaccount", "bot"});
  ASSERT_TRUE(sa && sa->ok()) << (sa ? sa->err : sa.error().message);
  auto kubeconfig = cluster.ServiceAccountKubeconfig(*ns, "bot");
  ASSERT_TRUE(kubeconfig) << kubeconfig.error().message;

  auto whoami = cluster.Kubectl({"auth", "whoami", "-o", "json"}, "", *kubeconfig);
  ASSERT_TRUE(whoami && whoami->ok()) << (whoami ? whoami->err : whoami.error().message);
  auto review = json::parse(whoami->out);
  EXPECT_EQ(review["status"]["userInfo"].value("username", ""),
            "system:serviceaccount:" + *ns + ":bot");

  auto nodes = cluster.Kubectl({"get", "nodes"}, "", *kubeconfig);
  ASSERT_TRUE(nodes) << nodes.error().message;
  EXPECT_NE(nodes->exit_code, 0);
  EXPECT_NE(nodes->err.find("cannot list resource \"nodes\""), std::string::npos) << nodes->err;
  cluster.DeleteNamespace(*ns);
}

TEST(ControlPlaneTest, AuditLogRecordsMutatingRequestsOnly) {
  BOTSEC_REQUIRE_CLUSTER();
  auto ns = cluster.CreateTestNamespace("it-audit");
  ASSERT_TRUE(ns) << ns.error().message;
  auto cm = cluster.Kubectl({"-n", *ns, "create", "configmap", "audited"});
  ASSERT_TRUE(cm && cm->ok()) << (cm ? cm->err : cm.error().message);
  auto read = cluster.Kubectl({"-n", *ns, "get", "configmap", "audited"});
  ASSERT_TRUE(read && read->ok());

  int creates = 0;
  int reads = 0;
  json entry;
  bool logged = Eventually(
      [&] {
        creates = reads = 0;
        std::ifstream log(cluster.dir() + "/logs/audit.log");
        std::string line;
        while (std::getline(log, line)) {
          if (line.find(*ns) == std::string::npos) {
            continue;
          }
          json e = json::parse(line, nullptr, false);
          if (e.is_discarded() || e["objectRef"].value("resource", "") != "configmaps" ||
              e["objectRef"].value("name", "") != "audited") {
            continue;
          }
          const std::string verb = e.value("verb", "");
          if (verb == "create") {
            ++creates;
            entry = e;
          } else if (verb == "get" || verb == "list" || verb == "watch") {
            ++reads;
          }
        }
        return creates > 0;
      },
      seconds(30));
  ASSERT_TRUE(logged) << "no audit entry for creating configmap " << *ns << "/audited";
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(reads, 0) << "reads are not to be audited";
  EXPECT_EQ(entry["user"].value("username", ""), "botsec-admin");
  EXPECT_EQ(entry["objectRef"].value("namespace", ""), *ns);
  cluster.DeleteNamespace(*ns);
}

}  // namespace
}  // namespace botsec::testing
