// botsec-webhook: the validating admission webhook. The decision is webhook/decide's (pure); this
// shell serves it over HTTPS (libs/serve), looks up the facts it needs from the API server
// (a namespace's phase, SubjectAccessReviews), writes one audit line per decision and counts.
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "botsec/core/flags.h"
#include "botsec/core/time.h"
#include "botsec/kube/client.h"
#include "botsec/policy/policy.h"
#include "botsec/serve/probes.h"
#include "botsec/serve/server.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace {

using botsec::webhook::AdmissionRequest;
using botsec::webhook::Decision;
using botsec::webhook::Json;

std::atomic<int> g_signalled{0};
void OnSignal(int signal) { g_signalled = signal; }

// Counters and the latency histogram; no label carries an object's name.
class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry)
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

  void Count(const std::string& concern, const std::string& verdict,
             std::chrono::steady_clock::duration took) {
    requests_.Add({{"concern", concern}, {"verdict", verdict}}).Increment();
    latency_
        .Add({{"concern", concern}},
             prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                     0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5, 1, 2.5})
        .Observe(std::chrono::duration<double>(took).count());
  }
  void Violation(const std::string& concern, const std::string& check) {
    violations_.Add({{"concern", concern}, {"check", check}}).Increment();
  }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& violations_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

// The imperative shell around Decide.
class Admission {
 public:
  Admission(botsec::webhook::WebhookSettings settings, botsec::kube::Client client,
            WebhookMetrics& metrics)
      : settings_(std::move(settings)), client_(std::move(client)), metrics_(metrics) {}

  botsec::serve::Response Validate(const botsec::serve::Request& http) {
    auto started = std::chrono::steady_clock::now();
    if (http.method != "POST") {
      return {405, "text/plain; charset=utf-8", http.method + " is not allowed here; use POST\n"};
    }
    if (!http.content_type.starts_with("application/json")) {
      metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
      return {400, "text/plain; charset=utf-8",
              "Content-Type must be application/json, not \"" + http.content_type + "\"\n"};
    }
    auto request = botsec::webhook::DecodeReview(http.body);
    if (!request) {
      metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
      return {400, "text/plain; charset=utf-8",
              "bad AdmissionReview: " + request.error().message + "\n"};
    }
    botsec::webhook::RequestFacts facts;
    if (request->operation == "DELETE" && !request->namespace_.empty()) {
      facts.namespace_terminating = Terminating(request->namespace_);
    }
    Decision decision = botsec::webhook::Decide(*request, settings_, facts);
    if (!decision.secrets_to_authorize.empty()) {
      botsec::webhook::DenyUnreadableSecrets(
          decision, Unreadable(*request, decision.secrets_to_authorize), *request, settings_);
    }
    std::string verdict = !decision.verdict.allowed            ? "denied"
                          : !decision.verdict.warnings.empty() ? "warned"
                                                               : "allowed";
    metrics_.Count(decision.concern, verdict, std::chrono::steady_clock::now() - started);
    for (const auto& violation : decision.violations) {
      metrics_.Violation(decision.concern, violation.check);
    }
    Audit(*request, decision, verdict);
    return {200, "application/json", botsec::webhook::EncodeReview(*request, decision.verdict)};
  }

 private:
  // Whether the namespace is being deleted; false (fail closed) when it cannot be read.
  bool Terminating(const std::string& ns) const {
    auto found = client_.Get(botsec::kube::resources::Namespaces(), "", ns);
    return found && found->contains("metadata") &&
           (*found)["metadata"].contains("deletionTimestamp");
  }

  // The Secrets of `names` the requesting user may not get (or that could not be checked: fail
  // closed), by SubjectAccessReview.
  std::vector<std::string> Unreadable(const AdmissionRequest& request,
                                      const std::vector<std::string>& names) const {
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
      if (!answered || !answered->value("/status/allowed"_json_pointer, false)) {
        if (!answered) {
          std::cerr << "SubjectAccessReview failed secret=" << request.namespace_ << "/" << name
                    << " error=\"" << answered.error().message << "\"\n";
        }
        unreadable.push_back(name);
      }
    }
    return unreadable;
  }

  void Audit(const AdmissionRequest& request, const Decision& decision,
             const std::string& verdict) {
    Json violations = Json::array();
    for (const auto& violation : decision.violations) {
      violations.push_back(
          {{"check", violation.check}, {"field", violation.field}, {"message", violation.message}});
    }
    Json line = {{"ts", botsec::core::FormatRfc3339(std::chrono::system_clock::now())},
                 {"msg", "Admission decision"},
                 {"uid", request.uid},
                 {"user", request.user.username},
                 {"operation", request.operation},
                 {"resource", request.resource.resource},
                 {"subResource", request.sub_resource},
                 {"namespace", request.namespace_},
                 {"name", request.name},
                 {"dryRun", request.dry_run},
                 {"concern", decision.concern},
                 {"verdict", verdict},
                 {"violations", std::move(violations)}};
    std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::lock_guard lock(audit_mu_);
    std::cout << text << "\n" << std::flush;
  }

  botsec::webhook::WebhookSettings settings_;
  botsec::kube::Client client_;
  WebhookMetrics& metrics_;
  std::mutex audit_mu_;
};

