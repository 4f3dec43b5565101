// The one HTTP(S) server every BotSec binary serves with: the webhook's /validate, and /healthz,
// /readyz and /metrics of both binaries. Boost.Beast over OpenSSL (ADR 0002); no Beast or OpenSSL
// header leaves this library.
//
//  - A few threads, each running its own event loop and owning the connections handed to it
//    (OpenSSL 3.0 contends when many threads share state); one acceptor deals connections out.
//  - HTTPS when given a certificate and key: TLS 1.2 or newer only. The files are checked every
//    `certificate_poll_interval` and a changed pair is loaded for the connections that follow;
//    a pair that does not load (a torn write, a key that does not match) leaves the last good one
//    in service, and is logged once.
//  - Keep-alive; a request body over `max_body_bytes` is refused with 413 before it is read.
//  - Shutdown stops accepting, closes idle keep-alive connections at once, lets requests in
//    flight finish and be answered (with `Connection: close`), then joins its threads.
//
// Handlers run on the connection's thread and must not block for long.
// Thread-safety: every method may be called from any thread.
#ifndef BOTSEC_SERVE_SERVER_H_
#define BOTSEC_SERVE_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "botsec/core/result.h"

namespace botsec::serve {

struct Request {
  std::string method;  // "GET", "POST"
  std::string path;    // the target up to any '?': "/validate"
  std::string query;   // after the '?', undecoded: "timeout=3s"
  std::string content_type;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Response(const Request&)>;

// Handlers by exact path. A path with no handler is answered 404.
using Routes = std::map<std::string, Handler, std::less<>>;

struct TlsFiles {
  std::string certificate_file;  // PEM: the serving certificate, then its chain
  std::string private_key_file;  // PEM
};

struct ServerOptions {
  // "host:port", ":port" (every interface) or "[v6]:port"; port 0 picks a free one.
  std::string bind_address = "127.0.0.1:0";
  std::optional<TlsFiles> tls;  // none: plain HTTP
  int threads = 2;
  std::size_t max_body_bytes = std::size_t{3} << 20;
  // A connection that neither sends a whole request nor is answered within this is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds certificate_poll_interval{std::chrono::seconds(1)};
  // Where the server's own log lines go (structured, one per call); stderr when empty.
  std::function<void(std::string_view)> log;
};

class Server {
 public:
  // Loads the certificate (a pair that does not load fails here, naming the file), binds, and
  // starts the threads.
  static core::Result<std::unique_ptr<Server>> Start(ServerOptions options, Routes routes);
  ~Server();  // Shutdown() with the default grace, if not done yet
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port bound (the one picked, for port 0).
  [[nodiscard]] std::uint16_t port() const;
  // Stops accepting and closes idle connections; requests in flight get up to `grace` to be
  // answered, then every connection is closed and the threads joined. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Certificate pairs loaded after the first, and changed pairs that failed to load.
  [[nodiscard]] std::uint64_t certificate_reloads() const;
  [[nodiscard]] std::uint64_t certificate_reload_failures() const;
  // Connections open now.
  [[nodiscard]] std::size_t open_connections() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct BindAddress {
  std::string host;  // an IP address literal; "0.0.0.0" for ":port"
  std::uint16_t port = 0;
};

// Reads "host:port", ":port", "[::1]:port" or "localhost:port" (127.0.0.1); the host must be an
// IP address literal otherwise.
core::Result<BindAddress> ParseBindAddress(std::string_view text);

}  // namespace botsec::serve

#endif  // BOTSEC_SERVE_SERVER_H_
