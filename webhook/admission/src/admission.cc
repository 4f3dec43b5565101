#include "botsec/webhook/admission.h"

#include <malloc.h>

#include <iostream>
#include <utility>

#include "botsec/core/json_text.h"
#include "botsec/core/time.h"

namespace botsec::webhook {

bool ApiServerFacts::NamespaceTerminating(const std::string& ns) const {
  auto found = client_.Get(kube::resources::Namespaces(), "", ns);
  return found && found->contains("metadata") && (*found)["metadata"].contains("deletionTimestamp");
}

std::vector<std::string> ApiServerFacts::UnreadableSecrets(
    const AdmissionRequest& request, const std::vector<std::string>& names) const {
  std::vector<std::string> unreadable;
  for (const std::string& name : names) {
    Json review = {{"apiVersion", "authorization.k8s.io/v1"},
                   {"kind", "SubjectAccessReview"},
                   {"spec",
                    {{"user", request.user.username},
                     {"groups", request.user.groups},
                     {"resourceAttributes",
                      {{"namespace", request.namespace_},
                       {"verb", "get"},
                       {"resource", "secrets"},
                       {"name", name}}}}}};
    if (!request.user.uid.empty()) {
      review["spec"]["uid"] = request.user.uid;
    }
    if (!request.user.extra.empty()) {
      review["spec"]["extra"] = request.user.extra;
    }
    auto answered =
        client_.Create({"authorization.k8s.io", "v1", "subjectaccessreviews", false}, "", review);
    if (!answered) {
      std::cerr << "SubjectAccessReview failed secret=" << request.namespace_ << "/" << name
                << " error=\"" << answered.error().message << "\"\n";
    }
    if (!answered || !answered->value("/status/allowed"_json_pointer, false)) {
      unreadable.push_back(name);
    }
  }
  return unreadable;
}

void KeepFreedHeapForReuse() { mallopt(M_TRIM_THRESHOLD, 8 << 20); }

WebhookMetrics::WebhookMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("botsec_webhook_requests_total")
                    .Help("Admission requests by concern and verdict (allowed, denied, warned, "
                          "invalid)")
                    .Register(registry)),
      violations_(prometheus::BuildCounter()
                      .Name("botsec_webhook_violations_total")
                      .Help("Violations found, by concern and check")
                      .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("botsec_webhook_request_duration_seconds")
                   .Help("Time from a request's body read to its answer, by concern")
                   .Register(registry)) {}

void WebhookMetrics::Count(const std::string& concern, const std::string& verdict,
                           std::chrono::steady_clock::duration took) {
  requests_.Add({{"concern", concern}, {"verdict", verdict}}).Increment();
  latency_
      .Add(
          {{"concern", concern}},
          prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})
      .Observe(std::chrono::duration<double>(took).count());
}

void WebhookMetrics::Violation(const std::string& concern, const std::string& check) {
  violations_.Add({{"concern", concern}, {"check", check}}).Increment();
}

void Admission::SetPolicy(policy::Policy policy) {
  std::lock_guard lock(settings_mu_);
  auto settings = std::make_shared<WebhookSettings>(*settings_);
  settings->sandbox.policy = std::move(policy);
  settings_ = std::move(settings);
}

std::shared_ptr<const WebhookSettings> Admission::Settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

HttpAnswer Admission::Validate(std::string_view content_type, std::string_view body) {
  auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const WebhookSettings> settings = Settings();
  if (!content_type.starts_with("application/json")) {
    metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
    return {400, "text/plain; charset=utf-8",
            "Content-Type must be application/json, not \"" + std::string(content_type) + "\"\n"};
  }
  auto request = DecodeReview(body);
  if (!request) {
    metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
    return {400, "text/plain; charset=utf-8",
            "bad AdmissionReview: " + request.error().message + "\n"};
  }
  RequestFacts facts;
  if (request->operation == "DELETE" && !request->namespace_.empty()) {
    facts.namespace_terminating = facts_.NamespaceTerminating(request->namespace_);
  }
  Decision decision = Decide(*request, *settings, facts);
  if (!decision.secrets_to_authorize.empty()) {
    DenyUnreadableSecrets(decision,
                          facts_.UnreadableSecrets(*request, decision.secrets_to_authorize),
                          *request, *settings);
  }
  std::string verdict = !decision.verdict.allowed            ? "denied"
                        : !decision.verdict.warnings.empty() ? "warned"
                                                             : "allowed";
  metrics_.Count(decision.concern, verdict, std::chrono::steady_clock::now() - started);
  for (const auto& violation : decision.violations) {
    metrics_.Violation(decision.concern, violation.check);
  }
  Audit(*request, decision, verdict);
  return {200, "application/json", EncodeReview(*request, decision.verdict)};
}

void Admission::Audit(const AdmissionRequest& request, const Decision& decision,
                      std::string_view verdict) {
  // Written out directly (one line per request); keys in sorted order, as nlohmann wrote them.
  std::string text;
  auto field = [&text](std::string_view key, std::string_view value) {
    text += text.empty() ? "{" : ",";
    core::AppendJsonString(text, key);
    text += ':';
    core::AppendJsonString(text, value);
  };
  field("concern", decision.concern);
  text += request.dry_run ? R"(,"dryRun":true)" : R"(,"dryRun":false)";
  field("msg", "Admission decision");
  field("name", request.name);
  field("namespace", request.namespace_);
  field("operation", request.operation);
  field("resource", request.resource.resource);
  field("subResource", request.sub_resource);
  field("ts", core::FormatRfc3339(std::chrono::system_clock::now()));
  field("uid", request.uid);
  field("user", request.user.username);
  field("verdict", verdict);
  text += R"(,"violations":[)";
  for (std::size_t i = 0; i < decision.violations.size(); ++i) {
    const auto& violation = decision.violations[i];
    text += i == 0 ? R"({"check":)" : R"(,{"check":)";
    core::AppendJsonString(text, violation.check);
    text += R"(,"field":)";
    core::AppendJsonString(text, violation.field);
    text += R"(,"message":)";
    core::AppendJsonString(text, violation.message);
    text += '}';
  }
  text += "]}\n";
  std::lock_guard lock(audit_mu_);
  audit_ << text << std::flush;
}

}  // namespace botsec::webhook
