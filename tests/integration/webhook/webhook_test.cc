// botsec-webhook against the real control plane: registered by URL (https://127.0.0.1) with its
// caBundle, it is called by kube-apiserver for pods, subresources, workloads, BotSandboxes,
// fences and sandbox namespaces, and refuses what lacks isolation with one line per violation.
//
// The configuration here is the production one (docs/webhook.md) plus one namespace label of this
// test's own in every selector, so that it judges only this test's namespaces while other tests
// share the control plane.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "botsec/policy/manifest.h"
#include "support/cluster.h"
#include "support/command.h"

namespace botsec::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string Base64File(const std::string& path) {
  auto encoded = RunCommand({"base64", "-w0", path});
  return encoded && encoded->ok() ? encoded->out : "";
}

// A bot pod that passes the default bot policy.
json GoodPod(const std::string& name) {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")" +
                     name + R"("},
    "spec": {
      "automountServiceAccountToken": false,
      "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                          "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [{
        "name": "bot", "image": "ghcr.io/acme/bot:1",
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"},
                      "requests": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}}}]}})");
}

json BadPod(const std::string& name) {
  json pod = GoodPod(name);
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true;
  return pod;
}

class WebhookTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr) {
      return;
    }
    id_ = std::to_string(getpid());
    operator_user_ = "botsec-operator-webhook-it-" + id_;
    dir_ = cluster->dir() + "/webhook-it-" + id_;
    std::filesystem::create_directories(dir_);
    // One CA; two serving certificates for 127.0.0.1 (the second for the rotation).
    auto run = [](const std::vector<std::string>& argv) {
      auto done = RunCommand(argv);
      ASSERT_TRUE(done && done->ok()) << (done ? done->err : done.error().message);
    };
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=botsec-webhook-it-ca", "-keyout", dir_ + "/ca.key",
         "-out", dir_ + "/ca.crt"});
    for (const char* name : {"a", "b"}) {
      std::string stem = dir_ + "/" + name;
      run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-subj", std::string("/CN=botsec-webhook-") + name, "-keyout", stem + ".key", "-out",
           stem + ".csr"});
      std::ofstream(stem + ".ext") << "subjectAltName=IP:127.0.0.1\n";
      run({"openssl", "x509", "-req", "-in", stem + ".csr", "-CA", dir_ + "/ca.crt", "-CAkey",
           dir_ + "/ca.key", "-CAcreateserial", "-days", "1", "-extfile", stem + ".ext", "-out",
           stem + ".crt"});
    }
    std::filesystem::copy_file(dir_ + "/a.crt", dir_ + "/tls.crt");
    std::filesystem::copy_file(dir_ + "/a.key", dir_ + "/tls.key");
    std::ofstream(dir_ + "/policy.yaml") << "apiVersion: botsec.io/v1alpha1\nkind: Policy\n"
                                            "profile: bot\nchecks:\n  resources:\n"
                                            "    maxLimits: {memory: 1Gi}\n";
    auto identity = cluster->UserKubeconfig("botsec-webhook-it-" + id_, {"system:masters"});
    ASSERT_TRUE(identity) << identity.error().message;
    webhook_kubeconfig_ = *identity;
    StartWebhook(*cluster, "127.0.0.1:0");
    ASSERT_FALSE(address_.empty());
    auto installed = cluster->InstallCrds();
    ASSERT_TRUE(installed) << installed.error().message;
    auto applied = cluster->Kubectl({"apply", "-f", "-"}, Configuration().dump());
    ASSERT_TRUE(applied && applied->ok()) << (applied ? applied->err : "");
  }

  static void TearDownTestSuite() {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr) {
      return;
    }
    (void)cluster->Kubectl(
        {"delete", "validatingwebhookconfiguration", "botsec-it-" + id_, "--ignore-not-found"});
    if (webhook_) {
      webhook_->Signal(SIGTERM);
      webhook_->Wait();
      webhook_.reset();
    }
  }

  // Starts botsec-webhook on `bind` and waits until it says where it serves.
  static void StartWebhook(const Cluster& cluster, const std::string& bind) {
    webhook_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{
            BOTSEC_WEBHOOK_PATH, "--kubeconfig=" + webhook_kubeconfig_, "--bind-address=" + bind,
            "--tls-cert-file=" + dir_ + "/tls.crt", "--tls-private-key-file=" + dir_ + "/tls.key",
            "--policy=" + dir_ + "/policy.yaml", "--operator-username=" + operator_user_},
        cluster.dir() + "/logs/webhook-it-" + id_ + ".log");
    std::string marker = "address=";
    Eventually(
        [&] {
          std::string log = webhook_->Errors();
          std::size_t at = log.find(marker);
          if (at == std::string::npos) {
            return false;
          }
          at += marker.size();
          address_ = log.substr(at, log.find(' ', at) - at);
          return true;
        },
        seconds(10));
  }

  // The production configuration (webhook/config/), scoped to this test's namespaces.
  static json Configuration() {
    std::string text = ReadFile(std::string(BOTSEC_SOURCE_DIR) +
                                "/webhook/config/validating-webhook-configuration.yaml");
    for (auto [placeholder, value] :
         {std::pair<std::string, std::string>{"BOTSEC_NAME", "botsec-it-" + id_},
          {"BOTSEC_URL", "https://" + address_ + "/validate"},
          {"BOTSEC_CA_BUNDLE", Base64File(dir_ + "/ca.crt")}}) {
      for (std::size_t at = text.find(placeholder); at != std::string::npos;
           at = text.find(placeholder, at)) {
        text.replace(at, placeholder.size(), value);
      }
    }
    auto manifests = policy::ReadManifests(text);
    EXPECT_TRUE(manifests && manifests->size() == 1);
    json configuration = manifests->front().object;
    for (json& webhook : configuration["webhooks"]) {
      webhook["namespaceSelector"]["matchExpressions"].push_back(
          {{"key", "botsec.io/webhook-test"}, {"operator", "In"}, {"values", {id_}}});
    }
    return configuration;
  }

  // A namespace of this test, judged by the webhook: labelled (as the operator, the only one
  // allowed to) for enforcement, and as a sandbox when `sandbox`.
  static std::string Namespace(const Cluster& cluster, bool sandbox = false) {
    auto ns = cluster.CreateTestNamespace("it-wh");
    EXPECT_TRUE(ns) << ns.error().message;
    std::vector<std::string> label = {"label",
                                      "namespace",
                                      *ns,
                                      "--as=" + operator_user_,
                                      "--as-group=system:masters",
                                      "botsec.io/enforce=true",
                                      "botsec.io/webhook-test=" + id_};
    if (sandbox) {
      label.emplace_back("botsec.io/sandbox=it");
    }
    auto labelled = cluster.Kubectl(label);
    EXPECT_TRUE(labelled && labelled->ok()) << (labelled ? labelled->err : "");
    return *ns;
  }

  static CommandOutput Create(const Cluster& cluster, const std::string& ns, const json& object,
                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"-n", ns, "create", "-f", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto created = cluster.Kubectl(args, object.dump());
    return created ? *created : CommandOutput{};
  }

  static std::string id_;
  static std::string dir_;
  static std::string operator_user_;
  static std::string webhook_kubeconfig_;
  static std::string address_;
  static std::unique_ptr<BackgroundProcess> webhook_;
};

