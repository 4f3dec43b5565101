// The server over real loopback sockets: routing, limits, malformed input, TLS versions, the
// certificate reload (including a torn write), and a graceful shutdown.
#include "botsec/serve/server.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "support/command.h"

namespace botsec::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;
  std::string body;
  bool keep_alive = false;
};

// A plain HTTP/1.1 connection to the server.
class PlainClient {
 public:
  explicit PlainClient(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  Reply Send(http::verb verb, const std::string& target, const std::string& body = "") {
    http::request<http::string_body> request(verb, target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.body() = body;
    request.prepare_payload();
    http::write(socket_, request);
    return Receive();
  }
  Reply Receive() {
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    return {static_cast<int>(response.result_int()), response.body(), response.keep_alive()};
  }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// Connects over TLS with the given highest protocol version; returns the served certificate's
// common name, or "" when the handshake fails.
std::string ServedCommonName(std::uint16_t port, int max_version = TLS1_3_VERSION) {
  asio::io_context io;
  ssl::context context(ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(context.native_handle(), max_version);
  context.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket> stream(io, context);
  beast::error_code error;
  stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), error);
  if (!error) {
    stream.handshake(ssl::stream_base::client, error);
  }
  if (error) {
    return "";
  }
  X509* certificate = SSL_get1_peer_certificate(stream.native_handle());
  std::string name(256, '\0');
  int length = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName,
                                         name.data(), static_cast<int>(name.size()));
  X509_free(certificate);
  http::request<http::string_body> request(http::verb::get, "/ping", 11);
  request.set(http::field::host, "127.0.0.1");
  http::write(stream, request, error);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, error);
  if (error || response.body() != "pong") {
    return "";
  }
  return name.substr(0, std::max(length, 0));
}

Routes TestRoutes() {
  return {
      {"/ping",
       [](const Request&) {
         return Response{200, "text/plain", "pong"};
       }},
      {"/echo",
       [](const Request& request) {
         return Response{200, "text/plain",
                         request.method + " " + request.query + " " + request.content_type + " " +
                             request.body};
       }},
      {"/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); }},
      {"/slow",
       [](const Request&) {
         std::this_thread::sleep_for(400ms);
         return Response{200, "text/plain", "done"};
       }},
  };
}

ServerOptions Quiet(ServerOptions options) {
  options.log = [](std::string_view) {};
  return options;
}

TEST(ServerTest, RoutesKeepsAliveAndAnswersUnknownPathsWith404) {
  auto server = Server::Start(Quiet({}), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  PlainClient client((*server)->port());
  Reply first = client.Send(http::verb::post, "/echo?dryRun=All", "{\"a\":1}");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "POST dryRun=All  {\"a\":1}");
  EXPECT_TRUE(first.keep_alive);
  Reply second = client.Send(http::verb::get, "/nope");  // same connection
  EXPECT_EQ(second.status, 404);
  EXPECT_EQ(second.body, "no handler for /nope\n");
  EXPECT_EQ(client.Send(http::verb::get, "/throw").status, 500);
  EXPECT_EQ(client.Send(http::verb::get, "/ping").body, "pong");
}

TEST(ServerTest, RefusesABodyOverTheLimitBeforeReadingIt) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto server = Server::Start(Quiet(options), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  PlainClient client((*server)->port());
  EXPECT_EQ(client.Send(http::verb::post, "/echo", std::string(1024, 'x')).status, 200);
  Reply over = client.Send(http::verb::post, "/echo", std::string(1025, 'x'));
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(over.body, "request body is over the limit of 1024 bytes\n");
  EXPECT_FALSE(over.keep_alive);
}

TEST(ServerTest, AnswersMalformedRequestsWith400) {
  auto server = Server::Start(Quiet({}), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  PlainClient client((*server)->port());
  asio::write(client.socket(), asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  Reply reply = client.Receive();
  EXPECT_EQ(reply.status, 400);
  EXPECT_TRUE(reply.body.starts_with("malformed HTTP request: ")) << reply.body;
}

TEST(ServerTest, ShutdownClosesIdleConnectionsAndAnswersTheOneInFlight) {
  auto server = Server::Start(Quiet({}), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  PlainClient idle((*server)->port());
  EXPECT_EQ(idle.Send(http::verb::get, "/ping").status, 200);
  PlainClient busy((*server)->port());
  auto slow = std::async(std::launch::async, [&] { return busy.Send(http::verb::get, "/slow"); });
  std::this_thread::sleep_for(100ms);  // the slow request is in its handler
  auto started = std::chrono::steady_clock::now();
  (*server)->Shutdown(5s);
  auto took = std::chrono::steady_clock::now() - started;
  Reply answered = slow.get();
  EXPECT_EQ(answered.status, 200);
  EXPECT_EQ(answered.body, "done");
  EXPECT_FALSE(answered.keep_alive) << "a response during shutdown says Connection: close";
  EXPECT_LT(took, 3s) << "Shutdown waited for the idle connection instead of closing it";
  std::array<char, 16> byte{};
  beast::error_code error;
  idle.socket().read_some(asio::buffer(byte), error);
  EXPECT_EQ(error, asio::error::eof) << "the idle keep-alive connection was not closed";
  EXPECT_EQ((*server)->open_connections(), 0U);
}

TEST(ServerTest, RefusesToStartOnABadBindAddress) {
  ServerOptions options;
  options.bind_address = "127.0.0.1:http";
  auto server = Server::Start(Quiet(options), TestRoutes());
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().message,
            "\"127.0.0.1:http\" is not host:port (the port must be a number from 0 to 65535)");
}

TEST(ParseBindAddressTest, ReadsTheFormsControllerRuntimeAccepts) {
  auto any = ParseBindAddress(":8080");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 8080);
  auto local = ParseBindAddress("localhost:0");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "127.0.0.1");
  auto v6 = ParseBindAddress("[::1]:8443");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8443);
  EXPECT_FALSE(ParseBindAddress("8080"));
  EXPECT_FALSE(ParseBindAddress("example.com:80"));
  EXPECT_FALSE(ParseBindAddress("127.0.0.1:65536"));
  EXPECT_FALSE(ParseBindAddress("127.0.0.1:"));
}

