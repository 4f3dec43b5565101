#include "support/fault_proxy.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using boost::beast::error_code;
using core::ErrorCode;
using core::Fail;
using tcp = asio::ip::tcp;
using TlsStream = ssl::stream<tcp::socket>;

// Bodies of any size pass. Not boost::none: Beast 1.74 compares a Content-Length against the
// empty optional as though it were a limit of zero and refuses every body.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

// The reason the API server gives with each status code, so the client decodes an injected answer
// exactly as it would a real one.
std::string_view ReasonFor(int status) {
  switch (status) {
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

// A metav1.Status as kube-apiserver writes it.
nlohmann::json StatusObject(int status, int retry_after_seconds) {
  nlohmann::json object = {
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", nlohmann::json::object()},
      {"status", "Failure"},
      {"message", "injected by the fault proxy (HTTP " + std::to_string(status) + ")"},
      {"reason", ReasonFor(status)},
      {"code", status}};
  if (status == 410) {
    object["message"] = "too old resource version: injected by the fault proxy";
  }
  if (status == 429) {
    object["details"] = {{"retryAfterSeconds", retry_after_seconds}};
  }
  return object;
}

bool Matches(const Fault& fault, std::string_view method, std::string_view path) {
  return (fault.method.empty() || fault.method == method) &&
         path.find(fault.path_contains) != std::string_view::npos &&
         (fault.path_excludes.empty() || path.find(fault.path_excludes) == std::string_view::npos);
}

// One client connection, the upstream connection that serves it, and the thread that runs both.
// Its own thread reads and writes the streams; any thread may Drop it. Sockets are shut down by
// file descriptor under `mu_`, and closed only by the owner under the same lock, so a Drop never
// touches a descriptor number the kernel has already handed to someone else.
class Connection {
 public:
  Connection(tcp::socket socket, ssl::context& server_tls)
      : client_fd_(socket.native_handle()), client_(std::move(socket), server_tls) {}

  TlsStream& client() { return client_; }
  TlsStream* upstream() { return upstream_.get(); }

  // Takes a freshly connected upstream stream, replacing (and closing) any previous one. Returns
  // false, closing it, when the connection was dropped meanwhile.
  bool SetUpstream(std::unique_ptr<TlsStream> upstream) {
    std::lock_guard<std::mutex> guard(mu_);
    CloseUpstreamLocked();
    if (upstream == nullptr) {
      return false;
    }
    if (dropped_) {
      error_code ignored;
      upstream->next_layer().close(ignored);
      return false;
    }
    upstream_fd_ = upstream->next_layer().native_handle();
    upstream_ = std::move(upstream);
    return true;
  }

  void CloseUpstream() {
    std::lock_guard<std::mutex> guard(mu_);
    CloseUpstreamLocked();
  }

  // Shuts both sockets down now, with a reset rather than an orderly close, and wakes a Sleep:
  // the owner's blocked reads and writes then fail, and it ends. Returns false when the
  // connection was already dropped or finished.
  bool Drop() {
    std::lock_guard<std::mutex> guard(mu_);
    if (dropped_ || finished_) {
      return false;
    }
    dropped_ = true;
    Reset(client_fd_);
    Reset(upstream_fd_);
    wake_.notify_all();
    return true;
  }

  // Waits for `duration` unless dropped first; returns false when dropped.
  bool Sleep(std::chrono::milliseconds duration) {
    std::unique_lock<std::mutex> lock(mu_);
    return !wake_.wait_for(lock, duration, [this] { return dropped_; });
  }

  [[nodiscard]] bool dropped() const {
    std::lock_guard<std::mutex> guard(mu_);
    return dropped_;
  }

  // Called by the owner last: closes both sockets.
  void Finish() {
    std::lock_guard<std::mutex> guard(mu_);
    finished_ = true;
    CloseUpstreamLocked();
    error_code ignored;
    client_.next_layer().close(ignored);
    client_fd_ = -1;
  }

  [[nodiscard]] bool finished() const {
    std::lock_guard<std::mutex> guard(mu_);
    return finished_;
  }

  std::thread thread;  // started and joined by the proxy

 private:
  static void Reset(int fd) {
    if (fd < 0) {
      return;
    }
    linger abort{.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    shutdown(fd, SHUT_RDWR);
  }

  void CloseUpstreamLocked() {
    if (upstream_) {
      error_code ignored;
      upstream_->next_layer().close(ignored);
      upstream_.reset();
    }
    upstream_fd_ = -1;
  }

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool dropped_ = false;
  bool finished_ = false;
  int client_fd_;
  int upstream_fd_ = -1;
  TlsStream client_;
  std::unique_ptr<TlsStream> upstream_;
};

// How to pass one answer on: where to stall it and where to cut it.
struct RelayPlan {
  std::int64_t stall_after = -1;  // body bytes before the stall; -1: no stall
  std::chrono::milliseconds stall_for{0};
  std::int64_t drop_after = -1;  // body bytes before the drop; -1: no drop
};

}  // namespace

class FaultProxy::Impl {
 public:
  Impl(ssl::context server_tls, ssl::context client_tls, tcp::endpoint upstream)
      : server_tls_(std::move(server_tls)),
        client_tls_(std::move(client_tls)),
        upstream_(std::move(upstream)),
        acceptor_(io_) {}

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    stopping_.store(true);
    if (accept_thread_.joinable()) {
      // Wakes the blocking accept (Linux answers EINVAL) without racing a close of the socket.
      shutdown(acceptor_.native_handle(), SHUT_RDWR);
      accept_thread_.join();
    }
    error_code ignored;
    acceptor_.close(ignored);
    std::list<std::unique_ptr<Connection>> connections;
    {
      std::lock_guard<std::mutex> guard(mu_);
      for (auto& connection : connections_) {
        connection->Drop();
      }
      connections.swap(connections_);
    }
    for (auto& connection : connections) {
      connection->thread.join();
    }
  }

  core::Result<void> Listen() {
    error_code ec;
    tcp::endpoint local(asio::ip::make_address_v4("127.0.0.1"), 0);
    acceptor_.open(local.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(local, ec);
    }
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return Fail(ErrorCode::kUnavailable, "fault proxy: listening on 127.0.0.1: " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return {};
  }

  [[nodiscard]] int port() const { return port_; }

  int Add(Fault fault) {
    std::lock_guard<std::mutex> guard(mu_);
    int id = ++last_id_;
    rules_.push_back(Rule{id, std::move(fault)});
    fired_[id] = 0;
    return id;
  }

  void Remove(int id) {
    std::lock_guard<std::mutex> guard(mu_);
    std::erase_if(rules_, [id](const Rule& rule) { return rule.id == id; });
  }

  void Clear() {
    std::lock_guard<std::mutex> guard(mu_);
    rules_.clear();
  }

  int Fired(int id) const {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = fired_.find(id);
    return it == fired_.end() ? 0 : it->second;
  }

  int DropAll() {
    std::lock_guard<std::mutex> guard(mu_);
    int dropped = 0;
    for (auto& connection : connections_) {
      dropped += connection->Drop() ? 1 : 0;
    }
    return dropped;
  }

  std::vector<SeenRequest> Requests() const {
    std::lock_guard<std::mutex> guard(mu_);
    return seen_;
  }

 private:
  struct Rule {
    int id;
    Fault fault;
  };

  void AcceptLoop() {
    while (!stopping_.load()) {
      tcp::socket socket(io_);
      error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) {
        if (!stopping_.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // e.g. out of descriptors
        }
        continue;
      }
      std::lock_guard<std::mutex> guard(mu_);
      ReapLocked();
      try {
        auto connection = std::make_unique<Connection>(std::move(socket), server_tls_);
        Connection* raw = connection.get();
        raw->thread = std::thread([this, raw] { Serve(*raw); });
        connections_.push_back(std::move(connection));
      } catch (...) {
        // No TLS state or no thread for it: the client sees its connection close.
      }
    }
  }

  // Joins the threads of connections that have ended; mu_ is held.
  void ReapLocked() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      if ((*it)->finished()) {
        (*it)->thread.join();
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The connection's thread: one request after another until either side closes or a fault ends
  // it. Nothing escapes: a test must see a failed connection, never a terminated process.
  void Serve(Connection& connection) {
    try {
      ServeRequests(connection);
    } catch (...) {
      // The connection just ends, as a broken one would.
    }
    connection.Finish();
  }

  void ServeRequests(Connection& connection) {
    error_code ec;
    connection.client().handshake(ssl::stream_base::server, ec);
    if (ec) {
      return;
    }
    boost::beast::flat_buffer buffer;
    while (!connection.dropped()) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kNoBodyLimit);
      http::read(connection.client(), buffer, parser, ec);
      if (ec) {
        return;
      }
      http::request<http::string_body> request = parser.release();
      std::optional<Rule> rule = Take(request);
      if (!Handle(connection, request, rule ? &rule->fault : nullptr)) {
        return;
      }
    }
  }

  // Logs the request and hands it the first matching fault with uses left.
  std::optional<Rule> Take(const http::request<http::string_body>& request) {
    std::string method(request.method_string());
    std::string path(request.target());
    std::lock_guard<std::mutex> guard(mu_);
    std::optional<Rule> taken;
    for (auto it = rules_.begin(); it != rules_.end(); ++it) {
      if (it->fault.times != 0 && Matches(it->fault, method, path)) {
        taken = *it;
        ++fired_[it->id];
        if (it->fault.times > 0 && --it->fault.times == 0) {
          rules_.erase(it);
        }
        break;
      }
    }
    seen_.push_back(SeenRequest{.method = std::move(method),
                                .path = std::move(path),
                                .at = std::chrono::steady_clock::now(),
                                .fault_id = taken ? taken->id : 0});
    return taken;
  }

  // Answers one request, faulty or not; returns whether the connection may carry another.
  bool Handle(Connection& connection, const http::request<http::string_body>& request,
              const Fault* fault) {
    if (fault == nullptr) {
      return Forward(connection, request, {});
    }
    switch (fault->kind) {
      case FaultKind::kRespond:
        return Respond(connection, request, *fault);
      case FaultKind::kDropConnection:
        if (fault->after_bytes < 0) {
          connection.Drop();
          return false;
        }
        return Forward(connection, request, RelayPlan{.drop_after = fault->after_bytes});
      case FaultKind::kStallStream:
        return Forward(connection, request,
                       RelayPlan{.stall_after = std::max<std::int64_t>(fault->after_bytes, 0),
                                 .stall_for = fault->duration});
      case FaultKind::kDelay:
        return connection.Sleep(fault->duration) && Forward(connection, request, {});
      case FaultKind::kErrorEvent410:
        ErrorEvent410(connection, request);
        return false;
    }
    return false;
  }

  static bool Respond(Connection& connection, const http::request<http::string_body>& request,
                      const Fault& fault) {
    http::response<http::string_body> response{static_cast<http::status>(fault.status),
                                               request.version()};
    response.set(http::field::content_type, "application/json");
    if (fault.status == 429) {
      response.set(http::field::retry_after, std::to_string(fault.retry_after_seconds));
    }
    response.keep_alive(request.keep_alive());
    response.body() = StatusObject(fault.status, fault.retry_after_seconds).dump();
    response.prepare_payload();
    error_code ec;
    http::write(connection.client(), response, ec);
    return !ec && request.keep_alive();
  }

  static void ErrorEvent410(Connection& connection,
                            const http::request<http::string_body>& request) {
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(false);
    response.chunked(true);
    nlohmann::json event = {{"type", "ERROR"}, {"object", StatusObject(410, 0)}};
    response.body() = event.dump() + "\n";
    error_code ec;
    http::write(connection.client(), response, ec);
  }

  // Opens a TLS connection to the API server, as the admin.
  std::unique_ptr<TlsStream> ConnectUpstream() {
    auto upstream = std::make_unique<TlsStream>(io_, client_tls_);
    error_code ec;
    upstream->next_layer().connect(upstream_, ec);
    if (ec) {
      return nullptr;
    }
    upstream->set_verify_mode(ssl::verify_peer, ec);
    upstream->set_verify_callback(ssl::host_name_verification(upstream_.address().to_string()), ec);
    upstream->handshake(ssl::stream_base::client, ec);
    return ec ? nullptr : std::move(upstream);
  }

  // Sends the request upstream, on the connection's upstream connection when it has one. The
  // server may have closed a reused one while it was idle; when not a byte of answer came back,
  // the request was never served, and it gets one fresh connection: a test's faults must be the
  // only ones.
  bool SendUpstream(Connection& connection, const http::request<http::string_body>& request,
                    boost::beast::flat_buffer& buffer,
                    http::response_parser<http::buffer_body>& parser) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = connection.upstream() != nullptr;
      if (!reused && !connection.SetUpstream(ConnectUpstream())) {
        return false;
      }
      error_code ec;
      http::write(*connection.upstream(), request, ec);
      if (!ec) {
        http::read_header(*connection.upstream(), buffer, parser, ec);
      }
      if (!ec) {
        return true;
      }
      connection.CloseUpstream();
      if (!reused || parser.got_some() || buffer.size() > 0 || connection.dropped()) {
        return false;
      }
    }
    return false;
  }

  // Forwards the request and streams the answer back as it arrives, piece by piece (a watch never
  // ends by itself), stalling or cutting it as `plan` says. Returns whether both connections may
  // carry another request.
  bool Forward(Connection& connection, const http::request<http::string_body>& request,
               const RelayPlan& plan) {
    boost::beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(kNoBodyLimit);
    parser.skip(request.method() == http::verb::head);
    if (!SendUpstream(connection, request, buffer, parser)) {
      if (!connection.dropped()) {
        BadGateway(connection, request);
      }
      return false;
    }
    TlsStream& upstream = *connection.upstream();
    http::response_serializer<http::buffer_body> serializer{parser.get()};
    error_code ec;
    http::write_header(connection.client(), serializer, ec);
    if (ec) {
      return false;
    }
    std::array<char, 16384> chunk{};
    std::int64_t forwarded = 0;
    bool stalled = plan.stall_after < 0;
    while (!serializer.is_done()) {
      if (!stalled && forwarded >= plan.stall_after) {
        stalled = true;
        if (!connection.Sleep(plan.stall_for)) {
          return false;
        }
      }
      if (plan.drop_after >= 0 && forwarded >= plan.drop_after) {
        connection.Drop();
        return false;
      }
      auto& body = parser.get().body();
      std::size_t size = 0;
      bool cut = false;  // the drop falls inside this piece
      if (!parser.is_done()) {
        body.data = chunk.data();
        body.size = chunk.size();
        // read_some rather than read: pass on whatever has arrived, one event at a time.
        http::read_some(upstream, buffer, parser, ec);
        if (ec == http::error::need_buffer) {
          ec = {};
        }
        if (ec) {
          return false;
        }
        size = chunk.size() - body.size;
        if (plan.drop_after >= 0 && static_cast<std::int64_t>(size) > plan.drop_after - forwarded) {
          size = static_cast<std::size_t>(plan.drop_after - forwarded);
          cut = true;
        }
      }
      body.data = size > 0 ? chunk.data() : nullptr;
      body.size = size;
      body.more = cut || !parser.is_done();
      http::write(connection.client(), serializer, ec);
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec) {
        return false;
      }
      forwarded += static_cast<std::int64_t>(size);
    }
    if (plan.drop_after >= 0) {
      connection.Drop();  // the answer was shorter than the cut: drop right after it
      return false;
    }
    if (!parser.keep_alive()) {
      connection.CloseUpstream();
      return false;
    }
    return true;
  }

  static void BadGateway(Connection& connection, const http::request<http::string_body>& request) {
    http::response<http::string_body> response{http::status::bad_gateway, request.version()};
    response.set(http::field::content_type, "text/plain");
    response.keep_alive(false);
    response.body() = "fault proxy: the API server could not be reached\n";
    response.prepare_payload();
    error_code ec;
    http::write(connection.client(), response, ec);
  }

  asio::io_context io_;  // never run: it only backs the blocking sockets
  ssl::context server_tls_;
  ssl::context client_tls_;
  tcp::endpoint upstream_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;

  mutable std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::vector<Rule> rules_;
  std::map<int, int> fired_;
  std::vector<SeenRequest> seen_;
  int last_id_ = 0;
};