std::string WebhookTest::id_;
std::string WebhookTest::dir_;
std::string WebhookTest::operator_user_;
std::string WebhookTest::webhook_kubeconfig_;
std::string WebhookTest::address_;
std::unique_ptr<BackgroundProcess> WebhookTest::webhook_;

TEST_F(WebhookTest, RefusesABadPodWithOneLinePerViolationAndAdmitsAGoodOne) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  CommandOutput bad = Create(cluster, ns, BadPod("bad"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("admission webhook \"pods.webhook.botsec.io\" denied the request: "
                         "Pod \"bad\" violates BotSec policy \"bot\" (2 violations):\n"
                         "spec.hostNetwork: Forbidden: must not be true\n"
                         "spec.containers[0].securityContext.allowPrivilegeEscalation: "
                         "Forbidden: must be false"),
            std::string::npos)
      << bad.err;
  CommandOutput dry = Create(cluster, ns, BadPod("bad"), {"--dry-run=server"});
  EXPECT_NE(dry.err.find("Pod \"bad\" violates BotSec policy"), std::string::npos)
      << "a dry run gets the same verdict: " << dry.err;
  CommandOutput good = Create(cluster, ns, GoodPod("good"));
  EXPECT_TRUE(good.ok()) << good.err;
  std::string audit = ReadFile(webhook_->output());
  EXPECT_NE(audit.find("\"verdict\":\"denied\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"dryRun\":true"), std::string::npos) << audit;
}

