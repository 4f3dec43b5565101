#include "botsec/webhook/admission.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

namespace botsec::webhook {
namespace {

// ClusterFacts as a test sets them, recording what was asked.
class FakeFacts : public ClusterFacts {
 public:
  bool NamespaceTerminating(const std::string& ns) const override {
    asked_namespaces.push_back(ns);
    return terminating;
  }
  std::vector<std::string> UnreadableSecrets(const AdmissionRequest& request,
                                             const std::vector<std::string>& names) const override {
    asked_secrets.push_back(request.user.username + ":" + request.namespace_);
    std::vector<std::string> unreadable;
    for (const auto& name : names) {
      if (name != readable) {
        unreadable.push_back(name);
      }
    }
    return unreadable;
  }
  bool terminating = false;
  std::string readable;
  mutable std::vector<std::string> asked_namespaces;
  mutable std::vector<std::string> asked_secrets;
};

std::string Review(const std::string& resource, const std::string& kind, const std::string& group,
                   const std::string& operation, const Json& object) {
  Json review = {{"apiVersion", "admission.k8s.io/v1"},
                 {"kind", "AdmissionReview"},
                 {"request",
                  {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
                   {"kind", {{"group", group}, {"version", "v1"}, {"kind", kind}}},
                   {"resource", {{"group", group}, {"version", "v1"}, {"resource", resource}}},
                   {"name", object.value("/metadata/name"_json_pointer, "")},
                   {"namespace", "bsb-a"},
                   {"operation", operation},
                   {"userInfo", {{"username", "alice"}, {"groups", {"team-a"}}}}}}};
  if (operation == "DELETE") {
    review["request"]["oldObject"] = object;
  } else {
    review["request"]["object"] = object;
  }
  return review.dump();
}

Json PrivilegedPod() {
  return Json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot"},
    "spec": {"containers": [{"name": "bot", "image": "python:3.13",
                             "securityContext": {"privileged": true}}]}})");
}

// The value of one series in the registry: `name` with all of `labels`.
double Series(prometheus::Registry& registry, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) {
      continue;
    }
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [key, value] : labels) {
        bool found = false;
        for (const auto& label : metric.label) {
          found = found || (label.name == key && label.value == value);
        }
        match = match && found;
      }
      if (match) {
        return family.type == prometheus::MetricType::Histogram
                   ? static_cast<double>(metric.histogram.sample_count)
                   : metric.counter.value;
      }
    }
  }
  return -1;
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : metrics_(registry_) { settings_.operator_username = "botsec-operator"; }

  HttpAnswer Validate(const std::string& body, const std::string& type = "application/json") {
    Admission admission(settings_, facts_, metrics_, audit_);
    return admission.Validate(type, body);
  }
  // The audit lines written so far, parsed.
  std::vector<Json> AuditLines() const {
    std::vector<Json> lines;
    std::istringstream in(audit_.str());
    for (std::string line; std::getline(in, line);) {
      lines.push_back(Json::parse(line));
    }
    return lines;
  }

  WebhookSettings settings_;
  FakeFacts facts_;
  prometheus::Registry registry_;
  WebhookMetrics metrics_;
  std::ostringstream audit_;
};

