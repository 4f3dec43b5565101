// A fault-injecting HTTPS reverse proxy for integration tests, so the client's recovery paths run
// against the real kube-apiserver rather than an imitation of it. It listens on 127.0.0.1 and
// presents the API server's own serving certificate, so a client that trusts the cluster's CA
// connects unchanged; it forwards each request upstream with the admin's client certificate and
// streams the answer back as it arrives (a watch passes event by event). On demand it misbehaves
// the way networks and API servers do: it drops connections, stalls a stream, delays a request,
// or answers 429/500/410 itself. Tests then check that the client still reaches exactly the
// server's state, and, through Fired and Requests, that each fault really happened.
//
// Boost.Asio and Boost.Beast appear only in this library. Every client connection has a thread of
// its own, and the proxy owns and joins them all.
//
// Thread-safety: every public method may be called from any thread.
#ifndef BOTSEC_TESTS_SUPPORT_FAULT_PROXY_H_
#define BOTSEC_TESTS_SUPPORT_FAULT_PROXY_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::testing {

enum class FaultKind {
  // Answers `status` itself, without forwarding: a metav1.Status body in the API server's words
  // (429 TooManyRequests with Retry-After, 500 InternalError, 410 Expired, ...). The connection
  // stays open for the next request.
  kRespond,
  // Closes the client's connection (and its upstream one): before forwarding the request when
  // `after_bytes` < 0, else after forwarding the answer's headers and `after_bytes` of its body
  // (a truncated answer, or a watch cut in the middle of an event).
  kDropConnection,
  // Forwards the request, then stops forwarding the answer for `duration` once `after_bytes` of its
  // body have gone out (right after the headers when <= 0), without closing anything.
  kStallStream,
  // Holds the request for `duration` before forwarding it.
  kDelay,
  // Answers 200 with a single watch event `{"type":"ERROR","object":<Status 410 Expired>}` and
  // closes, as the API server does when a watch starts from a compacted resourceVersion.
  kErrorEvent410,
};

// One fault, applied to the next `times` requests it matches. The first rule (in the order they
// were added) that matches a request and has uses left takes it; the others do not see it.
struct Fault {
  FaultKind kind = FaultKind::kRespond;
  std::string method;                     // "GET", "POST", ...; empty matches every method
  std::string path_contains;              // matched against path and query, e.g. "watch=true"
  std::string path_excludes;              // when set, a path containing it does not match
  int times = 1;                          // FaultProxy::kAlways: until removed
  int status = 500;                       // kRespond
  int retry_after_seconds = 1;            // kRespond with 429: the Retry-After header
  std::chrono::milliseconds duration{0};  // kStallStream, kDelay
  std::int64_t after_bytes = -1;          // kDropConnection, kStallStream
};

// A request the proxy received, whatever it then did with it.
struct SeenRequest {
  std::string method;
  std::string path;  // path and query
  std::chrono::steady_clock::time_point at;
  int fault_id = 0;  // the fault that took it, or 0 when it was forwarded untouched
};

class FaultProxy {
 public:
  static constexpr int kAlways = -1;

  // Listens on 127.0.0.1 at an ephemeral port and forwards to `upstream` ("https://<ip>:<port>").
  // From `pki_dir`: apiserver.crt/.key are presented to clients, admin.crt/.key to the upstream,
  // whose certificate must be signed by ca.crt. Fails when a file cannot be loaded or the port
  // cannot be bound.
  static core::Result<std::unique_ptr<FaultProxy>> Start(const std::string& pki_dir,
                                                         const std::string& upstream);

  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;
  // Stops accepting, closes every connection and joins every thread.
  ~FaultProxy();

  // "https://127.0.0.1:<port>": the server URL a client should use.
  [[nodiscard]] std::string url() const;

  // Arms a fault; returns its id (> 0).
  int Add(Fault fault);
  // Disarms one fault, or all of them. Requests already taken keep their fault.
  void Remove(int id);
  void Clear();
  // How many requests fault `id` has taken so far.
  [[nodiscard]] int Fired(int id) const;

  // Resets every open client connection now, in whatever state it is; returns how many.
  int DropAll();

  // Every request received so far, in order of arrival.
  [[nodiscard]] std::vector<SeenRequest> Requests() const;
  // How many requests had `method` (empty: any) and a path containing `path_contains`.
  [[nodiscard]] int CountRequests(std::string_view method, std::string_view path_contains) const;

 private:
  class Impl;
  explicit FaultProxy(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace botsec::testing

#endif  // BOTSEC_TESTS_SUPPORT_FAULT_PROXY_H_
