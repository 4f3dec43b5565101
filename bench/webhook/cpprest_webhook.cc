// A bench-only webhook: botsec-webhook's /validate handler (decode, Decide, count, audit line,
// encode) served by cpprestsdk's http_listener over HTTPS instead of libs/serve's Beast server, so
// that webhook_bench can show what the HTTP layer costs. Pod reviews only: the handler asks the API
// server nothing (botsec-webhook asks only for DELETEs and BotSandboxes), so there is no client.
//   cpprest_webhook --bind-address 127.0.0.1:PORT --tls-cert-file F --tls-private-key-file F
//                   [--policy FILE] [--threads N]
#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
// cpprestsdk's thread pool: after the standard headers, as Boost 1.74's Asio, which it includes,
// uses std::exchange without including <utility>. (clang-format would sort it to the top.)
// clang-format off
#include <pplx/threadpool.h>
// clang-format on

#include "botsec/core/flags.h"
#include "botsec/core/time.h"
#include "botsec/policy/policy.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace {

using botsec::webhook::AdmissionRequest;
using botsec::webhook::Decision;
using botsec::webhook::Json;
using web::http::http_request;
using web::http::http_response;
using web::http::methods;
using web::http::status_code;

std::atomic<int> g_signalled{0};
void OnSignal(int signal) { g_signalled = signal; }

// As botsec-webhook counts: the same families, labels and buckets.
class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry)
      : requests_(prometheus::BuildCounter()
                      .Name("botsec_webhook_requests_total")
                      .Help("Admission requests by concern and verdict")
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

struct Answer {
  status_code status = 200;
  std::string content_type;
  std::string body;
};

// botsec-webhook's Admission::Validate for pod reviews, line for line.
class Admission {
 public:
  Admission(botsec::webhook::WebhookSettings settings, WebhookMetrics& metrics)
      : settings_(std::move(settings)), metrics_(metrics) {}

  Answer Validate(const std::string& content_type, const std::string& body) {
    auto started = std::chrono::steady_clock::now();
    if (!content_type.starts_with("application/json")) {
      metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
      return {400, "text/plain; charset=utf-8",
              "Content-Type must be application/json, not \"" + content_type + "\"\n"};
    }
    auto request = botsec::webhook::DecodeReview(body);
    if (!request) {
      metrics_.Count("invalid", "invalid", std::chrono::steady_clock::now() - started);
      return {400, "text/plain; charset=utf-8",
              "bad AdmissionReview: " + request.error().message + "\n"};
    }
    Decision decision = botsec::webhook::Decide(*request, settings_, {});
    if (!decision.secrets_to_authorize.empty()) {
      // No API server here to ask: fail closed, as botsec-webhook does when it cannot ask.
      botsec::webhook::DenyUnreadableSecrets(decision, decision.secrets_to_authorize, *request,
                                             settings_);
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
  WebhookMetrics& metrics_;
  std::mutex audit_mu_;
};

botsec::core::Result<botsec::webhook::WebhookSettings> Settings(const std::string& path) {
  botsec::webhook::WebhookSettings settings;
  if (path.empty()) {
    return settings;
  }
  std::ifstream file(path);
  if (!file) {
    return botsec::core::Fail(botsec::core::ErrorCode::kInvalidArgument,
                              "--policy: cannot read " + path);
  }
  std::stringstream text;
  text << file.rdbuf();
  auto policy = botsec::policy::ParsePolicy(text.str());
  if (!policy) {
    return botsec::core::Fail(policy.error().Wrap("--policy " + path));
  }
  settings.sandbox.policy = *policy;
  return settings;
}

// The body, read whole; cpprestsdk hands it over as a task.
void Serve(Admission& admission, const http_request& request) {
  std::string content_type = request.headers().content_type();
  request.extract_vector()
      .then([&admission, request, content_type](const std::vector<unsigned char>& bytes) {
        std::string body(bytes.begin(), bytes.end());
        Answer answer = admission.Validate(content_type, body);
        http_response response(answer.status);
        response.set_body(std::move(answer.body), answer.content_type);
        return request.reply(response);
      })
      .then([](const pplx::task<void>& replied) {
        try {
          replied.get();
        } catch (const std::exception& error) {
          std::cerr << "Reply failed error=\"" << error.what() << "\"\n";
        }
      });
}

}  // namespace

int main(int argc, char** argv) try {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  botsec::core::FlagSet flags("cpprest_webhook",
                              "botsec-webhook's /validate handler behind cpprestsdk's "
                              "http_listener, for webhook_bench");
  flags.String("bind-address", "ADDRESS", "127.0.0.1:9443", "serve HTTPS here: host:port")
      .String("tls-cert-file", "FILE", "", "serving certificate (PEM)")
      .String("tls-private-key-file", "FILE", "", "its private key (PEM)")
      .String("threads", "N", "2", "threads of cpprestsdk's pool (its default is 40)")
      .String("policy", "FILE", "", "the policy document (libs/policy)");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  auto settings = Settings(std::string(outcome.flags.Get("policy")));
  if (!settings) {
    std::cerr << "cpprest_webhook: " << settings.error().message << "\n";
    return 2;
  }
  std::string cert(outcome.flags.Get("tls-cert-file"));
  std::string key(outcome.flags.Get("tls-private-key-file"));
  std::string threads(outcome.flags.Get("threads"));
  if (cert.empty() || key.empty() || threads.empty() ||
      threads.find_first_not_of("0123456789") != std::string::npos || threads.size() > 2 ||
      std::stoi(threads) < 1) {
    std::cerr << "cpprest_webhook: --tls-cert-file, --tls-private-key-file and --threads (1-99) "
                 "are required\n";
    return 2;
  }
  // Before anything touches the pool: it is sized once.
  crossplat::threadpool::initialize_with_threads(static_cast<std::size_t>(std::stoi(threads)));

  auto registry = std::make_shared<prometheus::Registry>();
  WebhookMetrics metrics(*registry);
  Admission admission(*settings, metrics);

  web::http::experimental::listener::http_listener_config config;
  config.set_ssl_context_callback([cert, key](boost::asio::ssl::context& context) {
    context.set_options(boost::asio::ssl::context::default_workarounds |
                        boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                        boost::asio::ssl::context::no_tlsv1 |
                        boost::asio::ssl::context::no_tlsv1_1);
    context.use_certificate_chain_file(cert);
    context.use_private_key_file(key, boost::asio::ssl::context::pem);
  });
  std::string address(outcome.flags.Get("bind-address"));
  web::http::experimental::listener::http_listener listener("https://" + address + "/", config);
  listener.support(methods::POST,
                   [&admission](const http_request& request) { Serve(admission, request); });
  try {
    listener.open().wait();
  } catch (const std::exception& error) {
    std::cerr << "cpprest_webhook: listening on " << address << ": " << error.what() << "\n";
    return 2;
  }
  std::cerr << "Serving paths=/ address=" << address << " threads=" << threads << "\n";
  while (g_signalled == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "Stopping signal=" << g_signalled.load() << "\n";
  listener.close().wait();
  return 0;
} catch (const std::exception& error) {
  std::cerr << "cpprest_webhook: " << error.what() << "\n";
  return 1;
}
