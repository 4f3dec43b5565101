#include "botsec/serve/server.h"

#include <atomic>
#include <charconv>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "botsec/core/file_stamp.h"
#include "tls_socket.h"

namespace botsec::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using core::ErrorCode;
using core::Fail;
using core::Result;
using tcp = asio::ip::tcp;

// Mozilla's "intermediate" TLS 1.2 suites; TLS 1.3 keeps OpenSSL's own (all strong).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr std::size_t kHeaderLimit = std::size_t{16} * 1024;

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read " + path);
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A TLS server context for the pair, or why it cannot be had.
Result<std::shared_ptr<ssl::context>> LoadTls(const TlsFiles& files) {
  auto certificate = ReadFile(files.certificate_file);
  if (!certificate) {
    return Fail(certificate.error());
  }
  auto key = ReadFile(files.private_key_file);
  if (!key) {
    return Fail(key.error());
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code error;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       error);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(context->native_handle(), kTls12Ciphers);
  context->use_certificate_chain(asio::buffer(*certificate), error);
  if (error) {
    return Fail(ErrorCode::kInvalidArgument,
                files.certificate_file + ": not a PEM certificate (" + error.message() + ")");
  }
  context->use_private_key(asio::buffer(*key), ssl::context::pem, error);
  if (error &&
      ERR_GET_REASON(static_cast<unsigned long>(error.value())) ==  // NOLINT(google-runtime-int)
          X509_R_KEY_VALUES_MISMATCH) {
    return Fail(ErrorCode::kInvalidArgument, files.private_key_file +
                                                 ": the private key does not match the "
                                                 "certificate in " +
                                                 files.certificate_file);
  }
  if (error) {
    return Fail(ErrorCode::kInvalidArgument,
                files.private_key_file + ": not a PEM private key (" + error.message() + ")");
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, files.private_key_file +
                                                 ": the private key does not match the "
                                                 "certificate in " +
                                                 files.certificate_file);
  }
  return context;
}

std::string Quote(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
    }
    quoted += c;
  }
  return quoted + "\"";
}

class Session;

// One thread, its event loop, and the connections it owns, touched only on that thread.
struct Worker {
  asio::io_context io{1};
  std::set<std::shared_ptr<Session>> sessions;
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Routes routes)
      : options_(std::move(options)), routes_(std::move(routes)) {
    if (!options_.log) {
      options_.log = [](std::string_view line) { std::cerr << line << "\n"; };
    }
  }

  Result<void> Start();
  void Shutdown(std::chrono::milliseconds grace);

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const ServerOptions& options() const { return options_; }
  [[nodiscard]] const Routes& routes() const { return routes_; }
  void Log(const std::string& line) const { options_.log(line); }

  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::uint64_t> reload_failures{0};
  std::atomic<std::size_t> open{0};
  // Set as Shutdown begins: answers from then on close their connection.
  std::atomic<bool> stopping{false};

 private:
  void Accept();
  void PollCertificate();

  ServerOptions options_;
  Routes routes_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::unique_ptr<tcp::acceptor> acceptor_;  // on workers_[0]
  std::unique_ptr<asio::steady_timer> poll_timer_;
  std::size_t next_worker_ = 0;
  std::uint16_t port_ = 0;
  // The pair in service, and the stamps it was loaded from; the stamps of the last pair that
  // failed, so a broken pair is logged once. Touched only on workers_[0].
  std::shared_ptr<ssl::context> tls_;
  std::pair<core::FileStamp, core::FileStamp> loaded_stamps_;
  std::pair<core::FileStamp, core::FileStamp> failed_stamps_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