TEST_F(WebhookTest, RefusesAnEphemeralContainerAddedTheWayKubectlDebugDoes) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  ASSERT_TRUE(Create(cluster, ns, GoodPod("target")).ok());
  auto debugged = cluster.Kubectl({"-n", ns, "debug", "target", "--image=busybox:1.37",
                                   "--container=debugger", "--profile=sysadmin"});
  ASSERT_TRUE(debugged);
  EXPECT_NE(debugged->exit_code, 0);
  EXPECT_NE(debugged->err.find("spec.ephemeralContainers[0].securityContext.privileged: "
                               "Forbidden: must not be true"),
            std::string::npos)
      << debugged->err;
}

TEST_F(WebhookTest, RefusesAResizeBeyondThePolicyMaxima) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  // Unscheduled: the API server refuses to resize a pod on a node that does not declare in-place
  // resize, and KWOK's simulated nodes do not.
  json pod = GoodPod("sized");
  pod["spec"]["nodeSelector"] = {{"botsec.io/nowhere", "true"}};
  ASSERT_TRUE(Create(cluster, ns, pod).ok());
  auto within = cluster.Kubectl(
      {"-n", ns, "patch", "pod", "sized", "--subresource=resize", "-p",
       std::string(R"({"spec":{"containers":[{"name":"bot","resources":{"limits":)") +
           R"({"memory":"1Gi"},"requests":{"memory":"1Gi"}}}]}})"});
  ASSERT_TRUE(within);
  EXPECT_TRUE(within->ok()) << "a resize within the maxima: " << within->err;
  auto resized = cluster.Kubectl(
      {"-n", ns, "patch", "pod", "sized", "--subresource=resize", "-p",
       std::string(R"({"spec":{"containers":[{"name":"bot","resources":{"limits":)") +
           R"({"memory":"2Gi"},"requests":{"memory":"2Gi"}}}]}})"});
  ASSERT_TRUE(resized);
  EXPECT_NE(resized->exit_code, 0);
  EXPECT_NE(resized->err.find("spec.containers[0].resources.limits.memory"), std::string::npos)
      << resized->err;
}

TEST_F(WebhookTest, RefusesADeploymentWithABadTemplateAtOnce) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", BadPod("x")["spec"]}}}}}};
  CommandOutput created = Create(cluster, ns, deployment);
  EXPECT_NE(created.exit_code, 0);
  EXPECT_NE(created.err.find("admission webhook \"workloads.webhook.botsec.io\" denied the "
                             "request: Deployment \"web\" violates"),
            std::string::npos)
      << created.err;
  EXPECT_NE(created.err.find("spec.template.spec.hostNetwork: Forbidden"), std::string::npos);
}

