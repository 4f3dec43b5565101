// The BotSandbox CRD as the real kube-apiserver serves it: installed from crds/, it defaults what
// is left out, refuses every bad spec naming the field (schema and CEL rules), prints its columns
// and keeps status behind its subresource.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "botsec/api/bot_sandbox.h"
#include "support/cluster.h"

namespace botsec::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class BotSandboxCrdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Cluster* cluster = ClusterEnvironment::cluster();
    if (cluster == nullptr) {
      return;
    }
    auto installed = cluster->InstallCrds();
    ASSERT_TRUE(installed) << installed.error().message;
    auto ns = cluster->CreateTestNamespace("it-crd");
    ASSERT_TRUE(ns) << ns.error().message;
    namespace_ = *ns;
  }
  static void TearDownTestSuite() {
    if (const Cluster* cluster = ClusterEnvironment::cluster();
        cluster != nullptr && !namespace_.empty()) {
      cluster->DeleteNamespace(namespace_);
    }
  }

  static json Sandbox(const std::string& name, const json& spec) {
    return {{"apiVersion", "botsec.io/v1alpha1"},
            {"kind", "BotSandbox"},
            {"metadata", {{"name", name}, {"namespace", namespace_}}},
            {"spec", spec}};
  }

  // Creates with dryRun=All: the API server validates and defaults, and stores nothing.
  static core::Result<CommandOutput> DryRunCreate(const Cluster& cluster, const json& object) {
    return cluster.Kubectl({"create", "--dry-run=server", "-o", "json", "-f", "-"}, object.dump());
  }

  static std::string namespace_;
};

std::string BotSandboxCrdTest::namespace_;

TEST_F(BotSandboxCrdTest, DefaultsWhatIsLeftOut) {
  BOTSEC_REQUIRE_CLUSTER();
  auto created = DryRunCreate(cluster, Sandbox("minimal", {{"image", "ghcr.io/acme/bot:1"}}));
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  json spec = json::parse(created->out).at("spec");
  EXPECT_EQ(spec.value("restartPolicy", ""), "Always");
  EXPECT_EQ(spec.value("suspend", true), false);
  EXPECT_EQ(spec.at("network").value("allowDNS", false), true);
  const json& isolation = spec.at("isolation");
  EXPECT_EQ(isolation.value("runAsUser", 0), 65532);
  EXPECT_EQ(isolation.value("runAsGroup", 0), 65532);
  EXPECT_EQ(isolation.value("fsGroup", 0), 65532);
  EXPECT_EQ(isolation.value("hostUsers", false), true);
  EXPECT_EQ(isolation.value("tmpSize", ""), "64Mi");
  EXPECT_EQ(isolation.at("seccompProfile"), (json{{"type", "RuntimeDefault"}}));
  EXPECT_EQ(isolation.at("appArmorProfile"), (json{{"type", "RuntimeDefault"}}));
  EXPECT_FALSE(spec.contains("lifetime"));

  auto with_ttl = DryRunCreate(cluster, Sandbox("ttl", {{"image", "ghcr.io/acme/bot:1"},
                                                        {"lifetime", {{"ttl", "1h30m"}}},
                                                        {"ports", {{{"containerPort", 8080}}}}}));
  ASSERT_TRUE(with_ttl && with_ttl->ok()) << (with_ttl ? with_ttl->err : "");
  json defaulted = json::parse(with_ttl->out).at("spec");
  EXPECT_EQ(defaulted.at("lifetime").value("onExpiry", ""), "Delete");
  EXPECT_EQ(defaulted.at("ports").at(0).value("protocol", ""), "TCP");
}

