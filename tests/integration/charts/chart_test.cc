// The Helm chart (charts/botsec) with the real helm built alongside the control plane: it lints
// clean, renders hardened pods, least-privilege RBAC and fail-closed webhook entries under every
// values file in values/, refuses bad values naming the path, and installs into the control plane.
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "botsec/core/base64.h"
#include "botsec/policy/engine.h"
#include "botsec/policy/manifest.h"
#include "support/cluster.h"
#include "support/command.h"

namespace botsec::testing {
namespace {

using nlohmann::json;

// "" (the chart's defaults) and each values file.
std::vector<std::string> ValuesFiles() {
  std::vector<std::string> files = {""};
  for (const auto& entry : std::filesystem::directory_iterator(BOTSEC_CHART_VALUES_DIR)) {
    files.push_back(entry.path().string());
  }
  std::sort(files.begin() + 1, files.end());
  return files;
}

std::string Helm(const Cluster& cluster) { return cluster.dir() + "/bin/helm"; }

// helm with `args`, against the cluster, in namespace `ns`.
std::vector<std::string> HelmIn(const Cluster& cluster, const std::string& ns,
                                const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Helm(cluster), "--kubeconfig", cluster.kubeconfig(),
                                   "--namespace", ns};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// helm template as release "t" in namespace botsec-system; the objects, or why not.
core::Result<std::vector<json>> Render(const Cluster& cluster, const std::string& values_file,
                                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {Helm(cluster),    "template",    "t",
                                   BOTSEC_CHART_DIR, "--namespace", "botsec-system"};
  if (!values_file.empty()) {
    argv.insert(argv.end(), {"--values", values_file});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto rendered = RunCommand(argv);
  if (!rendered) {
    return core::Fail(rendered.error());
  }
  if (!rendered->ok()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, rendered->err);
  }
  auto manifests = policy::ReadManifests(rendered->out);
  if (!manifests) {
    return core::Fail(manifests.error());
  }
  std::vector<json> objects;
  for (auto& manifest : *manifests) {
    objects.push_back(std::move(manifest.object));
  }
  return objects;
}

std::vector<json> OfKind(const std::vector<json>& objects, const std::string& kind) {
  std::vector<json> found;
  std::copy_if(objects.begin(), objects.end(), std::back_inserter(found),
               [&](const json& object) { return object.value("kind", "") == kind; });
  return found;
}

TEST(ChartTest, LintsCleanWithEveryValuesFile) {
  BOTSEC_REQUIRE_CLUSTER();
  for (const std::string& values : ValuesFiles()) {
    std::vector<std::string> argv = {Helm(cluster), "lint", "--strict", BOTSEC_CHART_DIR};
    if (!values.empty()) {
      argv.insert(argv.end(), {"--values", values});
    }
    auto linted = RunCommand(argv);
    ASSERT_TRUE(linted) << linted.error().message;
    EXPECT_TRUE(linted->ok()) << values << ":\n" << linted->out << linted->err;
    EXPECT_NE(linted->out.find("1 chart(s) linted, 0 chart(s) failed"), std::string::npos)
        << linted->out;
  }
}

TEST(ChartTest, EveryPodPassesPodSecurityRestrictedAndIsHardenedFurther) {
  BOTSEC_REQUIRE_CLUSTER();
  for (const std::string& values : ValuesFiles()) {
    auto objects = Render(cluster, values);
    ASSERT_TRUE(objects) << values << ": " << objects.error().message;
    auto deployments = OfKind(*objects, "Deployment");
    ASSERT_EQ(deployments.size(), 2U) << values;
    for (const json& deployment : deployments) {
      std::string where = values + " " + deployment["metadata"]["name"].get<std::string>();
      auto violations = policy::Judge(deployment, policy::Profile::kPssRestricted);
      ASSERT_TRUE(violations) << where << ": " << violations.error().message;
      for (const auto& violation : *violations) {
        ADD_FAILURE() << where << ": " << violation.field << ": " << violation.message;
      }
      EXPECT_GE(deployment["spec"]["replicas"].get<int>(), 2) << where;
      const json& pod = deployment["spec"]["template"]["spec"];
      for (const json& container : pod["containers"]) {
        const json& security = container["securityContext"];
        EXPECT_EQ(security.value("readOnlyRootFilesystem", false), true) << where;
        EXPECT_EQ(security.value("privileged", true), false) << where;
        EXPECT_TRUE(container.contains("livenessProbe") && container.contains("readinessProbe"))
            << where;
        EXPECT_TRUE(container["resources"]["limits"].contains("memory")) << where;
        EXPECT_TRUE(container["resources"]["requests"].contains("cpu")) << where;
      }
    }
  }
}

TEST(ChartTest, RbacGrantsNoWildcardsNoEscalationAndNothingOnRbacOrWebhooks) {
  BOTSEC_REQUIRE_CLUSTER();
  const std::set<std::string> never = {"pods/exec",
                                       "pods/attach",
                                       "pods/portforward",
                                       "serviceaccounts/token",
                                       "roles",
                                       "rolebindings",
                                       "clusterroles",
                                       "clusterrolebindings",
                                       "validatingwebhookconfigurations",
                                       "mutatingwebhookconfigurations",
                                       "validatingadmissionpolicies",
                                       "validatingadmissionpolicybindings",
                                       "certificatesigningrequests",
                                       "nodes",
                                       "nodes/proxy"};
  const std::set<std::string> never_verbs = {"escalate", "bind", "impersonate", "*"};
  auto objects = Render(cluster, "");
  ASSERT_TRUE(objects) << objects.error().message;
  int rules = 0;
  for (const char* kind : {"ClusterRole", "Role"}) {
    for (const json& role : OfKind(*objects, kind)) {
      for (const json& rule : role["rules"]) {
        ++rules;
        std::string name = role["metadata"]["name"];
        for (const char* field : {"apiGroups", "resources", "verbs"}) {
          for (const json& item : rule.value(field, json::array())) {
            EXPECT_NE(item, "*") << name << " " << field << ": " << rule.dump();
          }
        }
        for (const json& resource : rule.value("resources", json::array())) {
          EXPECT_FALSE(never.contains(resource.get<std::string>())) << name << ": " << rule.dump();
        }
        for (const json& verb : rule.value("verbs", json::array())) {
          EXPECT_FALSE(never_verbs.contains(verb.get<std::string>()))
              << name << ": " << rule.dump();
        }
        EXPECT_FALSE(rule.contains("nonResourceURLs")) << name;
      }
    }
  }
  EXPECT_GE(rules, 10);
  // Leader election in the release's namespace only.
  auto roles = OfKind(*objects, "Role");
  ASSERT_EQ(roles.size(), 1U);
  EXPECT_EQ(roles[0]["metadata"]["namespace"], "botsec-system");
  EXPECT_EQ(roles[0]["rules"][0]["resources"], json::array({"leases"}));
}

TEST(ChartTest, WebhookEntriesFailClosedAndNeverJudgeSystemOrReleaseNamespaces) {
  BOTSEC_REQUIRE_CLUSTER();
  auto objects = Render(cluster, "");
  ASSERT_TRUE(objects) << objects.error().message;
  auto configurations = OfKind(*objects, "ValidatingWebhookConfiguration");
  ASSERT_EQ(configurations.size(), 1U);
  std::vector<std::string> names;
  for (const json& entry : configurations[0]["webhooks"]) {
    std::string name = entry["name"];
    names.push_back(name);
    EXPECT_EQ(entry["failurePolicy"], "Fail") << name;
    EXPECT_EQ(entry["sideEffects"], "None") << name;
    EXPECT_EQ(entry["timeoutSeconds"], 3) << name;
    EXPECT_EQ(entry["clientConfig"]["service"]["name"], "t-botsec-webhook") << name;
    EXPECT_EQ(entry["clientConfig"]["service"]["path"], "/validate") << name;
    EXPECT_FALSE(entry["clientConfig"].value("caBundle", "").empty()) << name;
    if (name == "namespaces.webhook.botsec.io") {
      continue;  // selected by the object's own botsec.io/sandbox label
    }
    bool excluded = false;
    for (const json& expression : entry["namespaceSelector"]["matchExpressions"]) {
      if (expression["key"] == "kubernetes.io/metadata.name" && expression["operator"] == "NotIn") {
        auto values = expression["values"].get<std::vector<std::string>>();
        excluded = std::ranges::find(values, "kube-system") != values.end() &&
                   std::ranges::find(values, "botsec-system") != values.end();
      }
    }
    EXPECT_TRUE(excluded) << name << " must exclude kube-system and the release's namespace";
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"pods.webhook.botsec.io", "workloads.webhook.botsec.io",
                                      "botsandboxes.webhook.botsec.io", "fences.webhook.botsec.io",
                                      "namespaces.webhook.botsec.io"}));
  // The CA the configuration trusts signed the Secret's certificate.
  auto secrets = OfKind(*objects, "Secret");
  ASSERT_EQ(secrets.size(), 1U);
  EXPECT_EQ(secrets[0]["data"]["ca.crt"],
            configurations[0]["webhooks"][0]["clientConfig"]["caBundle"]);
}