TEST_F(AdmissionTest, RefusesABadPodCountsItAndWritesOneAuditLine) {
  HttpAnswer answer = Validate(Review("pods", "Pod", "", "CREATE", PrivilegedPod()));
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.content_type, "application/json");
  Json review = Json::parse(answer.body);
  EXPECT_EQ(review["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(review["response"]["allowed"], false);
  EXPECT_NE(review["response"]["status"]["message"].get<std::string>().find(
                "spec.containers[0].securityContext.privileged: Forbidden"),
            std::string::npos)
      << answer.body;

  std::vector<Json> lines = AuditLines();
  ASSERT_EQ(lines.size(), 1U) << audit_.str();
  EXPECT_EQ(lines[0]["verdict"], "denied");
  EXPECT_EQ(lines[0]["concern"], "pod");
  EXPECT_EQ(lines[0]["user"], "alice");
  EXPECT_EQ(lines[0]["namespace"], "bsb-a");
  EXPECT_EQ(lines[0]["name"], "bot");
  EXPECT_EQ(lines[0]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  ASSERT_TRUE(lines[0]["violations"].is_array());
  EXPECT_FALSE(lines[0]["violations"].empty());
  EXPECT_EQ(lines[0]["violations"][0]["field"], "spec.containers[0].securityContext.privileged");

  EXPECT_EQ(Series(registry_, "botsec_webhook_requests_total",
                   {{"concern", "pod"}, {"verdict", "denied"}}),
            1);
  EXPECT_EQ(Series(registry_, "botsec_webhook_request_duration_seconds", {{"concern", "pod"}}), 1);
  EXPECT_GE(Series(registry_, "botsec_webhook_violations_total",
                   {{"concern", "pod"}, {"check", "privileged"}}),
            1);
  EXPECT_TRUE(facts_.asked_namespaces.empty()) << "a CREATE needs no namespace lookup";
}

TEST_F(AdmissionTest, JudgesWithANewPolicyOnceItIsSet) {
  Admission admission(settings_, facts_, metrics_, audit_);
  Json writable = Json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot"},
    "spec": {"automountServiceAccountToken": false,
             "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                 "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "bot", "image": "python:3.13",
               "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
               "securityContext": {"allowPrivilegeEscalation": false,
                                   "readOnlyRootFilesystem": false,
                                   "capabilities": {"drop": ["ALL"]}}}]}})");
  std::string review = Review("pods", "Pod", "", "CREATE", writable);
  auto allowed = [&] {
    return Json::parse(admission.Validate("application/json", review).body)["response"]["allowed"];
  };
  EXPECT_EQ(allowed(), false) << "the bot profile wants a read-only root filesystem";
  admission.SetPolicy(policy::Policy::ForProfile(policy::Profile::kPssRestricted));
  EXPECT_EQ(allowed(), true);
}

TEST_F(AdmissionTest, AnswersFourHundredForWhatIsNoAdmissionReviewAndCountsItInvalid) {
  HttpAnswer wrong_type = Validate("{}", "text/plain");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_EQ(wrong_type.body, "Content-Type must be application/json, not \"text/plain\"\n");
  HttpAnswer not_json = Validate("{\"apiVersion\": ");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_TRUE(not_json.body.starts_with("bad AdmissionReview: not JSON: ")) << not_json.body;
  EXPECT_EQ(Series(registry_, "botsec_webhook_requests_total",
                   {{"concern", "invalid"}, {"verdict", "invalid"}}),
            2);
  EXPECT_TRUE(AuditLines().empty()) << "no decision, no audit line";
}

TEST_F(AdmissionTest, AsksWhetherTheNamespaceTerminatesOnlyForAFenceDeletion) {
  Json policy = Json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny"}, "spec": {"podSelector": {}}})");
  std::string deletion =
      Review("networkpolicies", "NetworkPolicy", "networking.k8s.io", "DELETE", policy);
  EXPECT_EQ(Json::parse(Validate(deletion).body)["response"]["allowed"], false);
  facts_.terminating = true;
  EXPECT_EQ(Json::parse(Validate(deletion).body)["response"]["allowed"], true);
  EXPECT_EQ(facts_.asked_namespaces, (std::vector<std::string>{"bsb-a", "bsb-a"}));
}

TEST_F(AdmissionTest, RefusesABotSandboxWhoseWriterMayNotReadASecretItNames) {
  Json sandbox = Json::parse(R"({"apiVersion": "botsec.io/v1alpha1", "kind": "BotSandbox",
    "metadata": {"name": "chat", "uid": "1"},
    "spec": {"image": "ghcr.io/acme/bot:1", "secrets": [{"name": "openai"}, {"name": "slack"}]}})");
  facts_.readable = "openai";
  HttpAnswer answer =
      Validate(Review("botsandboxes", "BotSandbox", "botsec.io", "CREATE", sandbox));
  Json response = Json::parse(answer.body)["response"];
  EXPECT_EQ(response["allowed"], false);
  std::string message = response["status"]["message"];
  EXPECT_NE(message.find("spec.secrets[1].name: Forbidden: alice may not get Secret \"slack\""),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("\"openai\""), std::string::npos) << message;
  EXPECT_EQ(facts_.asked_secrets, (std::vector<std::string>{"alice:bsb-a"}));
}

}  // namespace
}  // namespace botsec::webhook
