#include "botsec/api/render.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/engine.h"

namespace botsec::api {
namespace {

BotSandbox Parse(const Json& spec, const std::string& name = "chat") {
  Json object = {
      {"apiVersion", "botsec.io/v1alpha1"},
      {"kind", "BotSandbox"},
      {"metadata",
       {{"name", name}, {"namespace", "team-a"}, {"uid", "uid-1234"}, {"generation", 1}}},
      {"spec", spec}};
  auto sandbox = ParseBotSandbox(object);
  EXPECT_TRUE(sandbox) << sandbox.error().message;
  return sandbox ? *sandbox : BotSandbox{};
}

RenderedSandbox RenderOk(const BotSandbox& sandbox, const SandboxSettings& settings = {},
                         const std::map<std::string, Json>& secrets = {}) {
  auto rendered = Render(sandbox, settings, secrets);
  EXPECT_TRUE(rendered) << rendered.error().message;
  return rendered ? *rendered : RenderedSandbox{};
}

const Json* PolicyNamed(const RenderedSandbox& rendered, const std::string& name) {
  for (const Json& policy : rendered.network_policies) {
    if (policy["metadata"]["name"] == name) {
      return &policy;
    }
  }
  return nullptr;
}

bool IsDnsLabel(const std::string& text) {
  if (text.empty() || text.size() > 63 || text.front() == '-' || text.back() == '-') {
    return false;
  }
  return std::ranges::all_of(
      text, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

TEST(SandboxNamespaceNameTest, IsADeterministicDnsLabelUniquePerSandbox) {
  std::string name = SandboxNamespaceName("bsb-", "team-a", "chat");
  EXPECT_EQ(name.rfind("bsb-team-a-chat-", 0), 0U) << name;
  EXPECT_EQ(name.size(), std::string("bsb-team-a-chat-").size() + 8);
  EXPECT_EQ(name, SandboxNamespaceName("bsb-", "team-a", "chat"));
  // The same joined text from different owners still differs.
  EXPECT_NE(SandboxNamespaceName("bsb-", "a-b", "c"), SandboxNamespaceName("bsb-", "a", "b-c"));
  std::string long_name = SandboxNamespaceName("bsb-", std::string(63, 'n'), std::string(253, 'x'));
  EXPECT_EQ(long_name.size(), 63U);
  EXPECT_TRUE(IsDnsLabel(long_name)) << long_name;
  EXPECT_NE(long_name, SandboxNamespaceName("bsb-", std::string(63, 'n'), std::string(252, 'x')));
  std::string dotted = SandboxNamespaceName("bsb-", "team-a", "chat.v2");
  EXPECT_TRUE(IsDnsLabel(dotted)) << dotted;
  // Cut just after a '-': no "--<hash>".
  std::string cut = SandboxNamespaceName("bsb-", "n", std::string(48, 'x') + "-yyyy");
  EXPECT_TRUE(IsDnsLabel(cut)) << cut;
  EXPECT_EQ(cut.find("--"), std::string::npos) << cut;
}

TEST(RenderTest, FencesAMinimalSandbox) {
  RenderedSandbox out = RenderOk(Parse({{"image", "ghcr.io/acme/bot:1"}}));
  const std::string& ns = out.namespace_name;
  EXPECT_EQ(ns, SandboxNamespaceName("bsb-", "team-a", "chat"));

  const Json& labels = out.namespace_["metadata"]["labels"];
  EXPECT_EQ(labels["pod-security.kubernetes.io/enforce"], "restricted");
  EXPECT_EQ(labels["pod-security.kubernetes.io/enforce-version"], "latest");
  EXPECT_EQ(labels["botsec.io/enforce"], "true");
  EXPECT_EQ(labels["botsec.io/sandbox"], ns);
  EXPECT_EQ(out.namespace_["metadata"]["annotations"]["botsec.io/owner-uid"], "uid-1234");
  EXPECT_EQ(out.namespace_["metadata"]["annotations"]["botsec.io/owner"], "team-a/chat");

  EXPECT_EQ(out.service_account["automountServiceAccountToken"], false);
  EXPECT_EQ(out.service_account["metadata"]["namespace"], ns);

  const Json& hard = out.resource_quota["spec"]["hard"];
  EXPECT_EQ(hard["pods"], "1");
  EXPECT_EQ(hard["services.nodeports"], "0");
  EXPECT_EQ(hard["services.loadbalancers"], "0");
  EXPECT_EQ(hard["requests.cpu"], "100m");
  EXPECT_EQ(hard["limits.cpu"], "1");
  EXPECT_EQ(hard["limits.memory"], "512Mi");

  const Json& limit = out.limit_range["spec"]["limits"][0];
  EXPECT_EQ(limit["type"], "Container");
  EXPECT_EQ(limit["default"]["memory"], "512Mi");
  EXPECT_EQ(limit["defaultRequest"]["cpu"], "100m");

  std::vector<std::string> names;
  for (const Json& policy : out.network_policies) {
    names.push_back(policy["metadata"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"allow-dns", "default-deny"}));
  const Json* deny = PolicyNamed(out, "default-deny");
  ASSERT_NE(deny, nullptr);
  EXPECT_EQ((*deny)["spec"],
            (Json{{"podSelector", Json::object()}, {"policyTypes", {"Ingress", "Egress"}}}));
  const Json* dns = PolicyNamed(out, "allow-dns");
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ((*dns)["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"]
                  ["kubernetes.io/metadata.name"],
            "kube-system");
  EXPECT_FALSE(out.service.has_value());
  EXPECT_TRUE(out.secrets.empty());

  const Json& pod = out.pod;
  EXPECT_EQ(pod["metadata"]["name"], "bot");
  EXPECT_EQ(pod["metadata"]["labels"]["botsec.io/role"], "bot");
  EXPECT_EQ(pod["metadata"]["annotations"]["botsec.io/spec-hash"], out.pod_hash);
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_EQ(spec["serviceAccountName"], "bot");
  EXPECT_EQ(spec["securityContext"]["runAsUser"], 65532);
  EXPECT_EQ(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_FALSE(spec.contains("hostUsers"));
  EXPECT_FALSE(spec.contains("runtimeClassName"));
  const Json& container = spec["containers"][0];
  EXPECT_EQ(container["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(container["securityContext"]["capabilities"]["drop"], Json({"ALL"}));
  EXPECT_EQ(container["resources"]["limits"]["cpu"], "1");
  EXPECT_EQ(container["volumeMounts"][0]["mountPath"], "/tmp");
  EXPECT_EQ(spec["volumes"][0]["emptyDir"]["sizeLimit"], "64Mi");
  EXPECT_TRUE(out.notes.empty());
}

// The operator must never make a Pod its own webhook would refuse.
TEST(RenderTest, ThePodPassesTheBotProfile) {
  for (const Json& spec : {
           Json{{"image", "ghcr.io/acme/bot:1"}},
           Json{{"image", "ghcr.io/acme/bot:1"},
                {"isolation",
                 {{"runtimeClassName", "gvisor"},
                  {"hostUsers", false},
                  {"seccompProfile", {{"type", "Localhost"}, {"localhostProfile", "bot.json"}}},
                  {"appArmorProfile", {{"type", "Localhost"}, {"localhostProfile", "bot"}}}}},
                {"ports", {{{"containerPort", 8080}}}},
                {"env",
                 {{{"name", "A"},
                   {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "k"}}}}}}}},
                {"resources", {{"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}}},
       }) {
    RenderedSandbox out = RenderOk(Parse(spec));
    for (auto profile :
         {policy::Profile::kPssBaseline, policy::Profile::kPssRestricted, policy::Profile::kBot}) {
      auto violations = policy::Judge(out.pod, profile);
      ASSERT_TRUE(violations) << violations.error().message;
      for (const policy::Violation& v : *violations) {
        ADD_FAILURE() << policy::ProfileName(profile) << ": " << v.field << ": " << v.message
                      << " (" << v.check << ")";
      }
    }
  }
}

TEST(RenderTest, NeverReachableBlocksAreCutOutOfEveryAllowlistEntry) {
  RenderedSandbox out = RenderOk(Parse(
      {{"image", "a"},
       {"network",
        {{"egress",
          {{"cidrs",
            {{{"cidr", "0.0.0.0/0"}, {"except", {"10.0.0.0/8"}}, {"ports", {{{"port", 443}}}}},
             {{"cidr", "::/0"}},
             {{"cidr", "169.254.169.254/32"}},
             {{"cidr", "192.168.0.0/16"}}}}}}}}}));
  const Json* egress = PolicyNamed(out, "egress-allowlist");
  ASSERT_NE(egress, nullptr);
  const Json& rules = (*egress)["spec"]["egress"];
  ASSERT_EQ(rules.size(), 3U) << rules.dump();
  EXPECT_EQ(rules[0]["to"][0]["ipBlock"],
            (Json{{"cidr", "0.0.0.0/0"},
                  {"except", {"10.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32"}}}));
  EXPECT_EQ(rules[0]["ports"], (Json{{{"port", 443}, {"protocol", "TCP"}}}));
  EXPECT_EQ(rules[1]["to"][0]["ipBlock"],
            (Json{{"cidr", "::/0"}, {"except", {"fe80::/10", "fd00:ec2::254/128"}}}));
  EXPECT_FALSE(rules[1].contains("ports"));
  EXPECT_EQ(rules[2]["to"][0]["ipBlock"], (Json{{"cidr", "192.168.0.0/16"}}));
  ASSERT_EQ(out.notes.size(), 1U);
  EXPECT_EQ(out.notes[0],
            "egress to 169.254.169.254/32 dropped: inside never-reachable 169.254.0.0/16");

  SandboxSettings settings;
  settings.policy.sandboxes.never_reach.emplace_back("192.168.0.0/16");
  RenderedSandbox stricter =
      RenderOk(Parse({{"image", "a"},
                      {"network", {{"egress", {{"cidrs", {{{"cidr", "192.168.1.0/24"}}}}}}}}}),
               settings);
  EXPECT_EQ(PolicyNamed(stricter, "egress-allowlist"), nullptr);
}

TEST(RenderTest, IngressOnlyFromNamedSandboxesAndNamespaces) {
  RenderedSandbox out = RenderOk(Parse({{"image", "a"},
                                        {"network",
                                         {{"allowDNS", false},
                                          {"ingress",
                                           {{{"fromSandboxes", {"frontend"}},
                                             {"fromNamespaces", {"monitoring"}},
                                             {"ports", {{{"port", 8080}}}}}}}}}}));
  EXPECT_EQ(PolicyNamed(out, "allow-dns"), nullptr);
  const Json* ingress = PolicyNamed(out, "ingress");
  ASSERT_NE(ingress, nullptr);
  const Json& from = (*ingress)["spec"]["ingress"][0]["from"];
  ASSERT_EQ(from.size(), 2U);
  EXPECT_EQ(from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            SandboxNamespaceName("bsb-", "team-a", "frontend"));
  EXPECT_EQ(from[0]["podSelector"]["matchLabels"]["botsec.io/role"], "bot");
  EXPECT_EQ(from[1]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "monitoring");
  EXPECT_EQ((*ingress)["spec"]["ingress"][0]["ports"][0]["port"], 8080);
}

TEST(RenderTest, ResourcesDefaultWithoutContradictingWhatWasAsked) {
  // A request above the default limit raises the limit; a limit below the default request lowers
  // the request.
  RenderedSandbox out = RenderOk(
      Parse({{"image", "a"},
             {"resources", {{"requests", {{"cpu", "2"}}}, {"limits", {{"memory", "64Mi"}}}}}}));
  const Json& resources = out.pod["spec"]["containers"][0]["resources"];
  EXPECT_EQ(resources["requests"]["cpu"], "2");
  EXPECT_EQ(resources["limits"]["cpu"], "2");
  EXPECT_EQ(resources["limits"]["memory"], "64Mi");
  EXPECT_EQ(resources["requests"]["memory"], "64Mi");
  EXPECT_EQ(resources["requests"]["ephemeral-storage"], "256Mi");
  EXPECT_EQ(out.resource_quota["spec"]["hard"]["limits.cpu"], "2");

  RenderedSandbox quota = RenderOk(Parse({{"image", "a"}, {"quota", {{"cpu", "4"}, {"pods", 3}}}}));
  EXPECT_EQ(quota.resource_quota["spec"]["hard"]["requests.cpu"], "4");
  EXPECT_EQ(quota.resource_quota["spec"]["hard"]["limits.cpu"], "4");
  EXPECT_EQ(quota.resource_quota["spec"]["hard"]["pods"], "3");
}

TEST(RenderTest, RefusesWhatExceedsTheAdministratorsBounds) {
  auto policy = policy::ParsePolicy(R"(
sandboxes:
  maxResources: {cpu: "2", memory: 1Gi}
  maxQuota: {pods: "2"}
  maxTTL: 2h
  runtimeClasses: [gvisor]
)");
  ASSERT_TRUE(policy) << policy.error().message;
  SandboxSettings settings;
  settings.policy = *policy;
  auto rendered = Render(Parse({{"image", "a"},
                                {"resources", {{"limits", {{"cpu", "4"}, {"memory", "1Gi"}}}}},
                                {"quota", {{"pods", 5}}},
                                {"lifetime", {{"ttl", "3h"}}},
                                {"isolation", {{"runtimeClassName", "kata"}}}}),
                         settings, {});
  ASSERT_FALSE(rendered);
  std::vector<std::string> fields;
  for (const core::Cause& cause : rendered.error().causes) {
    fields.push_back(cause.field);
  }
  EXPECT_EQ(fields,
            (std::vector<std::string>{"spec.resources.limits.cpu", "spec.quota.pods",
                                      "spec.lifetime.ttl", "spec.isolation.runtimeClassName"}));
  EXPECT_NE(rendered.error().message.find(
                "spec.resources.limits.cpu: Invalid value: \"4\": must be at most 2"),
            std::string::npos)
      << rendered.error().message;
  EXPECT_NE(rendered.error().message.find("allowed runtime classes: \"gvisor\""),
            std::string::npos);
  // Without a runtime class where one is required.
  auto missing = RenderPod(Parse({{"image", "a"}}), settings);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().causes.at(0).message,
            "Required value: allowed runtime classes: \"gvisor\"");
  // The LimitRange carries the bounds.
  auto fits = Render(Parse({{"image", "a"}, {"isolation", {{"runtimeClassName", "gvisor"}}}}),
                     settings, {});
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->limit_range["spec"]["limits"][0]["max"], (Json{{"cpu", "2"}, {"memory", "1Gi"}}));
}

TEST(RenderTest, ThePodHashFollowsThePodAndNothingElse) {
  Json base = {{"image", "ghcr.io/acme/bot:1"}};
  std::string hash = RenderOk(Parse(base)).pod_hash;
  EXPECT_EQ(hash.size(), 16U);
  EXPECT_EQ(RenderOk(Parse(base)).pod_hash, hash);
  Json quota = base;
  quota["quota"] = {{"pods", 2}};
  EXPECT_EQ(RenderOk(Parse(quota)).pod_hash, hash);
  Json image = base;
  image["image"] = "ghcr.io/acme/bot:2";
  EXPECT_NE(RenderOk(Parse(image)).pod_hash, hash);
  Json bandwidth = base;
  bandwidth["network"] = {{"bandwidth", {{"egress", "10M"}}}};
  RenderedSandbox shaped = RenderOk(Parse(bandwidth));
  EXPECT_NE(shaped.pod_hash, hash);
  EXPECT_EQ(shaped.pod["metadata"]["annotations"]["kubernetes.io/egress-bandwidth"], "10M");
}

TEST(RenderTest, MirrorsOnlyTheSecretsItIsGiven) {
  std::map<std::string, Json> secrets = {
      {"api", {{"type", "Opaque"}, {"data", {{"token", "c2VjcmV0"}}}}},
      {"pull",
       {{"type", "kubernetes.io/dockerconfigjson"}, {"data", {{".dockerconfigjson", "e30="}}}}},
  };
  RenderedSandbox out = RenderOk(Parse({{"image", "a"},
                                        {"secrets", {{{"name", "api"}}, {{"name", "missing"}}}},
                                        {"imagePullSecrets", {{{"name", "pull"}}}}}),
                                 {}, secrets);
  ASSERT_EQ(out.secrets.size(), 2U);
  EXPECT_EQ(out.secrets[0]["metadata"]["name"], "api");
  EXPECT_EQ(out.secrets[0]["metadata"]["namespace"], out.namespace_name);
  EXPECT_EQ(out.secrets[0]["data"]["token"], "c2VjcmV0");
  EXPECT_EQ(out.secrets[1]["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ(out.pod["spec"]["imagePullSecrets"], (Json{{{"name", "pull"}}}));
}

TEST(RenderTest, DeclaredPortsGetAClusterIpService) {
  RenderedSandbox out = RenderOk(Parse({{"image", "a"},
                                        {"ports",
                                         {{{"name", "http"}, {"containerPort", 8080}},
                                          {{"containerPort", 9090}, {"protocol", "UDP"}}}}}));
  ASSERT_TRUE(out.service.has_value());
  const Json& spec = (*out.service)["spec"];
  EXPECT_EQ(spec["type"], "ClusterIP");
  EXPECT_EQ(spec["selector"], (Json{{"botsec.io/role", "bot"}}));
  EXPECT_EQ(spec["ports"][0]["name"], "http");
  EXPECT_EQ(spec["ports"][1]["name"], "udp-9090");
  EXPECT_EQ(spec["ports"][1]["protocol"], "UDP");
}

}  // namespace
}  // namespace botsec::api