botsec::core::Result<botsec::webhook::WebhookSettings> Settings(
    const botsec::core::ParsedFlags& flags) {
  botsec::webhook::WebhookSettings settings;
  if (std::string path(flags.Get("policy")); !path.empty()) {
    auto policy = botsec::policy::ReadPolicyFile(path);
    if (!policy) {
      return botsec::core::Fail(policy.error());
    }
    settings.sandbox.policy = *policy;
  }
  settings.operator_username = std::string(flags.Get("operator-username"));
  if (settings.operator_username.empty()) {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--operator-username: required (the operator's user name, as the "
                              "API server authenticates it)");
  }
  std::string mode(flags.Get("mode"));
  if (mode != "enforce" && mode != "warn") {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--mode: \"" + mode + "\": want enforce or warn");
  }
  settings.warn_only = mode == "warn";
  return settings;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  botsec::core::FlagSet flags("botsec-webhook",
                              "validating admission webhook: rejects bot pods, workload templates "
                              "and ephemeral containers that lack the required isolation");
  flags
      .String("kubeconfig", "PATH", "",
              "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
      .String("bind-address", "ADDRESS", ":9443",
              "serve HTTPS here: /validate, /healthz, /readyz and /metrics")
      .String("tls-cert-file", "FILE", "", "serving certificate (PEM), reloaded when it changes")
      .String("tls-private-key-file", "FILE", "", "its private key (PEM)")
      .String("threads", "N", "2", "threads serving connections")
      .String("policy", "FILE", "", "the policy document (libs/policy)")
      .String("operator-username", "USER", "system:serviceaccount:botsec-system:botsec-operator",
              "the operator's identity: the only one that may change a sandbox's fences")
      .String("mode", "MODE", "enforce", "enforce: refuse violations; warn: admit with warnings");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  auto settings = Settings(outcome.flags);
  if (!settings) {
    std::cerr << "botsec-webhook: " << settings.error().message << "\n";
    return 2;
  }
  std::string cert(outcome.flags.Get("tls-cert-file"));
  std::string key(outcome.flags.Get("tls-private-key-file"));
  if (cert.empty() || key.empty()) {
    std::cerr << "botsec-webhook: --tls-cert-file and --tls-private-key-file are required: the "
                 "API server calls webhooks over HTTPS only\n";
    return 2;
  }
  std::string threads_text(outcome.flags.Get("threads"));
  if (threads_text.empty() || threads_text.size() > 2 ||
      threads_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(threads_text) < 1) {
    std::cerr << "botsec-webhook: --threads: \"" << threads_text
              << "\" is not a number from 1 to 99\n";
    return 2;
  }
  auto client = botsec::kube::NewClient(std::string(outcome.flags.Get("kubeconfig")));
  if (!client) {
    std::cerr << "botsec-webhook: " << client.error().message << "\n";
    return 2;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  WebhookMetrics metrics(*registry);
  Admission admission(*settings, client->WithTimeout(std::chrono::seconds(2)), metrics);
  auto ping = [] { return botsec::core::Result<void>{}; };
  botsec::serve::Routes routes{
      {"/validate",
       [&admission](const botsec::serve::Request& request) { return admission.Validate(request); }},
      {"/healthz", botsec::serve::HealthHandler("healthz", {{"ping", ping}})},
      {"/readyz", botsec::serve::HealthHandler("readyz", {{"ping", ping}})},
      {"/metrics", botsec::serve::MetricsHandler(registry)},
  };
  std::string address(outcome.flags.Get("bind-address"));
  auto server = botsec::serve::Server::Start({.bind_address = address,
                                              .tls = botsec::serve::TlsFiles{cert, key},
                                              .threads = std::stoi(threads_text),
                                              .max_body_bytes = botsec::webhook::kMaxReviewBytes},
                                             std::move(routes));
  if (!server) {
    std::cerr << "botsec-webhook: " << server.error().message << "\n";
    return 2;
  }
  auto bind = botsec::serve::ParseBindAddress(address);
  std::cerr << "Serving paths=/validate,/healthz,/readyz,/metrics address=" << bind->host << ":"
            << (*server)->port() << " mode=" << outcome.flags.Get("mode") << "\n";
  while (g_signalled == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "Stopping signal=" << g_signalled.load() << "\n";
  (*server)->Shutdown(std::chrono::seconds(10));
  return 0;
}