TEST_F(BotSandboxCrdTest, AcceptsAFullSpec) {
  BOTSEC_REQUIRE_CLUSTER();
  json spec = {
      {"image", "ghcr.io/acme/bot@sha256:" + std::string(64, 'a')},
      {"imagePullSecrets", {{{"name", "pull"}}}},
      {"command", {"/bot"}},
      {"args", {"--serve"}},
      {"workingDir", "/work"},
      {"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
      {"env",
       {{{"name", "MODE"}, {"value", "chat"}},
        {{"name", "TOKEN"}, {"valueFrom", {{"secretKeyRef", {{"name", "api"}, {"key", "t"}}}}}}}},
      {"restartPolicy", "OnFailure"},
      {"resources",
       {{"requests", {{"cpu", "250m"}, {"memory", "128Mi"}}},
        {"limits", {{"cpu", 1}, {"memory", "512Mi"}, {"ephemeralStorage", "1Gi"}}}}},
      {"quota", {{"pods", 2}, {"cpu", "2"}, {"memory", "1Gi"}, {"services", 1}}},
      {"network",
       {{"egress",
         {{"cidrs",
           {{{"cidr", "0.0.0.0/0"},
             {"except", {"10.0.0.0/8"}},
             {"ports", {{{"port", 443}}, {{"port", 8000}, {"endPort", 8100}}}}},
            {{"cidr", "2001:db8::/32"}}}}}},
        {"allowDNS", false},
        {"ingress", {{{"fromSandboxes", {"frontend"}}, {"ports", {{{"port", 8080}}}}}}},
        {"bandwidth", {{"egress", "10M"}, {"ingress", "20M"}}}}},
      {"isolation",
       {{"runtimeClassName", "gvisor"},
        {"seccompProfile", {{"type", "Localhost"}, {"localhostProfile", "profiles/bot.json"}}},
        {"runAsUser", 1000},
        {"hostUsers", false},
        {"tmpSize", "256Mi"}}},
      {"secrets", {{{"name", "api"}}}},
      {"lifetime", {{"ttl", "2h"}, {"onExpiry", "Retain"}}},
      {"suspend", true}};
  auto created = DryRunCreate(cluster, Sandbox("full", spec));
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  json stored = json::parse(created->out).at("spec");
  const json& cidrs = stored.at("network").at("egress").at("cidrs");
  EXPECT_EQ(cidrs.at(0).at("ports").at(1),
            (json{{"port", 8000}, {"endPort", 8100}, {"protocol", "TCP"}}));
  EXPECT_EQ(cidrs.at(1), (json{{"cidr", "2001:db8::/32"}}));
  EXPECT_EQ(stored.at("network").value("allowDNS", true), false);
  EXPECT_EQ(stored.at("isolation").value("runAsUser", 0), 1000);
  EXPECT_EQ(stored.at("isolation").value("runAsGroup", 0), 65532);
  EXPECT_EQ(stored.at("lifetime").value("onExpiry", ""), "Retain");
  EXPECT_EQ(stored.at("resources").at("limits").at("cpu"), 1);
  // What the API server stored, libs/api reads.
  auto parsed = api::ParseBotSandbox(json::parse(created->out));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->spec.lifetime->ttl, std::chrono::hours(2));
}

