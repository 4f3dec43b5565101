// botsec-webhook: the validating admission webhook. The decision is webhook/decide's (pure), the
// shell around it webhook/admission's (facts from the API server, audit line, metrics); this
// serves it over HTTPS (libs/serve).
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "botsec/api/settings_flags.h"
#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/policy/policy.h"
#include "botsec/serve/probes.h"
#include "botsec/serve/server.h"
#include "botsec/webhook/admission.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace {

std::atomic<int> g_signalled{0};
void OnSignal(int signal) { g_signalled = signal; }

botsec::core::Result<botsec::webhook::WebhookSettings> Settings(
    const botsec::core::ParsedFlags& flags) {
  botsec::webhook::WebhookSettings settings;
  auto sandbox = botsec::api::SandboxSettingsFromFlags(flags);
  if (!sandbox) {
    return botsec::core::Fail(sandbox.error());
  }
  settings.sandbox = std::move(*sandbox);
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
      .String("operator-username", "USER", "system:serviceaccount:botsec-system:botsec-operator",
              "the operator's identity: the only one that may change a sandbox's fences")
      .String("mode", "MODE", "enforce", "enforce: refuse violations; warn: admit with warnings");
  // As the operator takes them: a BotSandbox is judged by the Pod the operator would render.
  botsec::api::AddSandboxSettingsFlags(flags);
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
  auto threads = outcome.flags.Int("threads", 1, 99);
  if (!threads) {
    std::cerr << "botsec-webhook: " << threads.error().message << "\n";
    return 2;
  }
  auto client = botsec::kube::NewClient(std::string(outcome.flags.Get("kubeconfig")));
  if (!client) {
    std::cerr << "botsec-webhook: " << client.error().message << "\n";
    return 2;
  }

  botsec::webhook::KeepFreedHeapForReuse();
  auto registry = std::make_shared<prometheus::Registry>();
  botsec::webhook::WebhookMetrics metrics(*registry);
  botsec::webhook::ApiServerFacts facts(client->WithTimeout(std::chrono::seconds(2)));
  botsec::webhook::Admission admission(*settings, facts, metrics, std::cout);
  auto ping = [] { return botsec::core::Result<void>{}; };
  botsec::serve::Routes routes{
      {"/validate",
       [&admission](const botsec::serve::Request& request) -> botsec::serve::Response {
         if (request.method != "POST") {
           return {405, "text/plain; charset=utf-8",
                   request.method + " is not allowed here; use POST\n"};
         }
         auto answer = admission.Validate(request.content_type, request.body);
         return {answer.status, std::move(answer.content_type), std::move(answer.body)};
       }},
      {"/healthz", botsec::serve::HealthHandler("healthz", {{"ping", ping}})},
      {"/readyz", botsec::serve::HealthHandler("readyz", {{"ping", ping}})},
      {"/metrics", botsec::serve::MetricsHandler(registry)},
  };
  std::string address(outcome.flags.Get("bind-address"));
  auto server = botsec::serve::Server::Start({.bind_address = address,
                                              .tls = botsec::serve::TlsFiles{cert, key},
                                              .threads = *threads,
                                              .max_body_bytes = botsec::webhook::kMaxReviewBytes},
                                             std::move(routes));
  if (!server) {
    std::cerr << "botsec-webhook: " << server.error().message << "\n";
    return 2;
  }
  auto bind = botsec::serve::ParseBindAddress(address);
  std::cerr << "Serving paths=/validate,/healthz,/readyz,/metrics address=" << bind->host << ":"
            << (*server)->port() << " mode=" << outcome.flags.Get("mode") << "\n";
  std::string policy_path(outcome.flags.Get("policy"));
  botsec::policy::PolicyReloader reloader(policy_path);
  for (int tick = 1; g_signalled == 0; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!policy_path.empty() && tick % 40 == 0) {  // every 2 s
      reloader.PollAndApply([&admission](const auto& policy) { admission.SetPolicy(policy); },
                            std::cerr);
    }
  }
  std::cerr << "Stopping signal=" << g_signalled.load() << "\n";
  (*server)->Shutdown(std::chrono::seconds(10));
  return 0;
}
