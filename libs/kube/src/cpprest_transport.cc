// The HttpTransport on the wire: cpprestsdk's http_client over OpenSSL. The only file that
// includes cpprestsdk; exceptions stop here and leave as Errors.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include "botsec/core/result.h"
#include "botsec/kube/config.h"
#include "botsec/kube/http_transport.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

// Loads the CA and the client's certificate and key into an OpenSSL context.
void ConfigureTls(boost::asio::ssl::context& ctx, const ClusterConfig& config) {
  if (!config.ca_pem.empty()) {
    ctx.add_certificate_authority(boost::asio::buffer(config.ca_pem));
  }
  if (!config.client_cert_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(config.client_cert_pem));
    ctx.use_private_key(boost::asio::buffer(config.client_key_pem), boost::asio::ssl::context::pem);
  }
}

core::Error FromException(const std::exception& e, const std::string& what) {
  if (const auto* http = dynamic_cast<const web::http::http_exception*>(&e);
      http != nullptr && http->error_code() == std::errc::timed_out) {
    return core::MakeError(ErrorCode::kTimeout, what + ": " + e.what());
  }
  return core::MakeError(ErrorCode::kUnavailable, what + ": " + e.what());
}

class CppRestTransport final : public HttpTransport {
 public:
  explicit CppRestTransport(ClusterConfig config) : config_(std::move(config)) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    try {
      http_response response = ClientFor(request.timeout).request(Build(request)).get();
      return Read(response);
    } catch (const std::exception& e) {
      return Fail(FromException(e, request.method + " " + request.path));
    }
  }

  Result<HttpResponse> Stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_line,
                              std::stop_token stop) override {
    pplx::cancellation_token_source cancel;
    std::stop_callback on_stop(stop, [&cancel] { cancel.cancel(); });
    try {
      // A client of its own: the connection belongs to this stream alone.
      http_client client(utility::conversions::to_string_t(config_.server),
                         MakeClientConfig(request.timeout));
      http_response response = client.request(Build(request), cancel.get_token()).get();
      if (response.status_code() < 200 || response.status_code() > 299) {
        return Read(response);
      }
      ReadLines(response.body().streambuf(), on_line, stop);
      HttpResponse done;
      done.status = response.status_code();
      return done;
    } catch (const std::exception& e) {
      if (stop.stop_requested()) {
        HttpResponse stopped;
        stopped.status = 200;
        return stopped;
      }
      return Fail(FromException(e, request.method + " " + request.path));
    }
  }

 private:
  // Hands `on_line` each line of `body` as it arrives, until the body ends, on_line returns
  // false or a stop is requested. Reads what has arrived in one go, and waits (a task) only when
  // nothing has: cpprestsdk's read_line takes the buffer's lock once per byte and waits once per
  // line, which made it a tenth of the operator's CPU.
  static void ReadLines(concurrency::streams::streambuf<std::uint8_t> body,
                        const std::function<bool(std::string_view)>& on_line,
                        const std::stop_token& stop) {
    constexpr std::size_t kChunk = std::size_t{64} << 10;
    std::vector<std::uint8_t> chunk(kChunk);
    std::string pending;
    while (!stop.stop_requested()) {
      std::size_t ready = std::min<std::size_t>(body.in_avail(), kChunk);
      // Nothing yet: wait for one byte (0 at the end of the body), then take what came with it.
      std::size_t n = body.getn(chunk.data(), std::max<std::size_t>(ready, 1)).get();
      if (n == 0) {
        break;
      }
      pending.append(reinterpret_cast<const char*>(chunk.data()), n);
      std::size_t start = 0;
      for (std::size_t end = pending.find('\n'); end != std::string::npos;
           end = pending.find('\n', start)) {
        std::string_view line(pending.data() + start, end - start);
        start = end + 1;
        if (line.ends_with('\r')) {
          line.remove_suffix(1);
        }
        if (!line.empty() && !on_line(line)) {
          return;
        }
      }
      pending.erase(0, start);
    }
    if (!pending.empty() && !stop.stop_requested()) {
      on_line(pending);  // a last line without its newline
    }
  }

  [[nodiscard]] http_client_config MakeClientConfig(std::chrono::milliseconds timeout) const {
    http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecure_skip_tls_verify);
    ClusterConfig tls = config_;
    cfg.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) { ConfigureTls(ctx, tls); });
    return cfg;
  }

  http_client& ClientFor(std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> guard(mu_);
    auto& client = clients_[timeout.count()];
    if (!client) {
      client = std::make_unique<http_client>(utility::conversions::to_string_t(config_.server),
                                             MakeClientConfig(timeout));
    }
    return *client;
  }

  http_request Build(const HttpRequest& request) {
    http_request out(utility::conversions::to_string_t(request.method));
    out.set_request_uri(utility::conversions::to_string_t(request.path));
    out.headers().add("Accept", request.accept);
    out.headers().add("User-Agent", "botsec");
    if (std::string token = BearerToken(); !token.empty()) {
      out.headers().add("Authorization", "Bearer " + token);
    }
    if (!request.body.empty() || request.method != "GET") {
      out.set_body(request.body,
                   request.content_type.empty() ? "application/json" : request.content_type);
    }
    return out;
  }

  // The inline token, or the token file's content, re-read when the file changes (rotation).
  std::string BearerToken() {
    if (config_.token_file.empty()) {
      return config_.token;
    }
    std::lock_guard<std::mutex> guard(mu_);
    struct stat info {};
    if (stat(config_.token_file.c_str(), &info) == 0 && info.st_mtim.tv_sec != token_mtime_) {
      if (auto token = ReadFile(config_.token_file); token) {
        token_ = *token;
        while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) {
          token_.pop_back();
        }
        token_mtime_ = info.st_mtim.tv_sec;
      }
    }
    return token_;
  }

  static Result<HttpResponse> Read(http_response& response) {
    HttpResponse out;
    out.status = response.status_code();
    std::vector<unsigned char> bytes = response.extract_vector().get();
    out.body.assign(bytes.begin(), bytes.end());
    if (auto it = response.headers().find("Retry-After"); it != response.headers().end()) {
      out.retry_after = it->second;
    }
    return out;
  }

  ClusterConfig config_;
  std::mutex mu_;
  std::map<std::int64_t, std::unique_ptr<http_client>> clients_;
  std::string token_;
  std::int64_t token_mtime_ = -1;
};

}  // namespace

Result<std::unique_ptr<HttpTransport>> NewHttpTransport(const ClusterConfig& config) {
  if (!config.tls_server_name.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                config.source + ": tls-server-name is not supported by this client");
  }
  // Load the TLS material once now, so a bad certificate is reported here, by name, rather than
  // as a failure of every request.
  try {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    ConfigureTls(ctx, config);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                config.source + ": the CA or client certificate cannot be loaded: " + e.what());
  }
  return std::unique_ptr<HttpTransport>(std::make_unique<CppRestTransport>(config));
}

}  // namespace botsec::kube
