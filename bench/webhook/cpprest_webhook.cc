// A bench-only webhook: botsec-webhook's /validate handler (webhook/admission: decode, Decide,
// count, audit line, encode) served by cpprestsdk's http_listener over HTTPS instead of
// libs/serve's Beast server, so that webhook_bench can show what the HTTP layer costs.
//   cpprest_webhook --kubeconfig F --bind-address 127.0.0.1:PORT --tls-cert-file F
//                   --tls-private-key-file F [--policy FILE] [--threads N]
#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <prometheus/registry.h>
// cpprestsdk's thread pool: after the standard headers, as Boost 1.74's Asio, which it includes,
// uses std::exchange without including <utility>. (clang-format would sort it to the top.)
// clang-format off
#include <pplx/threadpool.h>
// clang-format on

#include "botsec/core/flags.h"
#include "botsec/kube/client.h"
#include "botsec/policy/policy.h"
#include "botsec/webhook/admission.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::methods;
using web::http::status_code;

std::atomic<int> g_signalled{0};
void OnSignal(int signal) { g_signalled = signal; }

// The body, read whole; cpprestsdk hands it over as a task.
void Serve(botsec::webhook::Admission& admission, const http_request& request) {
  std::string content_type = request.headers().content_type();
  request.extract_vector()
      .then([&admission, request, content_type](const std::vector<unsigned char>& bytes) {
        std::string body(bytes.begin(), bytes.end());
        botsec::webhook::HttpAnswer answer = admission.Validate(content_type, body);
        http_response response(static_cast<status_code>(answer.status));
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
  flags.String("kubeconfig", "PATH", "", "kubeconfig file, as botsec-webhook takes it")
      .String("bind-address", "ADDRESS", "127.0.0.1:9443", "serve HTTPS here: host:port")
      .String("tls-cert-file", "FILE", "", "serving certificate (PEM)")
      .String("tls-private-key-file", "FILE", "", "its private key (PEM)")
      .String("threads", "N", "2", "threads of cpprestsdk's pool (its default is 40)")
      .String("policy", "FILE", "", "the policy document (libs/policy)");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  botsec::webhook::WebhookSettings settings;
  if (std::string path(outcome.flags.Get("policy")); !path.empty()) {
    auto policy = botsec::policy::ReadPolicyFile(path);
    if (!policy) {
      std::cerr << "cpprest_webhook: " << policy.error().message << "\n";
      return 2;
    }
    settings.sandbox.policy = *policy;
  }
  auto client = botsec::kube::NewClient(std::string(outcome.flags.Get("kubeconfig")));
  if (!client) {
    std::cerr << "cpprest_webhook: " << client.error().message << "\n";
    return 2;
  }
  std::string cert(outcome.flags.Get("tls-cert-file"));
  std::string key(outcome.flags.Get("tls-private-key-file"));
  auto threads = outcome.flags.Int("threads", 1, 99);
  if (cert.empty() || key.empty() || !threads) {
    std::cerr << "cpprest_webhook: --tls-cert-file and --tls-private-key-file are required"
              << (threads ? "" : "; " + threads.error().message) << "\n";
    return 2;
  }
  // Before anything touches the pool: it is sized once.
  crossplat::threadpool::initialize_with_threads(static_cast<std::size_t>(*threads));

  botsec::webhook::KeepFreedHeapForReuse();
  auto registry = std::make_shared<prometheus::Registry>();
  botsec::webhook::WebhookMetrics metrics(*registry);
  botsec::webhook::ApiServerFacts facts(client->WithTimeout(std::chrono::seconds(2)));
  botsec::webhook::Admission admission(settings, facts, metrics, std::cout);

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
  std::cerr << "Serving paths=/ address=" << address << " threads=" << *threads << "\n";
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