TEST_F(WebhookTest, RefusesABotSandboxNamingASecretItsWriterMayNotRead) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  auto secret = cluster.Kubectl(
      {"-n", ns, "create", "secret", "generic", "openai", "--from-literal=key=sk-test"});
  ASSERT_TRUE(secret && secret->ok());
  // bob may write BotSandboxes in the namespace, not read its Secrets.
  std::string bob = "bob-" + id_;
  auto role = cluster.Kubectl({"-n", ns, "create", "role", "sandbox-writer",
                               "--verb=create,get,update", "--resource=botsandboxes.botsec.io"});
  auto binding = cluster.Kubectl(
      {"-n", ns, "create", "rolebinding", "bob", "--role=sandbox-writer", "--user=" + bob});
  ASSERT_TRUE(role && role->ok() && binding && binding->ok()) << (role ? role->err : "");
  json sandbox = {{"apiVersion", "botsec.io/v1alpha1"},
                  {"kind", "BotSandbox"},
                  {"metadata", {{"name", "chat"}}},
                  {"spec", {{"image", "ghcr.io/acme/bot:1"}, {"secrets", {{{"name", "openai"}}}}}}};
  CommandOutput by_bob = Create(cluster, ns, sandbox, {"--as=" + bob, "--dry-run=server"});
  EXPECT_NE(by_bob.exit_code, 0);
  EXPECT_NE(by_bob.err.find("spec.secrets[0].name: Forbidden: " + bob +
                            " may not get Secret \"openai\" in namespace " + ns),
            std::string::npos)
      << by_bob.err;
  CommandOutput by_admin = Create(cluster, ns, sandbox, {"--dry-run=server"});
  EXPECT_TRUE(by_admin.ok()) << "the admin may read the Secret: " << by_admin.err;
}

TEST_F(WebhookTest, OnlyTheOperatorChangesASandboxsFences) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster, /*sandbox=*/true);
  json allow_all = {{"apiVersion", "networking.k8s.io/v1"},
                    {"kind", "NetworkPolicy"},
                    {"metadata", {{"name", "allow-all"}}},
                    {"spec", {{"podSelector", json::object()}, {"egress", {json::object()}}}}};
  CommandOutput by_admin = Create(cluster, ns, allow_all);
  EXPECT_NE(by_admin.exit_code, 0);
  EXPECT_NE(by_admin.err.find("networkpolicies in sandbox namespace " + ns +
                              " are the sandbox's fences: only " + operator_user_),
            std::string::npos)
      << by_admin.err;
  CommandOutput by_operator =
      Create(cluster, ns, allow_all, {"--as=" + operator_user_, "--as-group=system:masters"});
  EXPECT_TRUE(by_operator.ok()) << by_operator.err;

  auto unlabelled = cluster.Kubectl({"label", "namespace", ns, "botsec.io/enforce-"});
  ASSERT_TRUE(unlabelled);
  EXPECT_NE(unlabelled->exit_code, 0);
  EXPECT_NE(unlabelled->err.find("metadata.labels[botsec.io/enforce]: Forbidden: removed"),
            std::string::npos)
      << unlabelled->err;

  // The namespace still deletes completely: the namespace controller's deletions pass.
  auto deleted = cluster.Kubectl({"delete", "namespace", ns, "--timeout=60s"});
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(deleted->ok()) << deleted->err;
  auto gone = cluster.Kubectl({"get", "namespace", ns});
  EXPECT_TRUE(gone && !gone->ok()) << "namespace " << ns << " still there";
}