// Each bad spec is refused, and the refusal names the field and says what is wrong.
TEST_F(BotSandboxCrdTest, RefusesBadSpecsNamingTheField) {
  BOTSEC_REQUIRE_CLUSTER();
  struct Case {
    std::string name;
    json spec;
    std::vector<std::string> expected;  // each must appear in kubectl's error
  };
  const json image = "ghcr.io/acme/bot:1";
  std::vector<Case> cases = {
      {"no-image", json::object(), {"spec.image: Required value"}},
      {"image-space", {{"image", "bot 1"}}, {"spec.image: Invalid value", "whitespace"}},
      {"ttl-words",
       {{"image", image}, {"lifetime", {{"ttl", "2 days"}}}},
       {"spec.lifetime.ttl: Invalid value", "must be a positive duration such as 2h"}},
      {"ttl-zero",
       {{"image", image}, {"lifetime", {{"ttl", "0s"}}}},
       {"spec.lifetime.ttl: Invalid value"}},
      {"expiry",
       {{"image", image}, {"lifetime", {{"ttl", "1h"}, {"onExpiry", "Later"}}}},
       {"spec.lifetime.onExpiry: Unsupported value: \"Later\""}},
      {"root",
       {{"image", image}, {"isolation", {{"runAsUser", 0}}}},
       {"spec.isolation.runAsUser: Invalid value: 0"}},
      {"request-over-limit",
       {{"image", image},
        {"resources", {{"requests", {{"cpu", "2"}}}, {"limits", {{"cpu", "1"}}}}}},
       {"spec.resources.requests.cpu: Invalid value", "less than or equal to the cpu limit"}},
      {"quantity",
       {{"image", image}, {"resources", {{"limits", {{"memory", "lots"}}}}}},
       {"spec.resources.limits.memory: Invalid value", "must be a positive quantity"}},
      {"negative-quantity",
       {{"image", image}, {"quota", {{"cpu", "-1"}}}},
       {"spec.quota.cpu: Invalid value"}},
      {"host-bits",
       {{"image", image}, {"network", {{"egress", {{"cidrs", {{{"cidr", "10.0.0.1/8"}}}}}}}}},
       {"spec.network.egress.cidrs[0].cidr: Invalid value", "no host bits set"}},
      {"not-cidr",
       {{"image", image}, {"network", {{"egress", {{"cidrs", {{{"cidr", "example.com"}}}}}}}}},
       {"spec.network.egress.cidrs[0].cidr: Invalid value", "must be a CIDR"}},
      {"except-outside",
       {{"image", image},
        {"network",
         {{"egress", {{"cidrs", {{{"cidr", "10.0.0.0/8"}, {"except", {"192.168.0.0/16"}}}}}}}}}},
       {"spec.network.egress.cidrs[0].except: Invalid value", "must lie inside cidr"}},
      {"end-port",
       {{"image", image},
        {"network",
         {{"egress",
           {{"cidrs",
             {{{"cidr", "10.0.0.0/8"}, {"ports", {{{"port", 443}, {"endPort", 80}}}}}}}}}}}},
       {"spec.network.egress.cidrs[0].ports[0].endPort: Invalid value"}},
      {"ingress-from-nobody",
       {{"image", image}, {"network", {{"ingress", {{{"ports", {{{"port", 80}}}}}}}}}},
       {"spec.network.ingress[0]: Invalid value", "fromSandboxes"}},
      {"ingress-bad-name",
       {{"image", image}, {"network", {{"ingress", {{{"fromNamespaces", {"Not_A_Label"}}}}}}}},
       {"spec.network.ingress[0].fromNamespaces[0]: Invalid value", "DNS label"}},
      {"bandwidth",
       {{"image", image}, {"network", {{"bandwidth", {{"egress", "fast"}}}}}},
       {"spec.network.bandwidth.egress: Invalid value"}},
      {"localhost-without-profile",
       {{"image", image}, {"isolation", {{"seccompProfile", {{"type", "Localhost"}}}}}},
       {"spec.isolation.seccompProfile: Invalid value", "localhostProfile is required"}},
      {"unconfined",
       {{"image", image}, {"isolation", {{"seccompProfile", {{"type", "Unconfined"}}}}}},
       {"spec.isolation.seccompProfile.type: Unsupported value: \"Unconfined\""}},
      {"env-both",
       {{"image", image},
        {"env",
         {{{"name", "A"},
           {"value", "x"},
           {"valueFrom", {{"configMapKeyRef", {{"name", "c"}, {"key", "k"}}}}}}}}},
       {"spec.env[0]: Invalid value", "mutually exclusive"}},
      {"env-no-source",
       {{"image", image}, {"env", {{{"name", "A"}, {"valueFrom", json::object()}}}}},
       {"spec.env[0].valueFrom: Invalid value", "exactly one of"}},
      {"port-name",
       {{"image", image}, {"ports", {{{"name", "HTTP"}, {"containerPort", 80}}}}},
       {"spec.ports[0].name: Invalid value", "IANA service name"}},
      {"port-range",
       {{"image", image}, {"ports", {{{"containerPort", 70000}}}}},
       {"spec.ports[0].containerPort: Invalid value: 70000"}},
      {"restart",
       {{"image", image}, {"restartPolicy", "Sometimes"}},
       {"spec.restartPolicy: Unsupported value: \"Sometimes\""}},
      {"runtime-class",
       {{"image", image}, {"isolation", {{"runtimeClassName", "G Visor"}}}},
       {"spec.isolation.runtimeClassName: Invalid value", "DNS subdomain"}},
      {"tmp-too-big",
       {{"image", image}, {"isolation", {{"tmpSize", "1Ti"}}}},
       {"spec.isolation.tmpSize: Invalid value", "at most 64Gi"}},
      {"duplicate-secret",
       {{"image", image}, {"secrets", {{{"name", "a"}}, {{"name", "a"}}}}},
       {"spec.secrets[1]: Duplicate value"}},
  };
  for (const Case& c : cases) {
    auto created = DryRunCreate(cluster, Sandbox(c.name, c.spec));
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_FALSE(created->ok()) << c.name << " was accepted: " << created->out;
    for (const std::string& expected : c.expected) {
      EXPECT_NE(created->err.find(expected), std::string::npos)
          << c.name << ": expected \"" << expected << "\" in: " << created->err;
    }
    // libs/api refuses it too, at the same field or one inside it.
    auto parsed = api::ParseBotSandbox(Sandbox(c.name, c.spec));
    ASSERT_FALSE(parsed) << c.name << " passed libs/api";
    std::string field = c.expected[0].substr(0, c.expected[0].find(':'));
    ASSERT_FALSE(parsed.error().causes.empty()) << c.name;
    EXPECT_EQ(parsed.error().causes[0].field.rfind(field, 0), 0U)
        << c.name << ": libs/api says " << parsed.error().message << "; the API server " << field;
  }
}