TEST(ChartTest, ByUrlTheCertificateNamesTheAddressAndExtraSelectorsNarrowEveryEntry) {
  BOTSEC_REQUIRE_CLUSTER();
  auto objects = Render(cluster, std::string(BOTSEC_CHART_VALUES_DIR) + "/url.yaml");
  ASSERT_TRUE(objects) << objects.error().message;
  auto configuration = OfKind(*objects, "ValidatingWebhookConfiguration").at(0);
  for (const json& entry : configuration["webhooks"]) {
    EXPECT_EQ(entry["clientConfig"]["url"], "https://127.0.0.1:16460/validate");
    EXPECT_FALSE(entry["clientConfig"].contains("service"));
    const json& selector = entry["name"] == "namespaces.webhook.botsec.io"
                               ? entry["objectSelector"]
                               : entry["namespaceSelector"];
    EXPECT_NE(selector.dump().find("botsec.io/chart-test"), std::string::npos) << entry.dump();
  }
  auto pem =
      core::Base64Decode(OfKind(*objects, "Secret").at(0)["data"]["tls.crt"].get<std::string>());
  ASSERT_TRUE(pem) << pem.error().message;
  auto text = RunCommand({"openssl", "x509", "-noout", "-ext", "subjectAltName"}, *pem);
  ASSERT_TRUE(text && text->ok()) << (text ? text->err : text.error().message);
  EXPECT_NE(text->out.find("IP Address:127.0.0.1"), std::string::npos) << text->out;
  EXPECT_NE(text->out.find("DNS:t-botsec-webhook.botsec-system.svc"), std::string::npos)
      << text->out;
  auto deployment = OfKind(*objects, "Deployment").at(1);
  auto args = deployment["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_NE(std::ranges::find(args, "--mode=warn"), args.end()) << args.dump();
}

TEST(ChartTest, CertManagerIssuesTheCertificateAndInjectsItsCa) {
  BOTSEC_REQUIRE_CLUSTER();
  auto objects = Render(cluster, std::string(BOTSEC_CHART_VALUES_DIR) + "/cert-manager.yaml");
  ASSERT_TRUE(objects) << objects.error().message;
  EXPECT_TRUE(OfKind(*objects, "Secret").empty()) << "cert-manager writes the Secret";
  auto certificates = OfKind(*objects, "Certificate");
  ASSERT_EQ(certificates.size(), 2U);  // the CA and the serving certificate
  auto configuration = OfKind(*objects, "ValidatingWebhookConfiguration").at(0);
  EXPECT_EQ(configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "botsec-system/t-botsec-webhook");
  EXPECT_FALSE(configuration["webhooks"][0]["clientConfig"].contains("caBundle"));
  EXPECT_EQ(OfKind(*objects, "ServiceMonitor").size(), 1U);
}

TEST(ChartTest, TheCrdIsKeptOnUninstallAndCanBeLeftOut) {
  BOTSEC_REQUIRE_CLUSTER();
  auto with = Render(cluster, "");
  ASSERT_TRUE(with) << with.error().message;
  auto crds = OfKind(*with, "CustomResourceDefinition");
  ASSERT_EQ(crds.size(), 1U);
  EXPECT_EQ(crds[0]["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
  EXPECT_EQ(crds[0]["metadata"]["name"], "botsandboxes.botsec.io");
  auto without = Render(cluster, std::string(BOTSEC_CHART_VALUES_DIR) + "/tuned.yaml");
  ASSERT_TRUE(without) << without.error().message;
  EXPECT_TRUE(OfKind(*without, "CustomResourceDefinition").empty());
}

TEST(ChartTest, BadValuesAreRefusedNamingThePath) {
  BOTSEC_REQUIRE_CLUSTER();
  struct Case {
    std::string set;
    std::string message;
  };
  for (const Case& bad : std::vector<Case>{
           {"webhook.bogus=1", "at '/webhook': additional properties 'bogus' not allowed"},
           {"webhook.replicas=1", "at '/webhook/replicas'"},
           {"webhook.mode=audit", "at '/webhook/mode'"},
           {"webhook.url=http://10.0.0.1:9443", "at '/webhook/url'"},
           {"sandboxes.namespacePrefix=Bots_", "at '/sandboxes/namespacePrefix'"},
           {"sandboxes.defaultLimits.memory=lots", "at '/sandboxes/defaultLimits/memory'"},
       }) {
    auto rendered = Render(cluster, "", {"--set", bad.set});
    ASSERT_FALSE(rendered) << bad.set << " rendered";
    EXPECT_NE(rendered.error().message.find(bad.message), std::string::npos)
        << bad.set << ": " << rendered.error().message;
  }
}

// helm install into the control plane (the webhook registered by URL with a selector no namespace
// matches, so the release judges nothing of the other tests'): every object accepted, the CRD
// updated, both Deployments available on the simulated nodes, the ValidatingAdmissionPolicy
// refusing the operator's identity outside sandbox namespaces; then helm uninstall leaves nothing
// behind but the CRD, kept with the users' BotSandboxes.
TEST(ChartTest, InstallsIntoTheControlPlaneAndUninstallsWithoutATrace) {
  BOTSEC_REQUIRE_CLUSTER();
  ASSERT_TRUE(cluster.InstallCrds());
  auto ns = cluster.CreateTestNamespace("it-chart");
  ASSERT_TRUE(ns) << ns.error().message;
  std::string release = "it-chart-" + std::to_string(getpid());
  std::string fullname = release + "-botsec";
  auto with = [&](const std::vector<std::string>& args) { return HelmIn(cluster, *ns, args); };
  // The CRD the fixture installed is handed to this release, the way helm adopts an object, so
  // that the chart installs (updates) it and its uninstall must keep it.
  const std::string crd = "customresourcedefinition/botsandboxes.botsec.io";
  auto crd_annotated =
      cluster.Kubectl({"annotate", crd, "--overwrite", "meta.helm.sh/release-name=" + release,
                       "meta.helm.sh/release-namespace=" + *ns});
  auto crd_labelled =
      cluster.Kubectl({"label", crd, "--overwrite", "app.kubernetes.io/managed-by=Helm"});
  ASSERT_TRUE(crd_annotated && crd_annotated->ok() && crd_labelled && crd_labelled->ok());
  auto installed =
      RunCommand(with({"install", release, BOTSEC_CHART_DIR, "--values",
                       std::string(BOTSEC_CHART_VALUES_DIR) + "/url.yaml", "--set",
                       "sandboxViewerRole=" + release + "-viewer", "--wait", "--timeout", "180s"}),
                 "", std::chrono::seconds(240));
  ASSERT_TRUE(installed) << installed.error().message;
  ASSERT_TRUE(installed->ok()) << installed->out << installed->err;
  EXPECT_NE(installed->out.find("STATUS: deployed"), std::string::npos) << installed->out;
  EXPECT_NE(installed->out.find("--clusterrole=" + release + "-viewer"), std::string::npos)
      << "NOTES.txt: " << installed->out;

  for (const char* component : {"operator", "webhook"}) {
    auto deployment =
        cluster.KubectlJson({"-n", *ns, "get", "deployment", fullname + "-" + component});
    ASSERT_TRUE(deployment) << deployment.error().message;
    EXPECT_EQ((*deployment)["status"].value("availableReplicas", 0), 2) << component;
  }
  for (const char* kind : {"validatingwebhookconfiguration", "validatingadmissionpolicy",
                           "validatingadmissionpolicybinding"}) {
    auto found = cluster.Kubectl({"get", kind,
                                  kind == std::string("validatingwebhookconfiguration")
                                      ? fullname
                                      : fullname + "-operator-writes"});
    ASSERT_TRUE(found);
    EXPECT_TRUE(found->ok()) << kind << ": " << found->err;
  }

  // RBAC would let the operator's identity create a ServiceAccount anywhere; the admission
  // policy refuses it outside namespaces labelled botsec.io/sandbox.
  std::string operator_user = "system:serviceaccount:" + *ns + ":" + fullname + "-operator";
  auto create_in = [&](const std::string& in) {
    return cluster.Kubectl({"-n", in, "create", "serviceaccount", "probe", "--dry-run=server",
                            "--as=" + operator_user});
  };
  // The API server enforces a policy once its informers have seen the policy and its binding,
  // a moment after they were created (a quick install can come back before that).
  const std::string refusal = "the BotSec operator writes only in sandbox namespaces";
  std::string outside_err;
  EXPECT_TRUE(Eventually(
      [&] {
        auto outside = create_in(*ns);
        outside_err = outside ? outside->err : outside.error().message;
        return outside && !outside->ok() && outside->err.find(refusal) != std::string::npos;
      },
      std::chrono::seconds(15)))
      << outside_err;
  auto sandbox = cluster.CreateTestNamespace("it-chart-sandbox");
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  auto labelled = cluster.Kubectl({"label", "namespace", *sandbox, "botsec.io/sandbox=it"});
  ASSERT_TRUE(labelled && labelled->ok());
  // Likewise the policy reads the namespace's new label from the API server's cache.
  std::string inside_err;
  EXPECT_TRUE(Eventually(
      [&] {
        auto inside = create_in(*sandbox);
        inside_err = inside ? inside->err : inside.error().message;
        return inside && inside->ok();
      },
      std::chrono::seconds(15)))
      << inside_err;
  cluster.DeleteNamespace(*sandbox);

  json kept_sandbox = {{"apiVersion", "botsec.io/v1alpha1"},
                       {"kind", "BotSandbox"},
                       {"metadata", {{"name", "kept"}, {"namespace", *ns}}},
                       {"spec", {{"image", "ghcr.io/acme/bot:1"}}}};
  auto stored = cluster.Kubectl({"create", "-f", "-"}, kept_sandbox.dump());
  ASSERT_TRUE(stored && stored->ok()) << (stored ? stored->err : "");

  auto uninstalled = RunCommand(with({"uninstall", release, "--wait", "--timeout", "120s"}), "",
                                std::chrono::seconds(180));
  ASSERT_TRUE(uninstalled) << uninstalled.error().message;
  EXPECT_TRUE(uninstalled->ok()) << uninstalled->err;
  // helm.sh/resource-policy: keep: the CRD, and with it the users' BotSandboxes, stay.
  auto crd_left = cluster.Kubectl({"get", crd});
  EXPECT_TRUE(crd_left && crd_left->ok()) << "the CRD went with the release";
  auto sandbox_left = cluster.Kubectl({"-n", *ns, "get", "bsb", "kept"});
  EXPECT_TRUE(sandbox_left && sandbox_left->ok()) << "a user's BotSandbox went with the release";
  for (const char* kind : {"clusterroles", "clusterrolebindings", "validatingwebhookconfigurations",
                           "validatingadmissionpolicies", "validatingadmissionpolicybindings"}) {
    auto left =
        cluster.Kubectl({"get", kind, "-l", "app.kubernetes.io/instance=" + release, "-o", "name"});
    ASSERT_TRUE(left && left->ok()) << kind;
    EXPECT_EQ(left->out, "") << kind << " left behind";
  }
  const std::string namespaced =
      "all,secrets,configmaps,serviceaccounts,roles,rolebindings,networkpolicies,"
      "poddisruptionbudgets";
  auto left = cluster.Kubectl(
      {"-n", *ns, "get", namespaced, "-l", "app.kubernetes.io/instance=" + release, "-o", "name"});
  ASSERT_TRUE(left && left->ok()) << (left ? left->err : "");
  EXPECT_EQ(left->out, "") << "left behind in " << *ns;
  cluster.DeleteNamespace(*ns);
}

// A loopback port nothing listens on now.
int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  int port = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if (fd >= 0 && bind(fd, raw, size) == 0 && getsockname(fd, raw, &size) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) {
    close(fd);
  }
  return port;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The chart's RBAC is enough: installed, then botsec-operator and botsec-webhook run here with
// tokens of the chart's own ServiceAccounts (TokenRequest), the webhook on the chart's certificate
// behind the chart's webhook configuration (registered by URL at this machine's loopback). A
// BotSandbox naming an opted-in Secret is admitted (the webhook's SubjectAccessReview), fenced and
// run, a deleted fence restored, one with a TTL deleted when it expires, a bad pod refused, the
// sandbox deleted with its namespace; and `kubectl auth can-i` shows the identities cannot do what
// they need not.
TEST(ChartTest, TheChartsServiceAccountsAreEnoughToRunBotSec) {
  BOTSEC_REQUIRE_CLUSTER();
  ASSERT_TRUE(cluster.InstallCrds());
  std::string id = std::to_string(getpid());
  auto ns = cluster.CreateTestNamespace("it-chart-rbac");
  auto bots = cluster.CreateTestNamespace("it-chart-bots");
  ASSERT_TRUE(ns && bots);
  int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  std::string release = "it-rbac-" + id;
  std::string fullname = release + "-botsec";
  std::string prefix = "rb" + id + "-";
  std::string selector = "botsec.io/chart-rbac-" + id;
  auto with = [&](const std::vector<std::string>& args) { return HelmIn(cluster, *ns, args); };
  auto installed = RunCommand(
      with({"install", release, BOTSEC_CHART_DIR, "--set", "crds.install=false", "--set",
            "sandboxViewerRole=", "--set", "webhook.url=https://127.0.0.1:" + std::to_string(port),
            "--set", "webhook.extraSelectorExpressions[0].key=" + selector, "--set",
            "webhook.extraSelectorExpressions[0].operator=Exists", "--set",
            "sandboxes.namespacePrefix=" + prefix, "--wait", "--timeout", "180s"}),
      "", std::chrono::seconds(240));
  ASSERT_TRUE(installed && installed->ok()) << (installed ? installed->err : "");

  // The certificate the webhook pods mount, and the ServiceAccounts' tokens.
  auto secret = cluster.KubectlJson({"-n", *ns, "get", "secret", fullname + "-webhook-tls"});
  ASSERT_TRUE(secret) << secret.error().message;
  std::string tls = cluster.dir() + "/tmp/chart-rbac-" + id;
  std::filesystem::create_directories(tls);
  for (const char* file : {"tls.crt", "tls.key"}) {
    auto pem = core::Base64Decode((*secret)["data"][file].get<std::string>());
    ASSERT_TRUE(pem);
    WriteFile(tls + "/" + file, *pem);
  }
  std::string operator_sa = fullname + "-operator";
  auto operator_kubeconfig = cluster.ServiceAccountKubeconfig(*ns, operator_sa);
  auto webhook_kubeconfig = cluster.ServiceAccountKubeconfig(*ns, fullname + "-webhook");
  ASSERT_TRUE(operator_kubeconfig && webhook_kubeconfig)
      << (operator_kubeconfig ? webhook_kubeconfig.error().message
                              : operator_kubeconfig.error().message);
  std::string operator_user = "system:serviceaccount:" + *ns + ":" + operator_sa;
  std::string webhook_user = "system:serviceaccount:" + *ns + ":" + fullname + "-webhook";

  BackgroundProcess webhook(
      {BOTSEC_WEBHOOK_PATH, "--kubeconfig=" + *webhook_kubeconfig,
       "--bind-address=127.0.0.1:" + std::to_string(port), "--tls-cert-file=" + tls + "/tls.crt",
       "--tls-private-key-file=" + tls + "/tls.key", "--operator-username=" + operator_user,
       "--namespace-prefix=" + prefix},
      cluster.dir() + "/logs/chart-webhook-" + id + ".log");
  BackgroundProcess botsec_operator(
      {BOTSEC_OPERATOR_PATH, "--kubeconfig=" + *operator_kubeconfig, "--leader-elect",
       "--leader-election-namespace=" + *ns, "--watch-namespace=" + *bots,
       "--namespace-prefix=" + prefix, "--health-probe-bind-address=127.0.0.1:0"},
      cluster.dir() + "/logs/chart-operator-" + id + ".log");
  ASSERT_TRUE(webhook.started() && botsec_operator.started());

  // The bots' namespace is judged by the chart's webhook configuration.
  auto labelled =
      cluster.Kubectl({"label", "namespace", *bots, "botsec.io/enforce=true", selector + "=yes"});
  ASSERT_TRUE(labelled && labelled->ok());
  auto shared = cluster.Kubectl(
      {"-n", *bots, "create", "secret", "generic", "openai", "--from-literal=key=sk-test"});
  auto opted_in =
      cluster.Kubectl({"-n", *bots, "label", "secret", "openai", "botsec.io/sandbox-access=true"});
  ASSERT_TRUE(shared && shared->ok() && opted_in && opted_in->ok());
  json sandbox = {{"apiVersion", "botsec.io/v1alpha1"},
                  {"kind", "BotSandbox"},
                  {"metadata", {{"name", "chat"}, {"namespace", *bots}}},
                  {"spec", {{"image", "ghcr.io/acme/bot:1"}, {"secrets", {{{"name", "openai"}}}}}}};
  // The webhook may take a moment to serve; the API server refuses (fail closed) until it does.
  bool created = Eventually(
      [&] {
        auto out = cluster.Kubectl({"create", "-f", "-"}, sandbox.dump());
        return out && out->ok();
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(created) << webhook.Errors();

  json status;
  bool running = Eventually(
      [&] {
        auto got = cluster.KubectlJson({"-n", *bots, "get", "bsb", "chat"});
        status = got ? *got : json();
        return status.value("/status/phase"_json_pointer, "") == "Running";
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(running) << status.dump(1) << "\n" << botsec_operator.Errors();
  std::string sandbox_ns = status.value("/status/namespace"_json_pointer, "");
  auto mirrored = cluster.Kubectl({"-n", sandbox_ns, "get", "secret", "openai"});
  EXPECT_TRUE(mirrored && mirrored->ok()) << "the Secret is mirrored";

  // Drift: a deleted fence is restored.
  auto policies = cluster.KubectlJson({"-n", sandbox_ns, "get", "networkpolicies"});
  ASSERT_TRUE(policies && !(*policies)["items"].empty());
  std::string fence = (*policies)["items"][0]["metadata"]["name"];
  auto removed = cluster.Kubectl({"-n", sandbox_ns, "delete", "networkpolicy", fence});
  ASSERT_TRUE(removed && removed->ok()) << (removed ? removed->err : "");
  EXPECT_TRUE(Eventually(
      [&] {
        auto back = cluster.Kubectl({"-n", sandbox_ns, "get", "networkpolicy", fence});
        return back && back->ok();
      },
      std::chrono::seconds(10)))
      << botsec_operator.Errors();

  // TTL: a sandbox that expires is deleted, with its namespace (the operator deletes the
  // BotSandbox).
  json brief = {{"apiVersion", "botsec.io/v1alpha1"},
                {"kind", "BotSandbox"},
                {"metadata", {{"name", "brief"}, {"namespace", *bots}}},
                {"spec", {{"image", "ghcr.io/acme/bot:1"}, {"lifetime", {{"ttl", "4s"}}}}}};
  auto brief_created = cluster.Kubectl({"create", "-f", "-"}, brief.dump());
  ASSERT_TRUE(brief_created && brief_created->ok())
      << (brief_created ? brief_created->err : brief_created.error().message);
  EXPECT_TRUE(Eventually(
      [&] {
        auto left = cluster.Kubectl({"-n", *bots, "get", "bsb", "brief"});
        return left && !left->ok() && left->err.find("NotFound") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << "the expired sandbox is still there\n"
      << botsec_operator.Errors();

  // The webhook refuses a bad pod, with its message.
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "rogue"}, {"namespace", *bots}}},
      {"spec",
       {{"containers",
         {{{"name", "bot"}, {"image", "x"}, {"securityContext", {{"privileged", true}}}}}}}}};
  auto rogue = cluster.Kubectl({"create", "--dry-run=server", "-f", "-"}, pod.dump());
  ASSERT_TRUE(rogue);
  EXPECT_FALSE(rogue->ok());
  EXPECT_NE(rogue->err.find("spec.containers[0].securityContext.privileged: Forbidden"),
            std::string::npos)
      << rogue->err;

  // helm upgrade keeps the certificate (the chart looks the Secret up), so admission works
  // throughout: pods sent while it upgrades are all answered.
  std::atomic<bool> upgrading{true};
  std::atomic<int> sent{0};
  std::vector<std::string> failures;
  std::thread load([&] {
    json good = {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata", {{"name", "steady"}, {"namespace", *bots}}},
                 {"spec",
                  {{"automountServiceAccountToken", false},
                   {"securityContext",
                    {{"runAsNonRoot", true},
                     {"runAsUser", 65532},
                     {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
                   {"containers",
                    {{{"name", "bot"},
                      {"image", "x"},
                      {"resources", {{"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}}},
                      {"securityContext",
                       {{"allowPrivilegeEscalation", false},
                        {"readOnlyRootFilesystem", true},
                        {"capabilities", {{"drop", {"ALL"}}}}}}}}}}}};
    while (upgrading) {
      auto out = cluster.Kubectl({"create", "--dry-run=server", "-f", "-"}, good.dump());
      ++sent;
      if (!out || !out->ok()) {
        failures.push_back(out ? out->err : out.error().message);
      }
    }
  });
  auto upgraded = RunCommand(with({"upgrade", release, BOTSEC_CHART_DIR, "--reuse-values", "--set",
                                   "operator.workers=3", "--wait", "--timeout", "180s"}),
                             "", std::chrono::seconds(240));
  upgrading = false;
  load.join();
  ASSERT_TRUE(upgraded && upgraded->ok()) << (upgraded ? upgraded->err : "");
  EXPECT_GT(sent.load(), 0);
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << sent.load()
                                << " pods failed during the upgrade, first: " << failures.front();
  auto kept = cluster.KubectlJson({"-n", *ns, "get", "secret", fullname + "-webhook-tls"});
  ASSERT_TRUE(kept);
  EXPECT_EQ((*kept)["data"], (*secret)["data"]) << "the upgrade replaced the certificate";

  // Deletion takes the namespace with it.
  auto deleted = cluster.Kubectl({"-n", *bots, "delete", "bsb", "chat", "--timeout=90s"});
  EXPECT_TRUE(deleted && deleted->ok()) << (deleted ? deleted->err : "");
  auto gone = cluster.Kubectl({"get", "namespace", sandbox_ns});
  EXPECT_TRUE(gone && !gone->ok()) << "namespace " << sandbox_ns << " still there";

  // Not more than enough.
  struct Denied {
    std::string user;
    std::vector<std::string> ask;
  };
  for (const Denied& denied : std::vector<Denied>{
           {operator_user, {"create", "pods", "--subresource=exec"}},
           {operator_user, {"create", "pods", "--subresource=attach"}},
           {operator_user, {"create", "serviceaccounts", "--subresource=token"}},
           {operator_user, {"create", "clusterroles"}},
           {operator_user, {"create", "rolebindings"}},
           {operator_user, {"update", "validatingwebhookconfigurations"}},
           {operator_user, {"list", "nodes"}},
           {operator_user, {"create", "leases", "-n", "kube-system"}},
           {operator_user, {"update", "botsandboxes"}},
           {webhook_user, {"get", "secrets"}},
           {webhook_user, {"list", "pods"}},
           {webhook_user, {"create", "namespaces"}},
       }) {
    std::vector<std::string> argv = {"auth", "can-i", "--as=" + denied.user};
    argv.insert(argv.end(), denied.ask.begin(), denied.ask.end());
    auto answer = cluster.Kubectl(argv);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->out, "no\n")
        << denied.user << " may " << denied.ask[0] << " " << denied.ask[1];
  }
  auto may = cluster.Kubectl(
      {"auth", "can-i", "--as=" + operator_user, "patch", "botsandboxes/status", "-n", *bots});
  EXPECT_TRUE(may && may->out == "yes\n") << "the check can say yes";

  botsec_operator.Signal(SIGTERM);
  botsec_operator.Wait();
  webhook.Signal(SIGTERM);
  webhook.Wait();
  auto uninstalled = RunCommand(with({"uninstall", release, "--wait", "--timeout", "120s"}), "",
                                std::chrono::seconds(180));
  EXPECT_TRUE(uninstalled && uninstalled->ok());
  cluster.DeleteNamespace(*bots);
  cluster.DeleteNamespace(*ns);
}

// deploy/botsec.yaml is what `make manifests` renders from the chart now (make verify), and the
// real API server accepts every object in it (server-side dry run).
TEST(ChartTest, DeployManifestsAreCurrentAndAccepted) {
  BOTSEC_REQUIRE_CLUSTER();
  auto verified =
      RunCommand({std::string(BOTSEC_SOURCE_DIR) + "/tools/render-manifests.sh", "--check"});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_TRUE(verified->ok()) << verified->err;
  auto ns = cluster.Kubectl({"create", "namespace", "botsec-system"});
  ASSERT_TRUE(ns);  // or it exists already
  auto applied = cluster.Kubectl(
      {"apply", "--dry-run=server", "-f", std::string(BOTSEC_SOURCE_DIR) + "/deploy/botsec.yaml"});
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_TRUE(applied->ok()) << applied->err;
  EXPECT_NE(
      applied->out.find("validatingwebhookconfiguration.admissionregistration.k8s.io/botsec "),
      std::string::npos)
      << applied->out;
  EXPECT_NE(applied->out.find("deployment.apps/botsec-operator "), std::string::npos)
      << applied->out;
}

}  // namespace
}  // namespace botsec::testing