// Certificates made with openssl in a directory of the test's own.
class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("botsec-serve-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    for (const char* name : {"alpha", "beta", "gamma"}) {
      auto made = testing::RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                       "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                                       std::string("/CN=") + name, "-keyout", Path(name, "key"),
                                       "-out", Path(name, "crt")});
      ASSERT_TRUE(made && made->ok()) << (made ? made->err : made.error().message);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  [[nodiscard]] std::string Path(const std::string& name, const std::string& ext) const {
    return (dir_ / (name + "." + ext)).string();
  }
  // Writes `name`'s certificate or key over the served file.
  void Install(const std::string& name, const std::string& ext) const {
    std::filesystem::copy_file(Path(name, ext), Path("served", ext),
                               std::filesystem::copy_options::overwrite_existing);
  }
  [[nodiscard]] ServerOptions Options() const {
    ServerOptions options;
    options.tls = TlsFiles{Path("served", "crt"), Path("served", "key")};
    options.certificate_poll_interval = 50ms;
    return Quiet(options);
  }
  // Polls until a new connection is served `want`, for up to 5 s.
  static bool ServedWithin(std::uint16_t port, const std::string& want) {
    for (int i = 0; i < 100; ++i) {
      if (ServedCommonName(port) == want) {
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::filesystem::path dir_;
};

TEST_F(TlsServerTest, ServesTls12AndNewerOnly) {
  Install("alpha", "crt");
  Install("alpha", "key");
  auto server = Server::Start(Options(), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(ServedCommonName((*server)->port(), TLS1_3_VERSION), "alpha");
  EXPECT_EQ(ServedCommonName((*server)->port(), TLS1_2_VERSION), "alpha");
  EXPECT_EQ(ServedCommonName((*server)->port(), TLS1_1_VERSION), "") << "TLS 1.1 was accepted";
}

TEST_F(TlsServerTest, ReloadsAChangedPairAndKeepsTheLastGoodOneOnATornWrite) {
  Install("alpha", "crt");
  Install("alpha", "key");
  auto server = Server::Start(Options(), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  std::uint16_t port = (*server)->port();
  ASSERT_EQ(ServedCommonName(port), "alpha");

  Install("beta", "crt");
  Install("beta", "key");
  EXPECT_TRUE(ServedWithin(port, "beta"));
  EXPECT_EQ((*server)->certificate_reloads(), 1U);

  // Half a rotation: gamma's certificate beside beta's key does not load; beta stays.
  Install("gamma", "crt");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ServedCommonName(port), "beta");
  EXPECT_EQ((*server)->certificate_reload_failures(), 1U);

  Install("gamma", "key");
  EXPECT_TRUE(ServedWithin(port, "gamma"));
  EXPECT_EQ((*server)->certificate_reloads(), 2U);
}

// A TLS connection to the server, handshake done (the certificate is not checked).
struct TlsClient {
  explicit TlsClient(std::uint16_t port) {
    context.set_verify_mode(ssl::verify_none);
    stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.handshake(ssl::stream_base::client);
  }
  asio::io_context io;
  ssl::context context{ssl::context::tls_client};
  ssl::stream<tcp::socket> stream{io, context};
};

// One TLS connection kept alive across requests whose bodies and answers span many TLS records
// (the server reads and writes through OpenSSL on the socket itself, tls_socket.h); a request
// asking to close gets its answer, then close_notify.
TEST_F(TlsServerTest, KeepsAliveAcrossRecordsAndClosesWithCloseNotify) {
  Install("alpha", "crt");
  Install("alpha", "key");
  auto server = Server::Start(Options(), TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  TlsClient client((*server)->port());
  auto& stream = client.stream;
  beast::flat_buffer buffer;
  for (std::size_t size : {std::size_t{10}, std::size_t{100000}, std::size_t{16384}}) {
    std::string body(size, 'x');
    body.front() = '{';
    body.back() = '}';
    http::request<http::string_body> request(http::verb::post, "/echo", 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    EXPECT_EQ(response.result_int(), 200U);
    EXPECT_EQ(response.body(), "POST  application/json " + body) << "body of " << size;
    EXPECT_TRUE(response.keep_alive());
  }
  http::request<http::string_body> last(http::verb::get, "/ping", 11);
  last.set(http::field::host, "127.0.0.1");
  last.keep_alive(false);
  http::write(stream, last);
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  EXPECT_EQ(response.body(), "pong");
  std::array<char, 1> more{};
  beast::error_code error;
  stream.read_some(asio::buffer(more), error);
  EXPECT_EQ(error, asio::error::eof) << error.message() << ": no close_notify";
}

// A connection that sends nothing for longer than the idle timeout is closed, over TLS (after
// its handshake) and plain HTTP alike.
TEST_F(TlsServerTest, ClosesAConnectionIdleLongerThanTheTimeout) {
  Install("alpha", "crt");
  Install("alpha", "key");
  ServerOptions options = Options();
  options.idle_timeout = 300ms;
  auto server = Server::Start(options, TestRoutes());
  ASSERT_TRUE(server) << server.error().message;
  TlsClient client((*server)->port());
  auto& stream = client.stream;
  auto started = std::chrono::steady_clock::now();
  std::array<char, 1> byte{};
  beast::error_code error;
  stream.read_some(asio::buffer(byte), error);  // blocks until the server closes
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(error) << "the idle connection was not closed";
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 5s);

  ServerOptions plain_options;
  plain_options.idle_timeout = 300ms;
  auto plain = Server::Start(Quiet(plain_options), TestRoutes());
  ASSERT_TRUE(plain) << plain.error().message;
  PlainClient plain_client((*plain)->port());
  started = std::chrono::steady_clock::now();
  plain_client.socket().read_some(asio::buffer(byte), error);
  EXPECT_EQ(error, asio::error::eof);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(TlsServerTest, RefusesToStartWithAKeyThatDoesNotMatch) {
  Install("alpha", "crt");
  Install("beta", "key");
  auto server = Server::Start(Options(), TestRoutes());
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().message, Path("served", "key") +
                                        ": the private key does not match the certificate in " +
                                        Path("served", "crt"));
}

}  // namespace
}  // namespace botsec::serve