TEST_F(BotSandboxCrdTest, PrintsItsColumnsUnderTheShortName) {
  BOTSEC_REQUIRE_CLUSTER();
  json sandbox = Sandbox("columns", {{"image", "ghcr.io/acme/bot:1"},
                                     {"isolation", {{"runtimeClassName", "gvisor"}}}});
  auto created = cluster.Kubectl({"create", "-f", "-"}, sandbox.dump());
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  auto listed = cluster.Kubectl({"-n", namespace_, "get", "bsb", "columns"});
  ASSERT_TRUE(listed && listed->ok()) << (listed ? listed->err : listed.error().message);
  std::string header = listed->out.substr(0, listed->out.find('\n'));
  EXPECT_EQ(header.find("NAME"), 0U) << listed->out;
  std::size_t at = 0;
  for (const char* column : {"PHASE", "NAMESPACE", "RUNTIME", "EXPIRES", "AGE"}) {
    std::size_t found = header.find(column, at);
    EXPECT_NE(found, std::string::npos) << column << " missing or out of order: " << header;
    at = found == std::string::npos ? at : found;
  }
  EXPECT_NE(listed->out.find("gvisor"), std::string::npos) << listed->out;

  auto in_category = cluster.Kubectl({"-n", namespace_, "get", "botsec", "-o", "name"});
  ASSERT_TRUE(in_category && in_category->ok()) << (in_category ? in_category->err : "");
  EXPECT_NE(in_category->out.find("botsandbox.botsec.io/columns"), std::string::npos)
      << in_category->out;
}

// Status is written through /status only: a status in the main resource is dropped, and a spec in
// a status write is ignored. The operator depends on both.
TEST_F(BotSandboxCrdTest, StatusLivesBehindItsSubresource) {
  BOTSEC_REQUIRE_CLUSTER();
  json sandbox = Sandbox("status", {{"image", "ghcr.io/acme/bot:1"}});
  sandbox["status"] = {{"phase", "Running"}};
  auto created = cluster.Kubectl({"create", "-o", "json", "-f", "-"}, sandbox.dump());
  ASSERT_TRUE(created && created->ok()) << (created ? created->err : created.error().message);
  EXPECT_FALSE(json::parse(created->out).contains("status")) << created->out;

  json patch = {{"status",
                 {{"phase", "Running"},
                  {"observedGeneration", 1},
                  {"conditions",
                   {{{"type", "Ready"},
                     {"status", "True"},
                     {"lastTransitionTime", "2026-12-04T10:00:00Z"},
                     {"reason", "Running"},
                     {"message", "the bot is running"}}}}}},
                {"spec", {{"image", "ghcr.io/acme/other:1"}}}};
  auto patched =
      cluster.Kubectl({"-n", namespace_, "patch", "bsb", "status", "--subresource=status",
                       "--type=merge", "-o", "json", "-p", patch.dump()});
  ASSERT_TRUE(patched && patched->ok()) << (patched ? patched->err : patched.error().message);
  json after = json::parse(patched->out);
  EXPECT_EQ(after.at("status").value("phase", ""), "Running");
  EXPECT_EQ(after.at("spec").value("image", ""), "ghcr.io/acme/bot:1");

  json bad_phase = {{"status", {{"phase", "Sleeping"}}}};
  auto refused = cluster.Kubectl({"-n", namespace_, "patch", "bsb", "status",
                                  "--subresource=status", "--type=merge", "-p", bad_phase.dump()});
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->ok());
  EXPECT_NE(refused->err.find("status.phase: Unsupported value: \"Sleeping\""), std::string::npos)
      << refused->err;
}

}  // namespace
}  // namespace botsec::testing