namespace {

// One connection: reads a request, answers it, and again while the client keeps it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::shared_ptr<ssl::context>& tls, Worker& worker,
          const Server::Impl& server)
      : socket_(std::move(socket)),
        deadline_timer_(socket_.get_executor()),
        worker_(worker),
        server_(server) {
    if (tls) {
      tls_stream_.emplace(socket_, tls->native_handle());
    }
  }

  void Start() {
    worker_.sessions.insert(shared_from_this());
    if (server_.stopping.load()) {
      Close();
      return;
    }
    Deadline();
    if (tls_stream_) {
      tls_stream_->AsyncHandshake([self = shared_from_this()](beast::error_code error) {
        if (error) {
          self->Close();
          return;
        }
        self->Read();
      });
    } else {
      Read();
    }
  }

  // Closes the connection if it is waiting for a request that has not begun to arrive.
  void CloseIfIdle() {
    if (reading_ && buffer_.size() == 0 && (!parser_ || !parser_->got_some())) {
      Close();
    }
  }

  // Closes the socket now; pending operations end with operation_aborted.
  void Close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    deadline_timer_.cancel();
    worker_.sessions.erase(shared_from_this());
  }

 private:
  // Moves the connection's deadline to the idle timeout from now; past it, the connection is
  // closed, whatever it waits for.
  void Deadline() {
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    server_.options().idle_timeout);
    ArmDeadline();
  }
  // One timer wait at a time: moving the deadline costs no wait, and a wait that ends before
  // the deadline waits again.
  void ArmDeadline() {
    if (deadline_armed_) {
      return;
    }
    deadline_armed_ = true;
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
      self->deadline_armed_ = false;
      if (error || self->closed_) {
        return;
      }
      if (std::chrono::steady_clock::now() < self->deadline_) {
        self->ArmDeadline();
        return;
      }
      self->Close();
    });
  }

  void Read() {
    if (closed_) {
      return;
    }
    if (server_.stopping.load() && buffer_.size() == 0) {
      Close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(server_.options().max_body_bytes);
    reading_ = true;
    Deadline();
    auto done = [self = shared_from_this()](beast::error_code error, std::size_t /*bytes*/) {
      self->reading_ = false;
      self->OnRead(error);
    };
    if (tls_stream_) {
      http::async_read(*tls_stream_, buffer_, *parser_, std::move(done));
    } else {
      http::async_read(socket_, buffer_, *parser_, std::move(done));
    }
  }

  void OnRead(beast::error_code error) {
    if (closed_) {
      return;
    }
    if (error == http::error::body_limit) {
      Answer(413, "text/plain; charset=utf-8",
             "request body is over the limit of " +
                 std::to_string(server_.options().max_body_bytes) + " bytes\n",
             false);
      return;
    }
    if (error == http::error::header_limit) {
      Answer(431, "text/plain; charset=utf-8", "request header fields are too large\n", false);
      return;
    }
    if (error && parser_->got_some() && error != beast::error::timeout &&
        error != asio::error::operation_aborted && error != http::error::end_of_stream &&
        error != asio::error::eof && error != asio::ssl::error::stream_truncated) {
      Answer(400, "text/plain; charset=utf-8", "malformed HTTP request: " + error.message() + "\n",
             false);
      return;
    }
    if (error) {
      Close();
      return;
    }
    auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    std::string_view target(message.target().data(), message.target().size());
    std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
      request.query = std::string(target.substr(question + 1));
    }
    request.content_type = std::string(message[http::field::content_type]);
    request.body = std::move(message.body());  // the parser is replaced before the next read
    bool keep_alive = message.keep_alive();
    Response response = Handle(request);
    Answer(response.status, response.content_type, std::move(response.body), keep_alive);
  }

  Response Handle(const Request& request) const {
    auto route = server_.routes().find(request.path);
    if (route == server_.routes().end()) {
      return {404, "text/plain; charset=utf-8", "no handler for " + request.path + "\n"};
    }
    try {
      return route->second(request);
    } catch (const std::exception& error) {
      server_.Log("Handler failed path=" + request.path + " error=" + Quote(error.what()));
      return {500, "text/plain; charset=utf-8", "internal error\n"};
    }
  }

  void Answer(int status, const std::string& content_type, std::string body, bool keep_alive) {
    keep_alive = keep_alive && !server_.stopping.load();
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(status));
    response_.set(http::field::content_type, content_type);
    response_.set(http::field::cache_control, "no-store");
    response_.body() = std::move(body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    Deadline();
    auto done = [self = shared_from_this(), keep_alive](beast::error_code error,
                                                        std::size_t /*bytes*/) {
      if (error || !keep_alive) {
        self->Finish();
        return;
      }
      self->Read();
    };
    if (tls_stream_) {
      http::async_write(*tls_stream_, response_, std::move(done));
    } else {
      http::async_write(socket_, response_, std::move(done));
    }
  }

  // Ends the connection politely: TLS close_notify, then the socket.
  void Finish() {
    if (closed_) {
      return;
    }
    if (tls_stream_) {
      tls_stream_->AsyncShutdown([self = shared_from_this()](beast::error_code) { self->Close(); });
      return;
    }
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    Close();
  }

  tcp::socket socket_;
  asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool deadline_armed_ = false;
  std::optional<internal::TlsSocket> tls_stream_;  // over socket_; none for plain HTTP
  Worker& worker_;
  const Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool reading_ = false;
  bool closed_ = false;
};

}  // namespace

