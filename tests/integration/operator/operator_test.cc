// botsec-operator against the real control plane (kube-apiserver, kube-controller-manager,
// scheduler, KWOK): each BotSandbox becomes a fenced namespace and a running bot, kept that way.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "botsec/api/render.h"
#include "support/cluster.h"
#include "support/command.h"

namespace botsec::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class OperatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr) {
      return;
    }
    auto installed = cluster->InstallCrds();
    ASSERT_TRUE(installed) << installed.error().message;
    prefix_ = "it" + std::to_string(getpid() % 100000) + "-";
    auto identity =
        cluster->UserKubeconfig("botsec-operator-" + std::to_string(getpid()), {"system:masters"});
    ASSERT_TRUE(identity) << identity.error().message;
    kubeconfig_ = *identity;
  }

  void SetUp() override {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr) {
      return;
    }
    auto ns = cluster->CreateTestNamespace("it-op");
    ASSERT_TRUE(ns) << ns.error().message;
    ns_ = *ns;
    if (!start_operator_) {
      return;
    }
    // An operator of this test's own, for this test's namespace alone: tests run side by side.
    operator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{
            BOTSEC_OPERATOR_PATH, "--kubeconfig=" + kubeconfig_, "--namespace-prefix=" + prefix_,
            "--watch-namespace=" + ns_, "--workers=4", "--resync-period=" + resync_,
            "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0"},
        cluster->dir() + "/logs/operator-" + ns_ + ".log");
    ASSERT_TRUE(operator_->started());
  }
  void TearDown() override {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr || ns_.empty()) {
      return;
    }
    // Delete the sandboxes while the operator can still finish them, then stop it.
    auto deleted = cluster->Kubectl({"-n", ns_, "delete", "bsb", "--all", "--timeout=90s"});
    EXPECT_TRUE(deleted && deleted->ok()) << (deleted ? deleted->err : deleted.error().message);
    if (operator_) {
      operator_->Signal(SIGTERM);
      operator_->Wait();
    }
    cluster->DeleteNamespace(ns_);
  }

  [[nodiscard]] std::string SandboxNamespace(const std::string& name) const {
    return api::SandboxNamespaceName(prefix_, ns_, name);
  }

  static void Create(const Cluster& cluster, const std::string& ns, const std::string& name,
                     const json& spec) {
    json sandbox = {{"apiVersion", "botsec.io/v1alpha1"},
                    {"kind", "BotSandbox"},
                    {"metadata", {{"name", name}, {"namespace", ns}}},
                    {"spec", spec}};
    auto created = cluster.Kubectl({"create", "-f", "-"}, sandbox.dump());
    ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  }

  // Polls `get` until `condition` holds on its result; the last object read.
  static json WaitFor(const Cluster& cluster, const std::vector<std::string>& get,
                      const std::function<bool(const json&)>& condition,
                      milliseconds timeout = seconds(60)) {
    json last;
    Eventually(
        [&] {
          auto got = cluster.KubectlJson(get);
          last = got ? *got : json();
          return got && condition(*got);
        },
        timeout);
    return last;
  }

  static std::string ConditionStatus(const json& sandbox, const std::string& type,
                                     std::string* reason = nullptr) {
    for (const json& condition : sandbox.value("/status/conditions"_json_pointer, json::array())) {
      if (condition.value("type", "") == type) {
        if (reason != nullptr) {
          *reason = condition.value("reason", "");
        }
        return condition.value("status", "");
      }
    }
    return "";
  }

  static bool ManagedByOperatorApply(const json& object) {
    return std::ranges::any_of(object.value("/metadata/managedFields"_json_pointer, json::array()),
                               [](const json& entry) {
                                 return entry.value("manager", "") == "botsec-operator" &&
                                        entry.value("operation", "") == "Apply";
                               });
  }

  // Sandbox namespaces (not terminating) owned by BotSandboxes of this test's namespace.
  [[nodiscard]] int OwnedSandboxNamespaces(const Cluster& cluster) const {
    auto namespaces =
        cluster.KubectlJson({"get", "namespaces", "-l", "botsec.io/sandbox", "-o", "json"});
    if (!namespaces) {
      return -1;
    }
    return static_cast<int>(std::ranges::count_if((*namespaces)["items"], [&](const json& ns) {
      return ns.value("/metadata/annotations/botsec.io~1owner"_json_pointer, "")
                     .rfind(ns_ + "/", 0) == 0 &&
             !ns["metadata"].contains("deletionTimestamp");
    }));
  }

  // What keeps the churn test's sandboxes s20..s<n-1> from having converged ("" when nothing):
  // s0..s19 deleted, s20..s39 on image :2, the rest on :1, each Ready at its generation.
  [[nodiscard]] std::string ChurnProblem(const Cluster& cluster, int sandboxes) const {
    auto listed = cluster.KubectlJson({"-n", ns_, "get", "bsb", "-o", "json"});
    if (!listed) {
      return listed.error().message;
    }
    const json& items = (*listed)["items"];
    if (static_cast<int>(items.size()) != sandboxes - 20) {
      return std::to_string(items.size()) + " BotSandboxes remain";
    }
    for (const json& sandbox : items) {
      if (ConditionStatus(sandbox, "Ready") != "True" ||
          sandbox.value("/status/observedGeneration"_json_pointer, 0) !=
              sandbox.value("/metadata/generation"_json_pointer, -1)) {
        return sandbox["metadata"]["name"].get<std::string>() + " is not Ready at its generation";
      }
    }
    auto pods =
        cluster.KubectlJson({"get", "pods", "-A", "-l", "botsec.io/role=bot", "-o", "json"});
    if (!pods) {
      return pods.error().message;
    }
    std::map<std::string, std::string> image_of;  // sandbox namespace -> image
    for (const json& pod : (*pods)["items"]) {
      if (!pod["metadata"].contains("deletionTimestamp")) {
        image_of[pod["metadata"]["namespace"]] = pod["spec"]["containers"][0]["image"];
      }
    }
    for (int i = 20; i < sandboxes; ++i) {
      std::string name = "s" + std::to_string(i);
      std::string want = i < 40 ? "ghcr.io/acme/bot:2" : "ghcr.io/acme/bot:1";
      auto it = image_of.find(SandboxNamespace(name));
      if (it == image_of.end() || it->second != want) {
        return name + "'s Pod is missing or runs the wrong image";
      }
    }
    if (int ours = OwnedSandboxNamespaces(cluster); ours != sandboxes - 20) {
      return std::to_string(ours) + " sandbox namespaces, want " + std::to_string(sandboxes - 20);
    }
    return "";
  }

  static std::string prefix_;
  static std::string kubeconfig_;  // the operator's own identity, as the audit log shows it
  std::unique_ptr<BackgroundProcess> operator_;
  std::string resync_ = "10m";
  bool start_operator_ = true;
  std::string ns_;
};

