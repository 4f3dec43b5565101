#include "botsec/api/bot_sandbox.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::api {
namespace {

Json Sandbox(const Json& spec) {
  return {{"apiVersion", "botsec.io/v1alpha1"},
          {"kind", "BotSandbox"},
          {"metadata",
           {{"name", "chat"},
            {"namespace", "team-a"},
            {"uid", "0b3c9a8e-1111-4222-8333-944445555666"},
            {"generation", 3},
            {"resourceVersion", "812"},
            {"creationTimestamp", "2026-12-04T10:00:00Z"},
            {"labels", {{"app", "chat"}}},
            {"finalizers", {"botsec.io/cleanup"}}}},
          {"spec", spec}};
}

TEST(BotSandboxTest, DefaultsWhatIsLeftOutAsTheCrdDoes) {
  auto sandbox = ParseBotSandbox(Sandbox({{"image", "ghcr.io/acme/bot:1"}}));
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  EXPECT_EQ(sandbox->metadata.name, "chat");
  EXPECT_EQ(sandbox->metadata.namespace_, "team-a");
  EXPECT_EQ(sandbox->metadata.generation, 3);
  EXPECT_EQ(sandbox->metadata.finalizers, std::vector<std::string>{"botsec.io/cleanup"});
  EXPECT_EQ(sandbox->metadata.labels.at("app"), "chat");
  const BotSandboxSpec& spec = sandbox->spec;
  EXPECT_EQ(spec.image, "ghcr.io/acme/bot:1");
  EXPECT_EQ(spec.restart_policy, "Always");
  EXPECT_TRUE(spec.network.allow_dns);
  EXPECT_TRUE(spec.network.egress_cidrs.empty());
  EXPECT_EQ(spec.isolation.run_as_user, 65532);
  EXPECT_EQ(spec.isolation.run_as_group, 65532);
  EXPECT_EQ(spec.isolation.fs_group, 65532);
  EXPECT_TRUE(spec.isolation.host_users);
  EXPECT_EQ(spec.isolation.tmp_size, "64Mi");
  EXPECT_EQ(spec.isolation.seccomp_profile.type, "RuntimeDefault");
  EXPECT_EQ(spec.isolation.app_armor_profile.type, "RuntimeDefault");
  EXPECT_FALSE(spec.lifetime.has_value());
  EXPECT_FALSE(spec.suspend);
  EXPECT_FALSE(sandbox->status.phase.has_value());
}

TEST(BotSandboxTest, ReadsAFullSpec) {
  Json spec = {
      {"image", "ghcr.io/acme/bot:1"},
      {"imagePullSecrets", {{{"name", "pull"}}}},
      {"command", {"/bot"}},
      {"args", {"--serve", "--port=8080"}},
      {"workingDir", "/work"},
      {"ports",
       {{{"name", "http"}, {"containerPort", 8080}}, {{"containerPort", 53}, {"protocol", "UDP"}}}},
      {"env",
       {{{"name", "MODE"}, {"value", "chat"}},
        {{"name", "TOKEN"}, {"valueFrom", {{"secretKeyRef", {{"name", "api"}, {"key", "t"}}}}}},
        {{"name", "CFG"},
         {"valueFrom", {{"configMapKeyRef", {{"name", "c"}, {"key", "k"}, {"optional", true}}}}}}}},
      {"restartPolicy", "Never"},
      {"resources",
       {{"requests", {{"cpu", "250m"}, {"memory", "128Mi"}}},
        {"limits", {{"cpu", 1}, {"memory", "512Mi"}, {"ephemeralStorage", "1Gi"}}}}},
      {"quota", {{"pods", 2}, {"cpu", "2"}, {"memory", "1Gi"}, {"services", 1}}},
      {"network",
       {{"egress",
         {{"cidrs",
           {{{"cidr", "0.0.0.0/0"},
             {"except", {"10.0.0.0/8"}},
             {"ports",
              {{{"port", 443}}, {{"port", 8000}, {"endPort", 8100}, {"protocol", "UDP"}}}}}}}}},
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
      {"lifetime", {{"ttl", "1h30m"}, {"onExpiry", "Retain"}}},
      {"suspend", true}};
  auto sandbox = ParseBotSandbox(Sandbox(spec));
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  const BotSandboxSpec& s = sandbox->spec;
  EXPECT_EQ(s.image_pull_secrets, std::vector<std::string>{"pull"});
  EXPECT_EQ(s.args.size(), 2U);
  EXPECT_EQ(s.working_dir, "/work");
  ASSERT_EQ(s.ports.size(), 2U);
  EXPECT_EQ(s.ports[0].name, "http");
  EXPECT_EQ(s.ports[0].protocol, "TCP");
  EXPECT_EQ(s.ports[1].protocol, "UDP");
  ASSERT_EQ(s.env.size(), 3U);
  EXPECT_EQ(s.env[0].value, "chat");
  ASSERT_TRUE(s.env[1].secret_key_ref);
  EXPECT_EQ(s.env[1].secret_key_ref->name, "api");
  ASSERT_TRUE(s.env[2].config_map_key_ref);
  EXPECT_TRUE(s.env[2].config_map_key_ref->optional);
  EXPECT_EQ(s.restart_policy, "Never");
  EXPECT_EQ(s.resources.requests, (ResourceList{{"cpu", "250m"}, {"memory", "128Mi"}}));
  EXPECT_EQ(s.resources.limits,
            (ResourceList{{"cpu", "1"}, {"memory", "512Mi"}, {"ephemeral-storage", "1Gi"}}));
  EXPECT_EQ(s.quota, (Quota{{"pods", "2"}, {"cpu", "2"}, {"memory", "1Gi"}, {"services", "1"}}));
  ASSERT_EQ(s.network.egress_cidrs.size(), 1U);
  EXPECT_EQ(s.network.egress_cidrs[0].except, std::vector<std::string>{"10.0.0.0/8"});
  ASSERT_EQ(s.network.egress_cidrs[0].ports.size(), 2U);
  EXPECT_EQ(s.network.egress_cidrs[0].ports[1].end_port, 8100);
  EXPECT_EQ(s.network.egress_cidrs[0].ports[1].protocol, "UDP");
  EXPECT_FALSE(s.network.allow_dns);
  ASSERT_EQ(s.network.ingress.size(), 1U);
  EXPECT_EQ(s.network.ingress[0].from_sandboxes, std::vector<std::string>{"frontend"});
  EXPECT_EQ(s.network.egress_bandwidth, "10M");
  EXPECT_EQ(s.isolation.runtime_class_name, "gvisor");
  EXPECT_EQ(s.isolation.seccomp_profile.localhost_profile, "profiles/bot.json");
  EXPECT_EQ(s.isolation.run_as_user, 1000);
  EXPECT_EQ(s.isolation.run_as_group, 65532);
  EXPECT_FALSE(s.isolation.host_users);
  EXPECT_EQ(s.secrets, std::vector<std::string>{"api"});
  ASSERT_TRUE(s.lifetime);
  EXPECT_EQ(s.lifetime->ttl, std::chrono::seconds(5400));
  EXPECT_EQ(s.lifetime->on_expiry, OnExpiry::kRetain);
  EXPECT_TRUE(s.suspend);
}

// The same refusals as the CRD's (tests/integration/crds/botsandbox_test.cc), each naming its
// field.
TEST(BotSandboxTest, RefusesBadSpecsNamingTheField) {
  struct Case {
    Json spec;
    std::string field;
    std::string message;  // must appear in the cause's message
  };
  const Json image = "ghcr.io/acme/bot:1";
  for (const Case& c : std::vector<Case>{
           {Json::object(), "spec.image", "Required value"},
           {{{"image", "bot 1"}}, "spec.image", "must not contain whitespace"},
           {{{"image", 5}}, "spec.image", "Invalid value: 5: must be a string"},
           {{{"image", image}, {"lifetime", {{"ttl", "2 days"}}}},
            "spec.lifetime.ttl",
            "Invalid value: \"2 days\": must be a positive duration such as 2h"},
           {{{"image", image}, {"lifetime", {{"ttl", "0s"}}}},
            "spec.lifetime.ttl",
            "must be a positive duration"},
           {{{"image", image}, {"lifetime", Json::object()}},
            "spec.lifetime.ttl",
            "Required value"},
           {{{"image", image}, {"lifetime", {{"ttl", "1h"}, {"onExpiry", "Later"}}}},
            "spec.lifetime.onExpiry",
            R"(Unsupported value: "Later": supported values: "Delete", "Retain")"},
           {{{"image", image}, {"isolation", {{"runAsUser", 0}}}},
            "spec.isolation.runAsUser",
            "Invalid value: 0: must be between 1 and 2147483647, inclusive"},
           {{{"image", image},
             {"resources", {{"requests", {{"cpu", "2"}}}, {"limits", {{"cpu", "1"}}}}}},
            "spec.resources.requests.cpu",
            "less than or equal to the cpu limit"},
           {{{"image", image}, {"resources", {{"limits", {{"memory", "lots"}}}}}},
            "spec.resources.limits.memory",
            "must be a positive quantity"},
           {{{"image", image}, {"quota", {{"cpu", "-1"}}}}, "spec.quota.cpu", "positive quantity"},
           {{{"image", image}, {"quota", {{"pods", -1}}}}, "spec.quota.pods", "between 0 and"},
           {{{"image", image}, {"network", {{"egress", {{"cidrs", {{{"cidr", "10.0.0.1/8"}}}}}}}}},
            "spec.network.egress.cidrs[0].cidr",
            "no host bits set"},
           {{{"image", image}, {"network", {{"egress", {{"cidrs", {{{"cidr", "example.com"}}}}}}}}},
            "spec.network.egress.cidrs[0].cidr",
            "must be a CIDR"},
           {{{"image", image}, {"network", {{"egress", {{"cidrs", {Json::object()}}}}}}},
            "spec.network.egress.cidrs[0].cidr",
            "Required value"},
           {{{"image", image},
             {"network",
              {{"egress",
                {{"cidrs", {{{"cidr", "10.0.0.0/8"}, {"except", {"192.168.0.0/16"}}}}}}}}}},
            "spec.network.egress.cidrs[0].except[0]",
            "must lie inside cidr 10.0.0.0/8"},
           {{{"image", image},
             {"network",
              {{"egress",
                {{"cidrs",
                  {{{"cidr", "10.0.0.0/8"}, {"ports", {{{"port", 443}, {"endPort", 80}}}}}}}}}}}},
            "spec.network.egress.cidrs[0].ports[0].endPort",
            "greater than or equal to port"},
           {{{"image", image}, {"network", {{"ingress", {{{"ports", {{{"port", 80}}}}}}}}}},
            "spec.network.ingress[0]",
            "fromSandboxes"},
           {{{"image", image}, {"network", {{"ingress", {{{"fromNamespaces", {"Not_A_Label"}}}}}}}},
            "spec.network.ingress[0].fromNamespaces[0]",
            "DNS label"},
           {{{"image", image}, {"network", {{"bandwidth", {{"egress", "fast"}}}}}},
            "spec.network.bandwidth.egress",
            "positive quantity"},
           {{{"image", image}, {"isolation", {{"seccompProfile", {{"type", "Localhost"}}}}}},
            "spec.isolation.seccompProfile",
            "localhostProfile is required"},
           {{{"image", image}, {"isolation", {{"seccompProfile", {{"type", "Unconfined"}}}}}},
            "spec.isolation.seccompProfile.type",
            "Unsupported value: \"Unconfined\""},
           {{{"image", image},
             {"env",
              {{{"name", "A"},
                {"value", "x"},
                {"valueFrom", {{"configMapKeyRef", {{"name", "c"}, {"key", "k"}}}}}}}}},
            "spec.env[0]",
            "mutually exclusive"},
           {{{"image", image}, {"env", {{{"name", "A"}, {"valueFrom", Json::object()}}}}},
            "spec.env[0].valueFrom",
            "exactly one of"},
           {{{"image", image}, {"env", {{{"name", "A=B"}}}}}, "spec.env[0].name", "'='"},
           {{{"image", image}, {"env", {{{"name", "A"}}, {{"name", "A"}}}}},
            "spec.env[1]",
            "Duplicate value"},
           {{{"image", image}, {"ports", {{{"name", "HTTP"}, {"containerPort", 80}}}}},
            "spec.ports[0].name",
            "IANA service name"},
           {{{"image", image}, {"ports", {{{"containerPort", 70000}}}}},
            "spec.ports[0].containerPort",
            "Invalid value: 70000"},
           {{{"image", image}, {"ports", {{{"name", "web"}}}}},
            "spec.ports[0].containerPort",
            "Required value"},
           {{{"image", image}, {"restartPolicy", "Sometimes"}},
            "spec.restartPolicy",
            "Unsupported value: \"Sometimes\""},
           {{{"image", image}, {"isolation", {{"runtimeClassName", "G Visor"}}}},
            "spec.isolation.runtimeClassName",
            "DNS subdomain"},
           {{{"image", image}, {"isolation", {{"tmpSize", "1Ti"}}}},
            "spec.isolation.tmpSize",
            "at most 64Gi"},
           {{{"image", image}, {"secrets", {{{"name", "a"}}, {{"name", "a"}}}}},
            "spec.secrets[1]",
            "Duplicate value"},
           {{{"image", image}, {"secrets", {"a"}}}, "spec.secrets[0]", "must be an object"},
           {{{"image", image}, {"command", Json::array({1})}},
            "spec.command[0]",
            "must be a string"},
           {{{"image", image}, {"suspend", "yes"}}, "spec.suspend", "must be true or false"},
       }) {
    auto sandbox = ParseBotSandbox(Sandbox(c.spec));
    ASSERT_FALSE(sandbox) << c.spec.dump();
    ASSERT_EQ(sandbox.error().causes.size(), 1U) << sandbox.error().message;
    const core::Cause& cause = sandbox.error().causes[0];
    EXPECT_EQ(cause.field, c.field) << c.spec.dump();
    EXPECT_NE(cause.message.find(c.message), std::string::npos)
        << c.spec.dump() << " -> " << cause.message;
    EXPECT_EQ(sandbox.error().message.rfind(c.field + ": ", 0), 0U) << sandbox.error().message;
  }
}

TEST(BotSandboxTest, ReportsEveryProblemAtOnce) {
  auto sandbox = ParseBotSandbox(Sandbox({{"lifetime", {{"ttl", "soon"}}},
                                          {"isolation", {{"runAsUser", 0}, {"fsGroup", 0}}},
                                          {"restartPolicy", "Sometimes"}}));
  ASSERT_FALSE(sandbox);
  std::vector<std::string> fields;
  for (const core::Cause& cause : sandbox.error().causes) {
    fields.push_back(cause.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"spec.image", "spec.restartPolicy",
                                              "spec.isolation.runAsUser", "spec.isolation.fsGroup",
                                              "spec.lifetime.ttl"}));
}

TEST(BotSandboxTest, RefusesObjectsWithoutNameOrSpec) {
  auto no_name = ParseBotSandbox(Json{{"metadata", Json::object()}, {"spec", {{"image", "a"}}}});
  ASSERT_FALSE(no_name);
  EXPECT_EQ(no_name.error().message, "metadata.name: Required value");
  auto no_spec = ParseBotSandbox(Json{{"metadata", {{"name", "a"}}}});
  ASSERT_FALSE(no_spec);
  EXPECT_EQ(no_spec.error().message, "spec: Required value");
  EXPECT_FALSE(ParseBotSandbox(Json::array()));
}

TEST(BotSandboxTest, StatusSurvivesARoundTrip) {
  BotSandboxStatus status;
  status.phase = Phase::kRunning;
  status.namespace_ = "bsb-team-a-chat-1a2b3c4d";
  status.pod_name = "bot";
  status.pod_ip = "10.244.0.7";
  status.start_time = "2026-12-04T10:00:05Z";
  status.expires_at = "2026-12-04T12:00:00Z";
  status.bot = BotState{.state = "Terminated",
                        .ready = false,
                        .restart_count = 2,
                        .exit_code = 137,
                        .reason = "OOMKilled",
                        .message = ""};
  status.observed_generation = 3;
  status.conditions = {{.type = "Ready",
                        .status = "True",
                        .reason = "Running",
                        .message = "the bot is running",
                        .last_transition_time = "2026-12-04T10:00:06Z",
                        .observed_generation = 3}};
  Json object = Sandbox({{"image", "a"}});
  object["status"] = StatusToJson(status);
  EXPECT_EQ(object["status"]["phase"], "Running");
  EXPECT_EQ(object["status"]["bot"]["exitCode"], 137);
  auto sandbox = ParseBotSandbox(object);
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  EXPECT_EQ(sandbox->status, status);
  ASSERT_NE(FindCondition(sandbox->status.conditions, "Ready"), nullptr);
  EXPECT_EQ(FindCondition(sandbox->status.conditions, "Isolated"), nullptr);
}

TEST(BotSandboxTest, ReadsAStatusOfAnotherVersionLeniently) {
  Json object = Sandbox({{"image", "a"}});
  object["status"] = {{"phase", "Hibernating"}, {"observedGeneration", "x"}, {"conditions", {5}}};
  auto sandbox = ParseBotSandbox(object);
  ASSERT_TRUE(sandbox) << sandbox.error().message;
  EXPECT_FALSE(sandbox->status.phase.has_value());
  EXPECT_EQ(sandbox->status.observed_generation, 0);
  EXPECT_TRUE(sandbox->status.conditions.empty());
}

}  // namespace
}  // namespace botsec::api