namespace {

// "https://127.0.0.1:16443" -> its endpoint. The proxy serves tests on this machine only, so the
// host must be an IP address.
core::Result<tcp::endpoint> ParseUpstream(const std::string& upstream) {
  constexpr std::string_view kScheme = "https://";
  std::string_view rest = upstream;
  if (rest.substr(0, kScheme.size()) != kScheme) {
    return Fail(ErrorCode::kInvalidArgument, "fault proxy: upstream " + upstream + ": not https");
  }
  rest.remove_prefix(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "fault proxy: upstream " + upstream + ": no port");
  }
  error_code ec;
  auto address = asio::ip::make_address(std::string(rest.substr(0, colon)), ec);
  std::string_view digits = rest.substr(colon + 1);
  std::uint16_t port = 0;
  auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec || parse_error != std::errc() || end != digits.data() + digits.size() || port == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "fault proxy: upstream " + upstream + ": want https://<ip>:<port>");
  }
  return tcp::endpoint(address, port);
}

}  // namespace

core::Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(const std::string& pki_dir,
                                                            const std::string& upstream) {
  auto endpoint = ParseUpstream(upstream);
  if (!endpoint) {
    return Fail(endpoint.error());
  }
  std::unique_ptr<Impl> impl;
  try {
    ssl::context server_tls(ssl::context::tls_server);
    server_tls.use_certificate_chain_file(pki_dir + "/apiserver.crt");
    server_tls.use_private_key_file(pki_dir + "/apiserver.key", ssl::context::pem);
    ssl::context client_tls(ssl::context::tls_client);
    client_tls.load_verify_file(pki_dir + "/ca.crt");
    client_tls.use_certificate_chain_file(pki_dir + "/admin.crt");
    client_tls.use_private_key_file(pki_dir + "/admin.key", ssl::context::pem);
    impl = std::make_unique<Impl>(std::move(server_tls), std::move(client_tls), *endpoint);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                "fault proxy: loading the TLS material in " + pki_dir + ": " + e.what());
  }
  if (auto listening = impl->Listen(); !listening) {
    return Fail(listening.error());
  }
  return std::unique_ptr<FaultProxy>(new FaultProxy(std::move(impl)));
}

FaultProxy::FaultProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FaultProxy::~FaultProxy() = default;

std::string FaultProxy::url() const { return "https://127.0.0.1:" + std::to_string(impl_->port()); }

int FaultProxy::Add(Fault fault) { return impl_->Add(std::move(fault)); }

void FaultProxy::Remove(int id) { impl_->Remove(id); }

void FaultProxy::Clear() { impl_->Clear(); }

int FaultProxy::Fired(int id) const { return impl_->Fired(id); }

int FaultProxy::DropAll() { return impl_->DropAll(); }

std::vector<SeenRequest> FaultProxy::Requests() const { return impl_->Requests(); }

int FaultProxy::CountRequests(std::string_view method, std::string_view path_contains) const {
  int count = 0;
  for (const SeenRequest& seen : impl_->Requests()) {
    if ((method.empty() || seen.method == method) &&
        seen.path.find(path_contains) != std::string::npos) {
      ++count;
    }
  }
  return count;
}

}  // namespace botsec::testing