TEST_F(WebhookTest, APodStuckOnAFinalizerCanStillLoseIt) {
  BOTSEC_REQUIRE_CLUSTER();
  auto created_ns = cluster.CreateTestNamespace("it-wh");
  ASSERT_TRUE(created_ns);
  std::string ns = *created_ns;
  // Admitted before the namespace was enforced, held by a finalizer.
  json pod = BadPod("held");
  pod["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(Create(cluster, ns, pod).ok());
  auto labelled = cluster.Kubectl({"label", "namespace", ns, "--as=" + operator_user_,
                                   "--as-group=system:masters", "botsec.io/enforce=true",
                                   "botsec.io/webhook-test=" + id_});
  ASSERT_TRUE(labelled && labelled->ok()) << (labelled ? labelled->err : "");
  auto deleting = cluster.Kubectl({"-n", ns, "delete", "pod", "held", "--wait=false"});
  ASSERT_TRUE(deleting && deleting->ok());
  // Any other change to it is judged in full, deletionTimestamp or not ...
  auto relabelled = cluster.Kubectl({"-n", ns, "label", "pod", "held", "x=y"});
  ASSERT_TRUE(relabelled);
  EXPECT_NE(relabelled->exit_code, 0) << "a terminating pod was not re-judged";
  // ... but dropping the finalizer always passes.
  auto freed = cluster.Kubectl({"-n", ns, "patch", "pod", "held", "--type=json", "-p",
                                R"([{"op":"remove","path":"/metadata/finalizers"}])"});
  ASSERT_TRUE(freed);
  EXPECT_TRUE(freed->ok()) << freed->err;
}

TEST_F(WebhookTest, NoRequestFailsWhileTheCertificateRotates) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};
  std::string last_error;
  std::mutex mu;
  constexpr int kClients = 3;
  std::vector<std::thread> load;
  load.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    load.emplace_back([&] {
      while (!stop) {
        CommandOutput out = Create(cluster, ns, GoodPod("load"), {"--dry-run=server"});
        ++sent;
        if (!out.ok()) {
          ++failed;
          std::lock_guard lock(mu);
          last_error = out.err;
        }
      }
    });
  }
  std::this_thread::sleep_for(seconds(2));
  std::filesystem::copy_file(dir_ + "/b.crt", dir_ + "/tls.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir_ + "/b.key", dir_ + "/tls.key",
                             std::filesystem::copy_options::overwrite_existing);
  bool reloaded = Eventually(
      [&] { return webhook_->Errors().find("Loaded serving certificate") != std::string::npos; },
      seconds(10));
  std::this_thread::sleep_for(seconds(2));
  stop = true;
  for (auto& thread : load) {
    thread.join();
  }
  EXPECT_TRUE(reloaded) << webhook_->Errors();
  EXPECT_GE(sent.load(), 6) << "too little load to say anything";
  EXPECT_EQ(failed.load(), 0) << "of " << sent.load() << "; last: " << last_error;
}

// POSTs `body` to the webhook with curl, trusting its CA: the status code, then the body.
std::pair<std::string, std::string> Post(const std::string& address, const std::string& ca,
                                         const std::string& body,
                                         const std::string& content_type = "application/json",
                                         const std::string& path = "/validate",
                                         const std::string& method = "POST") {
  auto posted =
      RunCommand({"curl", "-s", "--cacert", ca, "-X", method, "-H", "Content-Type: " + content_type,
                  "--data-binary", "@-", "-w", "\n%{http_code}", "https://" + address + path},
                 body);
  if (!posted || !posted->ok()) {
    return {"", posted ? posted->err : posted.error().message};
  }
  std::size_t last = posted->out.rfind('\n');
  return {posted->out.substr(last + 1), posted->out.substr(0, last)};
}

// The policy file is re-read when it changes, as a mounted ConfigMap changes (a new file renamed
// into place); a version that does not read is logged and the one in force stays.
TEST_F(WebhookTest, ReloadsItsPolicyFileAndKeepsTheLastGoodOne) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  json writable = GoodPod("writable");
  writable["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = false;
  CommandOutput under_bot = Create(cluster, ns, writable, {"--dry-run=server"});
  ASSERT_FALSE(under_bot.ok()) << "the bot profile wants a read-only root filesystem";
  auto write_policy = [](const std::string& body) {
    std::ofstream(dir_ + "/policy.new") << "apiVersion: botsec.io/v1alpha1\nkind: Policy\n" << body;
    std::filesystem::rename(dir_ + "/policy.new", dir_ + "/policy.yaml");
  };
  write_policy("profile: pss-restricted\n");
  EXPECT_TRUE(Eventually([&] { return Create(cluster, ns, writable, {"--dry-run=server"}).ok(); },
                         std::chrono::seconds(10)))
      << webhook_->Errors();
  EXPECT_NE(webhook_->Errors().find("Policy reloaded path=" + dir_ +
                                    "/policy.yaml profile=pss-restricted"),
            std::string::npos)
      << webhook_->Errors();

  write_policy("profile: lenient\n");
  EXPECT_TRUE(Eventually(
      [&] { return webhook_->Errors().find("Policy not reloaded") != std::string::npos; },
      std::chrono::seconds(10)))
      << webhook_->Errors();
  EXPECT_TRUE(Create(cluster, ns, writable, {"--dry-run=server"}).ok())
      << "pss-restricted stays in force";
  CommandOutput bad = Create(cluster, ns, BadPod("still-bad"), {"--dry-run=server"});
  EXPECT_FALSE(bad.ok());
}