Result<void> Server::Impl::Start() {
  auto address = ParseBindAddress(options_.bind_address);
  if (!address) {
    return Fail(address.error());
  }
  if (options_.tls) {
    auto loaded = LoadTls(*options_.tls);
    if (!loaded) {
      return Fail(loaded.error());
    }
    tls_ = *loaded;
    loaded_stamps_ = {core::StampOf(options_.tls->certificate_file),
                      core::StampOf(options_.tls->private_key_file)};
  }
  int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    guards_.push_back(asio::make_work_guard(workers_.back()->io));
  }
  boost::system::error_code error;
  tcp::endpoint endpoint(asio::ip::make_address(address->host, error), address->port);
  if (error) {
    return Fail(ErrorCode::kInvalidArgument,
                "bind address " + options_.bind_address + ": " + error.message());
  }
  acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->io);
  acceptor_->open(endpoint.protocol(), error);
  if (!error) {
    acceptor_->set_option(asio::socket_base::reuse_address(true), error);
  }
  if (!error) {
    acceptor_->bind(endpoint, error);
  }
  if (!error) {
    acceptor_->listen(asio::socket_base::max_listen_connections, error);
  }
  if (error) {
    return Fail(ErrorCode::kUnavailable,
                "cannot listen on " + options_.bind_address + ": " + error.message());
  }
  port_ = acceptor_->local_endpoint().port();
  Accept();
  if (options_.tls) {
    poll_timer_ = std::make_unique<asio::steady_timer>(workers_[0]->io);
    PollCertificate();
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([&io = worker->io] { io.run(); });
  }
  return {};
}

void Server::Impl::Accept() {
  Worker& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(target.io, [this, &target](beast::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor_->is_open()) {
      return;
    }
    if (!error) {
      // Answers are written whole: without this, a small answer can wait on the client's delayed
      // ACK (40 ms) behind TLS 1.3's session tickets.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      ++open;
      auto session = std::shared_ptr<Session>(new Session(std::move(socket), tls_, target, *this),
                                              [this](Session* gone) {
                                                --open;
                                                delete gone;
                                              });
      asio::post(target.io, [session] { session->Start(); });
    }
    Accept();
  });
}

void Server::Impl::PollCertificate() {
  poll_timer_->expires_after(options_.certificate_poll_interval);
  poll_timer_->async_wait([this](beast::error_code error) {
    if (error) {
      return;
    }
    std::pair<core::FileStamp, core::FileStamp> now{core::StampOf(options_.tls->certificate_file),
                                                    core::StampOf(options_.tls->private_key_file)};
    if (now != loaded_stamps_) {
      auto loaded = LoadTls(*options_.tls);
      if (loaded) {
        tls_ = *loaded;
        loaded_stamps_ = now;
        failed_stamps_ = {};
        ++reloads;
        Log("Loaded serving certificate file=" + options_.tls->certificate_file);
      } else if (now != failed_stamps_) {
        failed_stamps_ = now;
        ++reload_failures;
        Log("Keeping the serving certificate in use: the changed pair does not load error=" +
            Quote(loaded.error().message));
      }
    }
    PollCertificate();
  });
}

void Server::Impl::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(shutdown_mu_);
    if (shut_down_) {
      return;
    }
    shut_down_ = true;
  }
  stopping = true;
  if (workers_.empty()) {
    return;
  }
  asio::post(workers_[0]->io, [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    if (poll_timer_) {
      poll_timer_->cancel();
    }
  });
  for (auto& worker : workers_) {
    asio::post(worker->io, [&w = *worker] {
      for (const auto& session : std::vector(w.sessions.begin(), w.sessions.end())) {
        session->CloseIfIdle();
      }
    });
  }
  guards_.clear();  // each loop returns once its last connection is gone
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (open.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& worker : workers_) {
    asio::post(worker->io, [&w = *worker] {
      for (const auto& session : std::vector(w.sessions.begin(), w.sessions.end())) {
        session->Close();
      }
    });
  }
  for (auto& thread : threads_) {
    thread.join();
  }
  threads_.clear();
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Routes routes) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(routes));
  if (auto started = impl->Start(); !started) {
    impl->Shutdown(std::chrono::milliseconds(0));
    return Fail(started.error());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { impl_->Shutdown(std::chrono::seconds(5)); }
std::uint16_t Server::port() const { return impl_->port(); }
void Server::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }
std::uint64_t Server::certificate_reloads() const { return impl_->reloads.load(); }
std::uint64_t Server::certificate_reload_failures() const { return impl_->reload_failures.load(); }
std::size_t Server::open_connections() const { return impl_->open.load(); }

Result<BindAddress> ParseBindAddress(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"" + std::string(text) + "\" is not host:port (" + why + ")");
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return bad("no port");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  BindAddress address{.host = std::string(host), .port = static_cast<std::uint16_t>(port)};
  if (host.empty()) {
    address.host = "0.0.0.0";
  } else if (host == "localhost") {
    address.host = "127.0.0.1";
  } else if (host.front() == '[' && host.back() == ']' && host.size() > 2) {
    address.host = std::string(host.substr(1, host.size() - 2));
  }
  boost::system::error_code parse_error;
  asio::ip::make_address(address.host, parse_error);
  if (parse_error) {
    return bad("the host must be an IP address");
  }
  return address;
}

}  // namespace botsec::serve
