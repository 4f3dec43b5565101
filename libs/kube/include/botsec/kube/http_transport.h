// The seam between the Kubernetes client and the network: one request, or one streaming request
// (a watch). The only implementation on the wire is NewHttpTransport (cpprestsdk, TLS through
// OpenSSL); unit tests of what sits above it may substitute their own.
//
// Thread-safety: implementations accept concurrent calls.
#ifndef BOTSEC_KUBE_HTTP_TRANSPORT_H_
#define BOTSEC_KUBE_HTTP_TRANSPORT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "botsec/core/result.h"
#include "botsec/kube/config.h"

namespace botsec::kube {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // path and query, e.g. "/api/v1/namespaces/a/pods?limit=500"
  std::string body;
  std::string content_type;  // of the body
  std::string accept = "application/json";
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when sent
};

class HttpTransport {
 public:
  HttpTransport() = default;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  virtual ~HttpTransport() = default;

  // Sends a request and reads the whole answer. Fails only when no HTTP answer came (connection
  // refused, TLS failure, timeout): those are kUnavailable or kTimeout.
  virtual core::Result<HttpResponse> Send(const HttpRequest& request) = 0;

  // Sends a request whose answer is a stream of lines (a watch). For a 2xx answer, calls
  // `on_line` with each line as it arrives until the server ends the stream, `on_line` returns
  // false, or `stop` is requested; the returned body is then empty. A non-2xx answer is returned
  // whole, without calling `on_line`. `request.timeout` bounds each wait for data.
  virtual core::Result<HttpResponse> Stream(const HttpRequest& request,
                                            const std::function<bool(std::string_view)>& on_line,
                                            std::stop_token stop) = 0;
};

// The transport on the wire, for `config`'s server and credentials.
core::Result<std::unique_ptr<HttpTransport>> NewHttpTransport(const ClusterConfig& config);

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_HTTP_TRANSPORT_H_