TEST_F(WebhookTest, AnswersBadInputWithAClearErrorAndServesProbesAndMetrics) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ca = dir_ + "/ca.crt";
  EXPECT_EQ(Post(address_, ca, ""),
            std::make_pair(std::string("400"),
                           std::string("bad AdmissionReview: empty body: want an AdmissionReview "
                                       "(admission.k8s.io/v1)\n")));
  EXPECT_EQ(Post(address_, ca, "{", "text/plain").second,
            "Content-Type must be application/json, not \"text/plain\"\n");
  auto v1beta1 =
      Post(address_, ca, R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"})");
  EXPECT_EQ(v1beta1.first, "400");
  EXPECT_EQ(v1beta1.second,
            "bad AdmissionReview: apiVersion: must be admission.k8s.io/v1, not "
            "\"admission.k8s.io/v1beta1\"\n");
  auto huge = Post(address_, ca, std::string((4 << 20), ' '));
  EXPECT_EQ(huge.first, "413") << huge.second;
  EXPECT_EQ(huge.second, "request body is over the limit of 3145728 bytes\n");
  EXPECT_EQ(Post(address_, ca, "", "application/json", "/validate", "GET").first, "405");
  EXPECT_EQ(Post(address_, ca, "", "", "/healthz", "GET"),
            std::make_pair(std::string("200"), std::string("ok")));
  auto metrics = Post(address_, ca, "", "", "/metrics", "GET");
  EXPECT_NE(
      metrics.second.find("botsec_webhook_requests_total{concern=\"invalid\",verdict=\"invalid\"}"),
      std::string::npos)
      << metrics.second;
  EXPECT_NE(metrics.second.find("botsec_webhook_request_duration_seconds_bucket"),
            std::string::npos);
  // Still serving after all that.
  CommandOutput good = Create(cluster, Namespace(cluster), GoodPod("after"), {"--dry-run=server"});
  EXPECT_TRUE(good.ok()) << good.err;
}

// Last: it stops the webhook. Fail closed where it judges, nothing changes elsewhere.
TEST_F(WebhookTest, ZWithTheWebhookDownBotPodsFailAndOtherNamespacesDoNot) {
  BOTSEC_REQUIRE_CLUSTER();
  std::string ns = Namespace(cluster);
  auto plain = cluster.CreateTestNamespace("it-wh-plain");
  ASSERT_TRUE(plain);
  webhook_->Signal(SIGTERM);
  EXPECT_EQ(webhook_->Wait(), 0);
  CommandOutput bot = Create(cluster, ns, GoodPod("while-down"));
  EXPECT_NE(bot.exit_code, 0);
  EXPECT_NE(bot.err.find("failed calling webhook \"pods.webhook.botsec.io\""), std::string::npos)
      << bot.err;
  EXPECT_TRUE(Create(cluster, *plain, BadPod("elsewhere")).ok());
  EXPECT_TRUE(Create(cluster, "kube-system", GoodPod("system-" + id_), {"--dry-run=server"}).ok());
  webhook_.reset();
  cluster.DeleteNamespace(*plain);
}

}  // namespace
}  // namespace botsec::testing