std::string OperatorTest::prefix_;
std::string OperatorTest::kubeconfig_;

TEST_F(OperatorTest, FencesASandboxAndRunsItsBot) {
  BOTSEC_REQUIRE_CLUSTER();
  auto secret = cluster.Kubectl(
      {"-n", ns_, "create", "secret", "generic", "api", "--from-literal=token=s3cret"});
  ASSERT_TRUE(secret && secret->ok());
  auto label =
      cluster.Kubectl({"-n", ns_, "label", "secret", "api", "botsec.io/sandbox-access=true"});
  ASSERT_TRUE(label && label->ok());
  Create(cluster, ns_, "chat",
         {{"image", "ghcr.io/acme/bot:1"},
          {"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
          {"env",
           {{{"name", "TOKEN"},
             {"valueFrom", {{"secretKeyRef", {{"name", "api"}, {"key", "token"}}}}}}}},
          {"secrets", {{{"name", "api"}}}},
          {"network",
           {{"egress", {{"cidrs", {{{"cidr", "0.0.0.0/0"}, {"ports", {{{"port", 443}}}}}}}}},
            {"bandwidth", {{"egress", "10M"}}}}},
          {"lifetime", {{"ttl", "2h"}}}});
  json sandbox =
      WaitFor(cluster, {"-n", ns_, "get", "bsb", "chat", "-o", "json"}, [](const json& s) {
        return s.value("/status/phase"_json_pointer, "") == "Running" &&
               ConditionStatus(s, "Ready") == "True";
      });
  ASSERT_EQ(sandbox.value("/status/phase"_json_pointer, ""), "Running") << sandbox.dump(1);
  const std::string sns = SandboxNamespace("chat");
  EXPECT_EQ(sandbox.value("/status/namespace"_json_pointer, ""), sns);
  EXPECT_EQ(ConditionStatus(sandbox, "Isolated"), "True");
  EXPECT_EQ(ConditionStatus(sandbox, "Degraded"), "False");
  EXPECT_EQ(sandbox.value("/status/podName"_json_pointer, ""), "bot");
  EXPECT_FALSE(sandbox.value("/status/expiresAt"_json_pointer, "").empty());
  EXPECT_EQ(sandbox.value("/status/observedGeneration"_json_pointer, 0), 1);
  EXPECT_EQ(sandbox["metadata"]["finalizers"], json({"botsec.io/cleanup"}));

  auto ns = cluster.KubectlJson({"get", "namespace", sns, "-o", "json", "--show-managed-fields"});
  ASSERT_TRUE(ns) << ns.error().message;
  const json& labels = (*ns)["metadata"]["labels"];
  EXPECT_EQ(labels.value("pod-security.kubernetes.io/enforce", ""), "restricted");
  EXPECT_EQ(labels.value("botsec.io/enforce", ""), "true");
  EXPECT_EQ((*ns)["metadata"]["annotations"].value("botsec.io/owner-uid", ""),
            sandbox["metadata"]["uid"].get<std::string>());
  EXPECT_TRUE(ManagedByOperatorApply(*ns));

  for (const std::string kind_name :
       {"serviceaccount/bot", "resourcequota/bot", "limitrange/bot", "networkpolicy/default-deny",
        "networkpolicy/allow-dns", "networkpolicy/egress-allowlist", "secret/api", "service/bot",
        "pod/bot"}) {
    auto object =
        cluster.KubectlJson({"-n", sns, "get", kind_name, "-o", "json", "--show-managed-fields"});
    ASSERT_TRUE(object) << kind_name << ": " << object.error().message;
    EXPECT_TRUE(ManagedByOperatorApply(*object)) << kind_name;
    EXPECT_EQ((*object)["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""),
              "botsec-operator")
        << kind_name;
  }
  auto sa = cluster.KubectlJson({"-n", sns, "get", "serviceaccount", "bot", "-o", "json"});
  EXPECT_EQ((*sa)["automountServiceAccountToken"], false);
  auto quota = cluster.KubectlJson({"-n", sns, "get", "resourcequota", "bot", "-o", "json"});
  EXPECT_EQ((*quota)["spec"]["hard"].value("services.nodeports", ""), "0");
  EXPECT_EQ((*quota)["spec"]["hard"].value("services.loadbalancers", ""), "0");
  auto egress =
      cluster.KubectlJson({"-n", sns, "get", "networkpolicy", "egress-allowlist", "-o", "json"});
  EXPECT_EQ((*egress)["spec"]["egress"][0]["to"][0]["ipBlock"],
            (json{{"cidr", "0.0.0.0/0"}, {"except", {"169.254.0.0/16", "100.100.100.200/32"}}}));
  auto mirrored = cluster.KubectlJson({"-n", sns, "get", "secret", "api", "-o", "json"});
  EXPECT_EQ((*mirrored)["data"].value("token", ""), "czNjcmV0");
  auto pod = cluster.KubectlJson({"-n", sns, "get", "pod", "bot", "-o", "json"});
  const json& spec = (*pod)["spec"];
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_EQ(spec["securityContext"].value("runAsNonRoot", false), true);
  EXPECT_EQ(spec["containers"][0]["securityContext"].value("readOnlyRootFilesystem", false), true);
  EXPECT_EQ(spec["containers"][0]["securityContext"]["capabilities"]["drop"], json({"ALL"}));
  EXPECT_EQ((*pod)["metadata"]["annotations"].value("kubernetes.io/egress-bandwidth", ""), "10M");
  EXPECT_FALSE(spec.value("nodeName", "").empty());  // scheduled onto a KWOK node
}

// The address the operator logged for a server of `paths`: "Serving paths=... address=...".
std::string ServingAddress(const std::string& log, const std::string& paths) {
  std::string marker = "Serving paths=" + paths + " address=";
  std::size_t at = log.find(marker);
  if (at == std::string::npos) {
    return "";
  }
  at += marker.size();
  return log.substr(at, log.find('\n', at) - at);
}

// GET (or another method) of a URL with curl: the status code, then the body.
std::pair<std::string, std::string> Fetch(const std::string& url,
                                          const std::string& method = "GET") {
  auto fetched = RunCommand({"curl", "-s", "-X", method, "-w", "\n%{http_code}", url});
  if (!fetched || !fetched->ok()) {
    return {"", ""};
  }
  std::size_t last = fetched->out.rfind('\n');
  return {fetched->out.substr(last + 1), fetched->out.substr(0, last)};
}

// Probes and metrics on the operator's own server (flags as controller-runtime names them): ready
// once its caches have synced; controller-runtime's metrics and botsec_sandboxes{phase} count
// what it did, and no label names an object.
TEST_F(OperatorTest, ServesProbesAndMetrics) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string probes;
  std::string metrics;
  ASSERT_TRUE(Eventually(
      [&] {
        std::string log = operator_->Errors();
        probes = ServingAddress(log, "/healthz,/readyz");
        metrics = ServingAddress(log, "/metrics");
        return !probes.empty() && !metrics.empty();
      },
      seconds(10)))
      << operator_->Errors();
  EXPECT_TRUE(Eventually([&] { return Fetch("http://" + probes + "/readyz").first == "200"; },
                         seconds(30)));
  EXPECT_EQ(Fetch("http://" + probes + "/readyz?verbose").second,
            "[+]ping ok\n[+]informers-synced ok\nreadyz check passed\n");
  EXPECT_EQ(Fetch("http://" + probes + "/healthz"),
            std::make_pair(std::string("200"), std::string("ok")));
  EXPECT_EQ(Fetch("http://" + probes + "/healthz", "POST").first, "405");
  EXPECT_EQ(Fetch("http://" + probes + "/metrics").first, "404") << "metrics on its own address";

  Create(cluster, ns_, "counted", {{"image", "ghcr.io/acme/bot:1"}});
  json sandbox =
      WaitFor(cluster, {"-n", ns_, "get", "bsb", "counted", "-o", "json"},
              [](const json& s) { return s.value("/status/phase"_json_pointer, "") == "Running"; });
  ASSERT_EQ(sandbox.value("/status/phase"_json_pointer, ""), "Running") << sandbox.dump(1);
  std::string text;
  EXPECT_TRUE(Eventually(
      [&] {
        text = Fetch("http://" + metrics + "/metrics").second;
        return text.find(
                   "\n"
                   R"(botsec_sandboxes{phase="Running"} 1)"
                   "\n") != std::string::npos;
      },
      seconds(30)))
      << text;
  for (const char* series :
       {R"(controller_runtime_reconcile_total{controller="botsandbox",result="success"} )",
        R"(controller_runtime_reconcile_time_seconds_count{controller="botsandbox"} )",
        R"(controller_runtime_max_concurrent_reconciles{controller="botsandbox"} 4)",
        R"(workqueue_adds_total{name="botsandbox"} )", R"(workqueue_depth{name="botsandbox"} )",
        R"(leader_election_master_status{name="botsec-operator"} 1)"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << " missing from\n" << text;
  }
  EXPECT_EQ(text.find("counted"), std::string::npos) << "a label names the BotSandbox";
}

TEST_F(OperatorTest, RepairsDriftWithinFiveSeconds) {
  BOTSEC_REQUIRE_CLUSTER();
  Create(cluster, ns_, "drift", {{"image", "ghcr.io/acme/bot:1"}});
  json sandbox = WaitFor(cluster, {"-n", ns_, "get", "bsb", "drift", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  ASSERT_EQ(ConditionStatus(sandbox, "Ready"), "True") << sandbox.dump(1);
  const std::string sns = SandboxNamespace("drift");

  auto deleted = cluster.Kubectl({"-n", sns, "delete", "networkpolicy", "default-deny"});
  ASSERT_TRUE(deleted && deleted->ok());
  auto edited = cluster.Kubectl({"-n", sns, "patch", "resourcequota", "bot", "--type=merge", "-p",
                                 R"({"spec":{"hard":{"pods":"50"}}})"});
  ASSERT_TRUE(edited && edited->ok());
  json foreign = {{"apiVersion", "networking.k8s.io/v1"},
                  {"kind", "NetworkPolicy"},
                  {"metadata", {{"name", "allow-all"}, {"namespace", sns}}},
                  {"spec",
                   {{"podSelector", json::object()},
                    {"egress", {json::object()}},
                    {"policyTypes", {"Egress"}}}}};
  auto added = cluster.Kubectl({"create", "-f", "-"}, foreign.dump());
  ASSERT_TRUE(added && added->ok());

  EXPECT_TRUE(Eventually(
      [&] {
        auto policy =
            cluster.KubectlJson({"-n", sns, "get", "networkpolicy", "default-deny", "-o", "json"});
        return policy.has_value();
      },
      seconds(5)))
      << "default-deny not restored";
  EXPECT_TRUE(Eventually(
      [&] {
        auto quota = cluster.KubectlJson({"-n", sns, "get", "resourcequota", "bot", "-o", "json"});
        return quota && (*quota)["spec"]["hard"].value("pods", "") == "1";
      },
      seconds(5)))
      << "the quota was not restored";
  EXPECT_TRUE(Eventually(
      [&] {
        auto policy =
            cluster.KubectlJson({"-n", sns, "get", "networkpolicy", "allow-all", "-o", "json"});
        return !policy && policy.error().code == core::ErrorCode::kNotFound;
      },
      seconds(5)))
      << "the foreign NetworkPolicy was not pruned";
  EXPECT_TRUE(Eventually(
      [&] {
        auto now = cluster.KubectlJson({"-n", ns_, "get", "events", "-o", "json"});
        std::set<std::string> seen;
        for (const json& event : now ? (*now)["items"] : json::array()) {
          seen.insert(event.value("reason", ""));
        }
        return seen.contains("DriftRepaired") && seen.contains("ForeignNetworkPolicyDeleted");
      },
      seconds(10)));
}

TEST_F(OperatorTest, AnUnsharedSecretIsNotMirroredAndThePodWaits) {
  BOTSEC_REQUIRE_CLUSTER();
  auto secret =
      cluster.Kubectl({"-n", ns_, "create", "secret", "generic", "private", "--from-literal=k=v"});
  ASSERT_TRUE(secret && secret->ok());
  Create(cluster, ns_, "waits",
         {{"image", "ghcr.io/acme/bot:1"}, {"secrets", {{{"name", "private"}}}}});
  json sandbox = WaitFor(cluster, {"-n", ns_, "get", "bsb", "waits", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Degraded") == "True"; });
  std::string reason;
  EXPECT_EQ(ConditionStatus(sandbox, "Degraded", &reason), "True") << sandbox.dump(1);
  EXPECT_EQ(reason, "SecretNotShared");
  const std::string sns = SandboxNamespace("waits");
  auto mirrored = cluster.KubectlJson({"-n", sns, "get", "secret", "private", "-o", "json"});
  EXPECT_FALSE(mirrored) << "an unshared Secret was mirrored";
  auto pod = cluster.KubectlJson({"-n", sns, "get", "pod", "bot", "-o", "json"});
  EXPECT_FALSE(pod) << "the Pod was created without its Secret";

  auto label =
      cluster.Kubectl({"-n", ns_, "label", "secret", "private", "botsec.io/sandbox-access=true"});
  ASSERT_TRUE(label && label->ok());
  json running = WaitFor(cluster, {"-n", ns_, "get", "bsb", "waits", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  EXPECT_EQ(ConditionStatus(running, "Ready"), "True") << running.dump(1);
  EXPECT_TRUE(
      cluster.KubectlJson({"-n", sns, "get", "secret", "private", "-o", "json"}).has_value());
}

TEST_F(OperatorTest, ANamespaceOfTheSameNameIsLeftAlone) {
  BOTSEC_REQUIRE_CLUSTER();
  const std::string sns = SandboxNamespace("squatted");
  auto made = cluster.Kubectl({"create", "namespace", sns});
  ASSERT_TRUE(made && made->ok()) << (made ? made->err : "");
  Create(cluster, ns_, "squatted", {{"image", "ghcr.io/acme/bot:1"}});
  json sandbox = WaitFor(cluster, {"-n", ns_, "get", "bsb", "squatted", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Degraded") == "True"; });
  std::string reason;
  EXPECT_EQ(ConditionStatus(sandbox, "Degraded", &reason), "True");
  EXPECT_EQ(reason, "NamespaceConflict");
  auto deleted = cluster.Kubectl({"-n", ns_, "delete", "bsb", "squatted", "--timeout=30s"});
  ASSERT_TRUE(deleted && deleted->ok()) << (deleted ? deleted->err : "");
  auto ns = cluster.KubectlJson({"get", "namespace", sns, "-o", "json"});
  ASSERT_TRUE(ns) << "the squatter's namespace was deleted";
  EXPECT_FALSE((*ns)["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE((*ns)["metadata"]["labels"].contains("botsec.io/enforce"));
  cluster.DeleteNamespace(sns);
}

TEST_F(OperatorTest, SuspendsResumesAndReplacesThePodOnASpecChange) {
  BOTSEC_REQUIRE_CLUSTER();
  Create(cluster, ns_, "pause", {{"image", "ghcr.io/acme/bot:1"}});
  const std::string sns = SandboxNamespace("pause");
  json running = WaitFor(cluster, {"-n", ns_, "get", "bsb", "pause", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  ASSERT_EQ(ConditionStatus(running, "Ready"), "True");

  auto suspend = cluster.Kubectl(
      {"-n", ns_, "patch", "bsb", "pause", "--type=merge", "-p", R"({"spec":{"suspend":true}})"});
  ASSERT_TRUE(suspend && suspend->ok());
  json suspended = WaitFor(
      cluster, {"-n", ns_, "get", "bsb", "pause", "-o", "json"},
      [](const json& s) { return s.value("/status/phase"_json_pointer, "") == "Suspended"; });
  EXPECT_EQ(suspended.value("/status/phase"_json_pointer, ""), "Suspended");
  EXPECT_TRUE(Eventually(
      [&] {
        return !cluster.KubectlJson({"-n", sns, "get", "pod", "bot", "-o", "json"});
      },
      seconds(30)));

  auto resume = cluster.Kubectl({"-n", ns_, "patch", "bsb", "pause", "--type=merge", "-p",
                                 R"({"spec":{"suspend":false,"image":"ghcr.io/acme/bot:2"}})"});
  ASSERT_TRUE(resume && resume->ok());
  json back = WaitFor(cluster, {"-n", sns, "get", "pod", "bot", "-o", "json"}, [](const json& pod) {
    return pod["spec"]["containers"][0].value("image", "") == "ghcr.io/acme/bot:2";
  });
  EXPECT_EQ(back["spec"]["containers"][0].value("image", ""), "ghcr.io/acme/bot:2");

  auto change = cluster.Kubectl({"-n", ns_, "patch", "bsb", "pause", "--type=merge", "-p",
                                 R"({"spec":{"image":"ghcr.io/acme/bot:3"}})"});
  ASSERT_TRUE(change && change->ok());
  json replaced =
      WaitFor(cluster, {"-n", sns, "get", "pod", "bot", "-o", "json"}, [](const json& pod) {
        return pod["spec"]["containers"][0].value("image", "") == "ghcr.io/acme/bot:3";
      });
  EXPECT_EQ(replaced["spec"]["containers"][0].value("image", ""), "ghcr.io/acme/bot:3");
  EXPECT_NE(replaced["metadata"]["uid"], back["metadata"]["uid"]);
}

TEST_F(OperatorTest, TheTtlDeletesOrRetains) {
  BOTSEC_REQUIRE_CLUSTER();
  Create(cluster, ns_, "kept",
         {{"image", "ghcr.io/acme/bot:1"}, {"lifetime", {{"ttl", "4s"}, {"onExpiry", "Retain"}}}});
  Create(cluster, ns_, "gone", {{"image", "ghcr.io/acme/bot:1"}, {"lifetime", {{"ttl", "4s"}}}});
  json kept = WaitFor(cluster, {"-n", ns_, "get", "bsb", "kept", "-o", "json"}, [](const json& s) {
    return s.value("/status/phase"_json_pointer, "") == "Expired";
  });
  EXPECT_EQ(kept.value("/status/phase"_json_pointer, ""), "Expired") << kept.dump(1);
  const std::string kept_ns = SandboxNamespace("kept");
  EXPECT_TRUE(Eventually(
      [&] {
        return !cluster.KubectlJson({"-n", kept_ns, "get", "pod", "bot", "-o", "json"});
      },
      seconds(30)));
  EXPECT_TRUE(
      cluster.KubectlJson({"-n", kept_ns, "get", "networkpolicy", "default-deny", "-o", "json"})
          .has_value());

  const std::string gone_ns = SandboxNamespace("gone");
  EXPECT_TRUE(Eventually(
      [&] {
        auto sandbox = cluster.KubectlJson({"-n", ns_, "get", "bsb", "gone", "-o", "json"});
        auto ns = cluster.KubectlJson({"get", "namespace", gone_ns, "-o", "json"});
        return !sandbox && !ns;
      },
      seconds(90)))
      << "the expired sandbox or its namespace is still there";
}

TEST_F(OperatorTest, DeletionTakesTheNamespaceWithIt) {
  BOTSEC_REQUIRE_CLUSTER();
  Create(cluster, ns_, "bye", {{"image", "ghcr.io/acme/bot:1"}});
  const std::string sns = SandboxNamespace("bye");
  json running = WaitFor(cluster, {"-n", ns_, "get", "bsb", "bye", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  ASSERT_EQ(ConditionStatus(running, "Ready"), "True");
  auto deleted = cluster.Kubectl({"-n", ns_, "delete", "bsb", "bye", "--timeout=90s"});
  ASSERT_TRUE(deleted && deleted->ok()) << (deleted ? deleted->err : "");
  auto ns = cluster.KubectlJson({"get", "namespace", sns, "-o", "json"});
  ASSERT_FALSE(ns);
  EXPECT_EQ(ns.error().code, core::ErrorCode::kNotFound);
}

// A bot that finished under restartPolicy: Never, its Pod's status set through pods/status as a
// kubelet would: the sandbox reports Succeeded and the Pod is not made again, even once deleted.
TEST_F(OperatorTest, ACompletedPodIsNotRecreated) {
  BOTSEC_REQUIRE_CLUSTER();
  Create(cluster, ns_, "once", {{"image", "ghcr.io/acme/bot:1"}, {"restartPolicy", "Never"}});
  const std::string sns = SandboxNamespace("once");
  json running = WaitFor(cluster, {"-n", ns_, "get", "bsb", "once", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  ASSERT_EQ(ConditionStatus(running, "Ready"), "True");
  json status = {
      {"status",
       {{"phase", "Succeeded"},
        {"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "PodCompleted"}}}},
        {"containerStatuses",
         {{{"name", "bot"},
           {"image", "ghcr.io/acme/bot:1"},
           {"imageID", ""},
           {"ready", false},
           {"restartCount", 0},
           {"state",
            {{"terminated",
              {{"exitCode", 0},
               {"reason", "Completed"},
               {"startedAt", "2026-12-04T10:00:00Z"},
               {"finishedAt", "2026-12-04T10:00:09Z"}}}}}}}}}}};
  auto patched = cluster.Kubectl({"-n", sns, "patch", "pod", "bot", "--subresource=status",
                                  "--type=merge", "-p", status.dump()});
  ASSERT_TRUE(patched && patched->ok()) << (patched ? patched->err : "");
  json done = WaitFor(cluster, {"-n", ns_, "get", "bsb", "once", "-o", "json"}, [](const json& s) {
    return s.value("/status/phase"_json_pointer, "") == "Succeeded";
  });
  ASSERT_EQ(done.value("/status/phase"_json_pointer, ""), "Succeeded") << done.dump(1);
  EXPECT_EQ(done.value("/status/bot/exitCode"_json_pointer, -1), 0);
  EXPECT_EQ(done.value("/status/bot/reason"_json_pointer, ""), "Completed");

  auto deleted = cluster.Kubectl({"-n", sns, "delete", "pod", "bot", "--wait=true"});
  ASSERT_TRUE(deleted && deleted->ok());
  std::this_thread::sleep_for(seconds(3));
  EXPECT_FALSE(cluster.KubectlJson({"-n", sns, "get", "pod", "bot", "-o", "json"}))
      << "the completed bot was started again";
  auto after = cluster.KubectlJson({"-n", ns_, "get", "bsb", "once", "-o", "json"});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->value("/status/phase"_json_pointer, ""), "Succeeded");
}

// kill -9 of the operator while 200 BotSandboxes are being made; while it is down, 20 are deleted
// and 20 edited. Once it is back, all converge: the deleted ones and their namespaces are gone, the
// edited ones run the new image, and there is exactly one namespace per remaining sandbox.
TEST_F(OperatorTest, ConvergesAfterKill9AmidChurn) {
  BOTSEC_REQUIRE_CLUSTER();
  constexpr int kSandboxes = 200;
  json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  for (int i = 0; i < kSandboxes; ++i) {
    list["items"].push_back({{"apiVersion", "botsec.io/v1alpha1"},
                             {"kind", "BotSandbox"},
                             {"metadata", {{"name", "s" + std::to_string(i)}, {"namespace", ns_}}},
                             {"spec", {{"image", "ghcr.io/acme/bot:1"}}}});
  }
  auto created = cluster.Kubectl({"create", "-f", "-"}, list.dump());
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  auto sandbox_namespaces = [&] { return OwnedSandboxNamespaces(cluster); };
  // Kill it mid-way: some sandboxes done, some half made, some not started.
  int before_kill = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        before_kill = sandbox_namespaces();
        return before_kill >= 20;
      },
      seconds(60)));
  operator_->Signal(SIGKILL);
  operator_->Wait();

  std::vector<std::string> deleted;
  std::vector<std::string> edited;
  for (int i = 0; i < 20; ++i) {
    deleted.push_back("s" + std::to_string(i));
    edited.push_back("s" + std::to_string(20 + i));
  }
  std::vector<std::string> del = {"-n", ns_, "delete", "bsb", "--wait=false"};
  del.insert(del.end(), deleted.begin(), deleted.end());
  auto gone = cluster.Kubectl(del);
  ASSERT_TRUE(gone && gone->ok()) << (gone ? gone->err : "");
  for (const std::string& name : edited) {
    auto patched = cluster.Kubectl({"-n", ns_, "patch", "bsb", name, "--type=merge", "-p",
                                    R"({"spec":{"image":"ghcr.io/acme/bot:2"}})"});
    ASSERT_TRUE(patched && patched->ok()) << (patched ? patched->err : "");
  }

  operator_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{BOTSEC_OPERATOR_PATH, "--kubeconfig=" + kubeconfig_,
                               "--namespace-prefix=" + prefix_, "--watch-namespace=" + ns_,
                               "--workers=4", "--health-probe-bind-address=0"},
      cluster.dir() + "/logs/operator-" + ns_ + "-restarted.log");
  ASSERT_TRUE(operator_->started());

  std::string problem;
  bool converged = Eventually(
      [&] {
        problem = ChurnProblem(cluster, kSandboxes);
        return problem.empty();
      },
      seconds(300));
  EXPECT_TRUE(converged) << problem;
  EXPECT_LT(before_kill, kSandboxes) << "the operator was killed after it had finished";
  // The deleted ones' namespaces are gone, not merely terminating (their finalizers waited).
  for (const std::string& name : deleted) {
    auto ns = cluster.KubectlJson({"get", "namespace", SandboxNamespace(name), "-o", "json"});
    EXPECT_FALSE(ns) << name << "'s namespace is still there";
  }
}

// Converged sandboxes resynced every 3 s: the kube-apiserver's audit log shows no mutating request
// from the operator's identity while nothing changes, and shows the one it makes once something
// does (so the count can see a write).
class OperatorResyncTest : public OperatorTest {
 protected:
  OperatorResyncTest() { resync_ = "3s"; }

  // Mutating requests by `user` in the audit log from byte `offset` on: "verb resource/name".
  static std::vector<std::string> WritesBy(const Cluster& cluster, const std::string& user,
                                           std::streamoff offset) {
    std::ifstream log(cluster.dir() + "/logs/audit.log");
    log.seekg(offset);
    std::vector<std::string> writes;
    std::string line;
    while (std::getline(log, line)) {
      json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (entry.is_discarded() || entry.value("/user/username"_json_pointer, "") != user) {
        continue;
      }
      writes.push_back(entry.value("verb", "") + " " +
                       entry.value("/objectRef/resource"_json_pointer, "") + "/" +
                       entry.value("/objectRef/name"_json_pointer, ""));
    }
    return writes;
  }

  static std::streamoff AuditLogSize(const Cluster& cluster) {
    std::ifstream log(cluster.dir() + "/logs/audit.log", std::ios::ate);
    return log.tellg();
  }
};

TEST_F(OperatorResyncTest, AConvergedSandboxIsNeverWrittenAgain) {
  BOTSEC_REQUIRE_CLUSTER();
  for (const char* name : {"one", "two", "three"}) {
    Create(cluster, ns_, name,
           {{"image", "ghcr.io/acme/bot:1"},
            {"ports", {{{"containerPort", 8080}}}},
            {"network", {{"egress", {{"cidrs", {{{"cidr", "0.0.0.0/0"}}}}}}}}});
  }
  for (const char* name : {"one", "two", "three"}) {
    json sandbox = WaitFor(cluster, {"-n", ns_, "get", "bsb", name, "-o", "json"},
                           [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
    ASSERT_EQ(ConditionStatus(sandbox, "Ready"), "True") << sandbox.dump(1);
  }
  std::this_thread::sleep_for(seconds(2));  // the last status write lands
  const std::string user = "botsec-operator-" + std::to_string(getpid());
  std::streamoff quiet_from = AuditLogSize(cluster);
  std::this_thread::sleep_for(seconds(8));  // more than two resync periods
  std::vector<std::string> writes = WritesBy(cluster, user, quiet_from);
  EXPECT_TRUE(writes.empty()) << writes.size() << " writes, the first: " << writes.front();

  std::streamoff edit_from = AuditLogSize(cluster);
  auto edited =
      cluster.Kubectl({"-n", SandboxNamespace("two"), "patch", "limitrange", "bot", "--type=json",
                       "-p", R"([{"op":"remove","path":"/spec/limits/0/default/cpu"}])"});
  ASSERT_TRUE(edited && edited->ok()) << (edited ? edited->err : "");
  EXPECT_TRUE(Eventually(
      [&] {
        std::vector<std::string> repair = WritesBy(cluster, user, edit_from);
        return std::ranges::find(repair, "patch limitranges/bot") != repair.end();
      },
      seconds(10)))
      << "the operator's repair is not in the audit log";
}

// Two replicas with --leader-elect: only the Lease holder writes (by the audit log); when it is
// killed, the other takes over and repairs what changed meanwhile.
class OperatorLeaderTest : public OperatorResyncTest {
 protected:
  OperatorLeaderTest() { start_operator_ = false; }

  std::unique_ptr<BackgroundProcess> Replica(const Cluster& cluster, const std::string& kubeconfig,
                                             const std::string& name) {
    return std::make_unique<BackgroundProcess>(
        std::vector<std::string>{BOTSEC_OPERATOR_PATH, "--kubeconfig=" + kubeconfig,
                                 "--namespace-prefix=" + prefix_, "--watch-namespace=" + ns_,
                                 "--leader-elect", "--leader-election-namespace=" + ns_,
                                 "--health-probe-bind-address=0"},
        cluster.dir() + "/logs/operator-" + ns_ + "-" + name + ".log");
  }
};

// --policy is re-read when the file changes (as a mounted ConfigMap does), by the replica that
// leads, and every BotSandbox is reconciled again under the new policy.
TEST_F(OperatorLeaderTest, ReloadsItsPolicyAndReconcilesEverySandboxUnderIt) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string policy = cluster.dir() + "/tmp/operator-policy-" + ns_ + ".yaml";
  auto write_policy = [&policy](const std::string& memory) {
    std::ofstream(policy + ".new") << "apiVersion: botsec.io/v1alpha1\nkind: Policy\n"
                                      "sandboxes:\n  maxResources: {memory: "
                                   << memory << "}\n";
    std::filesystem::rename(policy + ".new", policy);
  };
  write_policy("256Mi");
  BackgroundProcess replica(
      {BOTSEC_OPERATOR_PATH, "--kubeconfig=" + kubeconfig_, "--namespace-prefix=" + prefix_,
       "--watch-namespace=" + ns_, "--leader-elect", "--leader-election-namespace=" + ns_,
       "--health-probe-bind-address=0", "--policy=" + policy},
      cluster.dir() + "/logs/operator-" + ns_ + "-reload.log");
  ASSERT_TRUE(replica.started());
  Create(cluster, ns_, "big",
         {{"image", "ghcr.io/acme/bot:1"}, {"resources", {{"limits", {{"memory", "512Mi"}}}}}});
  auto degraded_by = [](const std::string& reason) {
    return [reason](const json& s) {
      for (const json& condition : s.value("/status/conditions"_json_pointer, json::array())) {
        if (condition.value("type", "") == "Degraded") {
          return condition.value("status", "") == "True" && condition.value("reason", "") == reason;
        }
      }
      return false;
    };
  };
  json refused =
      WaitFor(cluster, {"-n", ns_, "get", "bsb", "big", "-o", "json"}, degraded_by("OutOfBounds"));
  ASSERT_TRUE(degraded_by("OutOfBounds")(refused)) << refused.dump(1) << replica.Errors();

  write_policy("1Gi");
  json running =
      WaitFor(cluster, {"-n", ns_, "get", "bsb", "big", "-o", "json"},
              [](const json& s) { return s.value("/status/phase"_json_pointer, "") == "Running"; });
  EXPECT_EQ(running.value("/status/phase"_json_pointer, ""), "Running")
      << running.dump(1) << replica.Errors();
  EXPECT_NE(replica.Errors().find("Policy reloaded path=" + policy), std::string::npos)
      << replica.Errors();
  auto deleted = cluster.Kubectl({"-n", ns_, "delete", "bsb", "big", "--timeout=90s"});
  EXPECT_TRUE(deleted && deleted->ok());
}

TEST_F(OperatorLeaderTest, OnlyTheLeaderWritesAndTheOtherTakesOver) {
  BOTSEC_REQUIRE_CLUSTER();
  const std::string pid = std::to_string(getpid());
  auto first_identity = cluster.UserKubeconfig("botsec-replica-a-" + pid, {"system:masters"});
  auto second_identity = cluster.UserKubeconfig("botsec-replica-b-" + pid, {"system:masters"});
  ASSERT_TRUE(first_identity && second_identity);
  std::streamoff from = AuditLogSize(cluster);
  auto first = Replica(cluster, *first_identity, "a");
  std::this_thread::sleep_for(seconds(2));  // a leads first
  auto second = Replica(cluster, *second_identity, "b");
  Create(cluster, ns_, "led", {{"image", "ghcr.io/acme/bot:1"}});
  json sandbox = WaitFor(cluster, {"-n", ns_, "get", "bsb", "led", "-o", "json"},
                         [](const json& s) { return ConditionStatus(s, "Ready") == "True"; });
  ASSERT_EQ(ConditionStatus(sandbox, "Ready"), "True") << sandbox.dump(1);

  auto not_lease = [](const std::vector<std::string>& writes) {
    std::vector<std::string> out;
    for (const std::string& write : writes) {
      if (write.find(" leases/") == std::string::npos) {
        out.push_back(write);
      }
    }
    return out;
  };
  std::vector<std::string> by_first = not_lease(WritesBy(cluster, "botsec-replica-a-" + pid, from));
  std::vector<std::string> by_second =
      not_lease(WritesBy(cluster, "botsec-replica-b-" + pid, from));
  EXPECT_FALSE(by_first.empty()) << "the leader wrote nothing";
  EXPECT_TRUE(by_second.empty()) << "the follower wrote " << by_second.front();

  first->Signal(SIGKILL);
  first->Wait();
  std::streamoff after_kill = AuditLogSize(cluster);
  auto deleted =
      cluster.Kubectl({"-n", SandboxNamespace("led"), "delete", "networkpolicy", "default-deny"});
  ASSERT_TRUE(deleted && deleted->ok());
  // Lease 15 s + a retry period, then the repair.
  EXPECT_TRUE(Eventually(
      [&] {
        return cluster
            .KubectlJson({"-n", SandboxNamespace("led"), "get", "networkpolicy", "default-deny",
                          "-o", "json"})
            .has_value();
      },
      seconds(30)))
      << "no one repaired the sandbox after the leader died";
  std::vector<std::string> repair =
      not_lease(WritesBy(cluster, "botsec-replica-b-" + pid, after_kill));
  EXPECT_NE(std::ranges::find(repair, "patch networkpolicies/default-deny"), repair.end())
      << "the repair was not the new leader's";
  operator_ = std::move(second);  // TearDown finishes the sandbox with it, then stops it
}

}  // namespace
}  // namespace botsec::testing
