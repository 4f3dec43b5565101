// make bench: botsec-webhook against upstream's Pod Security Admission webhook and against the same
// handler behind cpprestsdk, over HTTPS on this machine, in one run. It builds a mixed corpus of
// AdmissionReviews (pods CREATE, admitted and refused) from bench/policy/pods, starts the three
// servers on a fresh CA and serving certificate, sends every review once to each and fails unless
// they agree on every verdict, then loads each in turn, with this process as the client:
//   keep-alive   N connections, each sending its next request when the last is answered
//   rate         a fixed rate (1,000/s), open loop: latency counts from when a request was due
//   new TLS      a new connection per request (full handshake), N at a time
// and prints requests/s, p50 and p99 latency, the server's CPU per review and its RSS, per profile
// (pss-restricted, then bot; upstream has no bot profile, so the bot table repeats its restricted
// row for reference), with the ratios botsec/upstream and whether the issue's goals are met.
//   webhook_bench --psa-webhook PATH --kubeconfig PATH [--seconds S] [--rate R] ...
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "botsec/core/flags.h"
#include "botsec/core/result.h"
#include "support/child_process.h"

#ifndef BOTSEC_POLICY_PODS_DIR
#define BOTSEC_POLICY_PODS_DIR "bench/policy/pods"
#endif
#ifndef BOTSEC_WEBHOOK_PATH
#define BOTSEC_WEBHOOK_PATH "build/bin/botsec-webhook"
#endif
#ifndef BOTSEC_CPPREST_WEBHOOK_PATH
#define BOTSEC_CPPREST_WEBHOOK_PATH "build/cmake/bench/cpprest_webhook"
#endif

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using botsec::bench::ChildProcess;
using botsec::bench::ProcessUsage;
using botsec::core::ErrorCode;
using botsec::core::Fail;
using botsec::core::Result;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// The corpus.

// One AdmissionReview, and the HTTP/1.1 requests that carry it: the API server posts to the
// webhook's path with its timeout as a query, Content-Type application/json.
struct Review {
  std::string name;  // "bot-typical.json", "bot-typical.json, escalates"
  std::string body;
  std::string keep_alive;  // the request on a kept-alive connection
  std::string close;       // the same with Connection: close
};

// The pod files as they are, and variants of the typical bot pod that break one rule each, so
// that refusals are not all of the many-violations kind: one refused by both profiles, one
// admitted by pss-restricted and refused by bot.
Result<std::vector<std::pair<std::string, Json>>> LoadPods(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  if (error || files.empty()) {
    return Fail(ErrorCode::kInvalidArgument, dir + ": no *.json pods");
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, Json>> pods;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    Json pod = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (pod.is_discarded() || !pod.is_object() || pod.value("kind", "") != "Pod") {
      return Fail(ErrorCode::kInvalidArgument, file.string() + ": not a Pod in JSON");
    }
    pods.emplace_back(file.filename().string(), std::move(pod));
  }
  for (const auto& [name, pod] : std::vector(pods)) {
    if (name != "bot-typical.json" || !pod.contains("spec")) {
      continue;
    }
    Json escalates = pod;
    escalates["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true;
    pods.emplace_back(name + ", escalates", std::move(escalates));
    Json writable = pod;
    writable["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = false;
    pods.emplace_back(name + ", writable root", std::move(writable));
  }
  return pods;
}

std::string HttpRequest(const std::string& body, int port, bool close) {
  return "POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
}

// AdmissionReviews as the API server sends them for a pod CREATE in `ns` by a ReplicaSet's
// controller, with requests for a server on `port`.
std::vector<Review> Reviews(const std::vector<std::pair<std::string, Json>>& pods,
                            const std::string& ns, int port) {
  std::vector<Review> reviews;
  int n = 0;
  for (const auto& [name, original] : pods) {
    Json pod = original;
    pod["metadata"]["namespace"] = ns;
    Json review = {{"apiVersion", "admission.k8s.io/v1"},
                   {"kind", "AdmissionReview"},
                   {"request",
                    {{"uid", "0b6c2f4e-bench-4c1d-9a7e-00000000000" + std::to_string(n++)},
                     {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                     {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                     {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                     {"requestResource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                     {"name", pod["metadata"].value("name", "")},
                     {"namespace", ns},
                     {"operation", "CREATE"},
                     {"userInfo",
                      {{"username", "system:serviceaccount:kube-system:replicaset-controller"},
                       {"uid", "6f3b1f5e-6a43-4b0e-9a0e-4d7f9c0e2a11"},
                       {"groups",
                        {"system:serviceaccounts", "system:serviceaccounts:kube-system",
                         "system:authenticated"}}}},
                     {"object", pod},
                     {"oldObject", nullptr},
                     {"dryRun", false},
                     {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
    std::string body = review.dump();
    reviews.push_back({name, body, HttpRequest(body, port, false), HttpRequest(body, port, true)});
  }
  return reviews;
}

// ---------------------------------------------------------------------------------------------
// The client: Asio and Beast over OpenSSL, on this thread. Requests are written as prepared
// bytes; responses parsed by Beast.

// One client connection: TCP, a full TLS handshake (no session is ever resumed), then requests
// one after another.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Opened = std::function<void(bool ok)>;
  using Answered = std::function<void(bool ok, const std::string& body)>;

  Connection(asio::io_context& io, ssl::context& tls) : stream_(io, tls) {}

  void Open(const tcp::endpoint& endpoint, Opened opened) {
    stream_.next_layer().async_connect(
        endpoint, [self = shared_from_this(), opened = std::move(opened)](beast::error_code error) {
          if (error) {
            opened(false);
            return;
          }
          self->stream_.next_layer().set_option(tcp::no_delay(true));
          self->stream_.async_handshake(
              ssl::stream_base::client,
              [self, opened](beast::error_code handshake) { opened(!handshake); });
        });
  }

  // Writes `request` (which must outlive the exchange) and reads the response; ok on a 200.
  void Exchange(const std::string& request, Answered answered) {
    asio::async_write(stream_, asio::buffer(request),
                      [self = shared_from_this(), answered = std::move(answered)](
                          beast::error_code error, std::size_t /*n*/) {
                        if (error) {
                          answered(false, {});
                          return;
                        }
                        self->response_ = {};
                        http::async_read(
                            self->stream_, self->buffer_, self->response_,
                            [self, answered](beast::error_code read, std::size_t /*n*/) {
                              answered(!read && self->response_.result_int() == 200,
                                       self->response_.body());
                            });
                      });
  }

  // Closes the socket without a TLS close_notify, as a client that is done may.
  void Close() {
    beast::error_code ignored;
    stream_.next_layer().close(ignored);
  }

 private:
  ssl::stream<tcp::socket> stream_;
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
};

// A client TLS context trusting only the bench's CA and checking the serving name 127.0.0.1.
std::unique_ptr<ssl::context> ClientTls(const std::string& ca_file) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1);
  tls->load_verify_file(ca_file);
  tls->set_verify_mode(ssl::verify_peer);
  tls->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  return tls;
}

// Sends one request on a new connection and returns the body of the 200 response.
Result<std::string> Once(const std::string& ca_file, int port, const std::string& request) {
  asio::io_context io;
  auto tls = ClientTls(ca_file);
  auto connection = std::make_shared<Connection>(io, *tls);
  std::optional<std::string> answer;
  connection->Open({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)},
                   [&](bool opened) {
                     if (!opened) {
                       return;
                     }
                     connection->Exchange(request, [&](bool ok, const std::string& body) {
                       if (ok) {
                         answer = body;
                       }
                       connection->Close();
                     });
                   });
  io.run_for(std::chrono::seconds(10));
  if (!answer) {
    return Fail(ErrorCode::kUnavailable, "no 200 answer from 127.0.0.1:" + std::to_string(port));
  }
  return *answer;
}

// What one load phase measured.
struct Phase {
  std::uint64_t requests = 0;  // answered within the window
  std::uint64_t errors = 0;    // failed connections, non-200 answers
  double seconds = 0;          // the window
  double server_cpu = 0;       // seconds of the server's user + system time in the window
  double client_cpu = 0;       // seconds of this thread's
  double p50_ms = 0;
  double p99_ms = 0;
  [[nodiscard]] double PerSecond() const { return static_cast<double>(requests) / seconds; }
  [[nodiscard]] double CpuMicrosPerReview() const {
    return requests == 0 ? 0 : server_cpu * 1e6 / static_cast<double>(requests);
  }
};

double ThreadCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double ServerCpuSeconds(pid_t pid) {
  auto usage = botsec::bench::ReadUsage(pid);
  return usage ? usage->cpu_seconds : 0;
}

enum class Mode { kKeepAlive, kRate, kNewConnection };

struct LoadOptions {
  Mode mode = Mode::kKeepAlive;
  double seconds = 5;
  int connections = 8;  // keep-alive and new-connection: at once; rate: the pool's size
  double rate = 1000;   // rate: requests per second
};

// One load phase against one server: every request is the corpus's next review in turn. The
// window opens when the connections are up (keep-alive, rate) or at once (new connection), and
// closes `seconds` later; answers after it are not counted, nor is the CPU spent on them.
class Load {
 public:
  Load(const LoadOptions& options, const std::vector<Review>& reviews, int port, pid_t server,
       const std::string& ca_file)
      : options_(options),
        reviews_(reviews),
        endpoint_(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)),
        server_(server),
        tls_(ClientTls(ca_file)),
        deadline_timer_(io_),
        rate_timer_(io_) {}

  Result<Phase> Run() {
    if (options_.mode == Mode::kNewConnection) {
      OpenWindow();
      for (int i = 0; i < options_.connections; ++i) {
        NewConnectionLoop();
      }
    } else {
      for (int i = 0; i < options_.connections; ++i) {
        auto connection = std::make_shared<Connection>(io_, *tls_);
        connection->Open(endpoint_, [this, connection](bool ok) {
          if (!ok) {
            ++open_failures_;
          } else {
            idle_.push_back(connection);
          }
          if (++opened_ == options_.connections && open_failures_ == 0) {
            StartKeptAlive();
          }
        });
      }
    }
    io_.run();
    if (open_failures_ > 0) {
      return Fail(ErrorCode::kUnavailable, std::to_string(open_failures_) + " of " +
                                               std::to_string(options_.connections) +
                                               " connections could not be opened");
    }
    std::sort(latencies_ns_.begin(), latencies_ns_.end());
    phase_.requests = latencies_ns_.size();
    if (phase_.requests == 0) {
      return Fail(ErrorCode::kUnavailable, "no request was answered");
    }
    auto at = [this](double q) {
      auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(phase_.requests)));
      return static_cast<double>(latencies_ns_[std::max<std::size_t>(rank, 1) - 1]) / 1e6;
    };
    phase_.p50_ms = at(0.50);
    phase_.p99_ms = at(0.99);
    return phase_;
  }

 private:
  using Shared = std::shared_ptr<Connection>;

  void OpenWindow() {
    window_start_ = Clock::now();
    server_cpu_start_ = ServerCpuSeconds(server_);
    client_cpu_start_ = ThreadCpuSeconds();
    deadline_timer_.expires_at(window_start_ +
                               std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options_.seconds)));
    deadline_timer_.async_wait([this](beast::error_code /*error*/) { CloseWindow(); });
  }

  void CloseWindow() {
    closed_ = true;
    phase_.seconds = std::chrono::duration<double>(Clock::now() - window_start_).count();
    phase_.server_cpu = ServerCpuSeconds(server_) - server_cpu_start_;
    phase_.client_cpu = ThreadCpuSeconds() - client_cpu_start_;
    rate_timer_.cancel();
    for (const Shared& connection : idle_) {
      connection->Close();
    }
    idle_.clear();
  }

  const std::string& NextRequest(bool close) {
    const Review& review = reviews_[next_++ % reviews_.size()];
    return close ? review.close : review.keep_alive;
  }

  void Record(bool ok, Clock::time_point since) {
    if (closed_) {
      return;
    }
    if (ok) {
      latencies_ns_.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count());
    } else {
      ++phase_.errors;
    }
  }

  void StartKeptAlive() {
    OpenWindow();
    if (options_.mode == Mode::kKeepAlive) {
      std::vector<Shared> all = std::move(idle_);
      idle_.clear();
      for (const Shared& connection : all) {
        KeepAliveLoop(connection);
      }
    } else {
      next_due_ = window_start_;
      Schedule();
    }
  }

  // Saturation: each connection sends its next request as soon as the last is answered.
  void KeepAliveLoop(const Shared& connection) {
    if (closed_) {
      connection->Close();
      return;
    }
    Clock::time_point sent = Clock::now();
    connection->Exchange(NextRequest(false),
                         [this, connection, sent](bool ok, const std::string& /*body*/) {
                           Record(ok, sent);
                           if (!ok) {
                             connection->Close();
                             Reopen();
                             return;
                           }
                           KeepAliveLoop(connection);
                         });
  }

  // A connection the server dropped is replaced, outside the figures.
  void Reopen() {
    if (closed_) {
      return;
    }
    auto connection = std::make_shared<Connection>(io_, *tls_);
    connection->Open(endpoint_, [this, connection](bool ok) {
      if (!ok) {
        ++phase_.errors;
        connection->Close();
        Reopen();
        return;
      }
      if (options_.mode == Mode::kKeepAlive) {
        KeepAliveLoop(connection);
      } else {
        Idle(connection);
      }
    });
  }

  // Fixed rate, open loop: request i is due at window_start + i / rate and goes out on an idle
  // connection, or waits for one; its latency counts from when it was due.
  void Schedule() {
    if (closed_) {
      return;
    }
    Clock::time_point now = Clock::now();
    auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options_.rate));
    while (next_due_ <= now) {
      backlog_.push_back(next_due_);
      next_due_ += period;
    }
    Dispatch();
    rate_timer_.expires_at(next_due_);
    rate_timer_.async_wait([this](beast::error_code error) {
      if (!error) {
        Schedule();
      }
    });
  }

  void Dispatch() {
    while (!backlog_.empty() && !idle_.empty()) {
      Shared connection = idle_.back();
      idle_.pop_back();
      Clock::time_point due = backlog_.front();
      backlog_.pop_front();
      connection->Exchange(NextRequest(false),
                           [this, connection, due](bool ok, const std::string& /*body*/) {
                             Record(ok, due);
                             if (!ok) {
                               connection->Close();
                               Reopen();
                               return;
                             }
                             Idle(connection);
                           });
    }
  }

  void Idle(const Shared& connection) {
    if (closed_) {
      connection->Close();
      return;
    }
    idle_.push_back(connection);
    Dispatch();
  }

  // A new TLS connection per request: connect, handshake, one request with Connection: close,
  // close; the latency covers all of it.
  void NewConnectionLoop() {
    if (closed_) {
      return;
    }
    Clock::time_point started = Clock::now();
    auto connection = std::make_shared<Connection>(io_, *tls_);
    connection->Open(endpoint_, [this, connection, started](bool ok) {
      if (!ok) {
        Record(false, started);
        connection->Close();
        NewConnectionLoop();
        return;
      }
      connection->Exchange(NextRequest(true),
                           [this, connection, started](bool answered, const std::string& /*body*/) {
                             Record(answered, started);
                             connection->Close();
                             NewConnectionLoop();
                           });
    });
  }

  LoadOptions options_;
  const std::vector<Review>& reviews_;
  tcp::endpoint endpoint_;
  pid_t server_;
  asio::io_context io_;
  std::unique_ptr<ssl::context> tls_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer rate_timer_;

  int opened_ = 0;
  int open_failures_ = 0;
  bool closed_ = false;
  std::size_t next_ = 0;
  std::vector<Shared> idle_;
  std::deque<Clock::time_point> backlog_;
  Clock::time_point next_due_;
  Clock::time_point window_start_;
  double server_cpu_start_ = 0;
  double client_cpu_start_ = 0;
  std::vector<std::int64_t> latencies_ns_;
  Phase phase_;
};

// ---------------------------------------------------------------------------------------------
// The servers.

// A port free now on 127.0.0.1 (the kernel's pick), for a server started right after.
Result<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
    if (fd >= 0) {
      close(fd);
    }
    return Fail(ErrorCode::kInternal, "no free port on 127.0.0.1");
  }
  close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

struct Server {
  std::string name;  // the row's label
  int port = 0;
  std::string log;
  std::unique_ptr<ChildProcess> process;
  std::vector<Review> reviews;  // the corpus, addressed to this server
  std::vector<bool> allowed;    // each review's verdict
  std::vector<Phase> phases;    // keep-alive, rate, new connection
  ProcessUsage usage;           // at the end of its phases
};

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > 8) {
      lines.pop_front();
    }
  }
  std::string text;
  for (const auto& line : lines) {
    text += "    " + line + "\n";
  }
  return text;
}

// Starts a server and waits until it answers the corpus's first review with a 200.
Result<void> Start(Server& server, const std::vector<std::string>& argv, const std::string& ca) {
  auto process = ChildProcess::Start(argv, server.log);
  if (!process) {
    return Fail(process.error());
  }
  server.process = std::move(*process);
  auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up) {
    if (!server.process->Running()) {
      return Fail(ErrorCode::kUnavailable, server.name + " " + server.process->status() +
                                               "; the end of " + server.log + ":\n" +
                                               Tail(server.log));
    }
    if (Once(ca, server.port, server.reviews.front().close)) {
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Fail(ErrorCode::kUnavailable, server.name + " did not answer within 60 s; the end of " +
                                           server.log + ":\n" + Tail(server.log));
}

// Sends every review once and keeps each verdict: response.allowed, with the uid echoed.
Result<void> Verdicts(Server& server, const std::string& ca) {
  server.allowed.clear();
  for (const Review& review : server.reviews) {
    auto body = Once(ca, server.port, review.close);
    if (!body) {
      return Fail(body.error().Wrap(server.name + ", " + review.name));
    }
    Json answer = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
    Json sent = Json::parse(review.body);
    const Json* response =
        answer.is_object() && answer.contains("response") ? &answer["response"] : nullptr;
    if (response == nullptr || !response->contains("allowed") ||
        !(*response)["allowed"].is_boolean() ||
        response->value("uid", "") != sent["request"]["uid"].get<std::string>()) {
      return Fail(ErrorCode::kInternal,
                  server.name + ", " + review.name +
                      ": not an AdmissionReview answering it: " + body->substr(0, 300));
    }
    server.allowed.push_back((*response)["allowed"].get<bool>());
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The report.

std::string Fixed(double value, int decimals) {
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(decimals);
  text << value;
  return text.str();
}

std::string Pad(const std::string& text, std::size_t width, bool left = false) {
  if (text.size() >= width) {
    return text;
  }
  std::string padding(width - text.size(), ' ');
  return left ? text + padding : padding + text;
}

std::string Ratio(double ours, double theirs) {
  return theirs > 0 ? Fixed(ours / theirs, 2) + "x" : "-";
}

constexpr std::array<const char*, 3> kPhaseTitles = {
    "keep-alive at saturation", "fixed rate, keep-alive", "new TLS connection per request"};

void PrintPhase(std::size_t index, const std::vector<const Server*>& rows, const Server* peer,
                const std::string& peer_label) {
  std::cout << "  " << Pad(kPhaseTitles.at(index), 30, true)
            << "  requests/s    p50 ms    p99 ms  CPU µs/review  errors  client CPU\n";
  auto row = [index](const std::string& label, const Server& server) {
    const Phase& phase = server.phases.at(index);
    std::cout << "    " << Pad(label, 28, true) << Pad(Fixed(phase.PerSecond(), 0), 12)
              << Pad(Fixed(phase.p50_ms, 3), 10) << Pad(Fixed(phase.p99_ms, 3), 10)
              << Pad(Fixed(phase.CpuMicrosPerReview(), 0), 15)
              << Pad(std::to_string(phase.errors), 8)
              << Pad(Fixed(100 * phase.client_cpu / phase.seconds, 0) + "%", 12) << "\n";
  };
  for (const Server* server : rows) {
    row(server->name, *server);
  }
  if (peer != nullptr) {
    row(peer_label, *peer);
    for (const Server* server : rows) {
      const Phase& ours = server->phases.at(index);
      const Phase& theirs = peer->phases.at(index);
      std::cout << "    " << Pad("ratio " + server->name + "/psa", 28, true)
                << Pad(Ratio(ours.PerSecond(), theirs.PerSecond()), 12)
                << Pad(Ratio(ours.p50_ms, theirs.p50_ms), 10)
                << Pad(Ratio(ours.p99_ms, theirs.p99_ms), 10)
                << Pad(Ratio(ours.CpuMicrosPerReview(), theirs.CpuMicrosPerReview()), 15) << "\n";
    }
  }
}

void PrintMemory(const std::vector<const Server*>& rows, const Server* peer,
                 const std::string& peer_label) {
  std::cout << "  " << Pad("memory", 30, true) << "  peak RSS MiB  RSS MiB at end\n";
  auto row = [](const std::string& label, const Server& server) {
    std::cout << "    " << Pad(label, 28, true) << Pad(Fixed(server.usage.peak_rss_mib, 1), 12)
              << Pad(Fixed(server.usage.rss_mib, 1), 16) << "\n";
  };
  for (const Server* server : rows) {
    row(server->name, *server);
  }
  if (peer != nullptr) {
    row(peer_label, *peer);
    for (const Server* server : rows) {
      std::cout << "    " << Pad("ratio " + server->name + "/psa", 28, true)
                << Pad(Ratio(server->usage.peak_rss_mib, peer->usage.peak_rss_mib), 12)
                << Pad(Ratio(server->usage.rss_mib, peer->usage.rss_mib), 16) << "\n";
    }
  }
}

void PrintGoals(const Server& botsec, const Server& peer) {
  auto line = [](const std::string& what, double ratio, bool met) {
    std::cout << "  goal: " << Pad(what, 44, true) << Pad(Fixed(ratio, 2) + "x", 8)
              << (met ? "  met" : "  NOT met") << "\n";
  };
  double throughput = botsec.phases[0].PerSecond() / peer.phases[0].PerSecond();
  double p99 = botsec.phases[1].p99_ms / peer.phases[1].p99_ms;
  double rss = botsec.usage.peak_rss_mib / peer.usage.peak_rss_mib;
  line("throughput (keep-alive) >= 3x psa's", throughput, throughput >= 3);
  // On a shared machine the share of the cores each server gets varies; reviews per CPU-second
  // does not depend on it.
  double per_cpu = peer.phases[0].CpuMicrosPerReview() / botsec.phases[0].CpuMicrosPerReview();
  std::cout << "        (reviews per CPU-second, which the machine's other load moves less: "
            << Fixed(per_cpu, 2) << "x psa's)\n";
  line("p99 at the fixed rate <= 0.25x psa's", p99, p99 <= 0.25);
  line("peak RSS <= 0.25x psa's", rss, rss <= 0.25);
}

// ---------------------------------------------------------------------------------------------

struct Settings {
  std::string botsec_webhook;
  std::string cpprest_webhook;
  std::string psa_webhook;
  std::string kubeconfig;
  std::string pods;
  std::string ns;
  std::string threads;
  std::string key;  // "rsa" or "ec"
  std::vector<std::string> profiles;
  LoadOptions keep_alive;
  LoadOptions rate;
  LoadOptions new_connection;
  double warm_up = 1;
};

// The machine's load average over the last minute: what else ran while we measured.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one_minute;
  in >> one_minute;
  return one_minute.empty() ? "?" : one_minute;
}

Result<std::string> MakeWorkDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "webhook-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return Fail(ErrorCode::kInternal, "mkdtemp " + pattern + " failed");
  }
  return pattern;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A CA and a serving certificate for IP 127.0.0.1 signed by it, made by the openssl command.
Result<void> MakeCertificates(const std::string& dir, const std::string& key) {
  std::string newkey =
      key == "ec" ? "-newkey ec -pkeyopt ec_paramgen_curve:P-256" : "-newkey rsa:2048";
  std::string log = dir + "/openssl.log";
  std::string command =
      "cd '" + dir + "' && openssl req -x509 -nodes " + newkey +
      " -keyout ca.key -out ca.crt -days 2 -subj /CN=webhook-bench-ca >'" + log +
      "' 2>&1 && openssl req -x509 -nodes " + newkey +
      " -keyout tls.key -out tls.crt -days 2 -subj /CN=127.0.0.1 -CA ca.crt -CAkey ca.key"
      " -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE"
      " -addext extendedKeyUsage=serverAuth >>'" +
      log + "' 2>&1";
  if (std::system(command.c_str()) != 0) {  // NOLINT(cert-env33-c): a fixed command, our paths
    return Fail(ErrorCode::kInternal, "openssl failed making certificates:\n" + Tail(log));
  }
  return {};
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

Result<void> RunPhases(const Settings& settings, const std::vector<Server*>& servers,
                       const std::string& ca) {
  for (Server* server : servers) {
    server->phases.clear();
    LoadOptions warm = settings.keep_alive;
    warm.seconds = settings.warm_up;
    if (auto warmed = Load(warm, server->reviews, server->port, server->process->pid(), ca).Run();
        !warmed) {
      return Fail(warmed.error().Wrap(server->name + ", warming up"));
    }
  }
  // Phase by phase, each server in turn, so that a change in the machine's load shows on all.
  for (const LoadOptions& options : {settings.keep_alive, settings.rate, settings.new_connection}) {
    for (Server* server : servers) {
      auto phase = Load(options, server->reviews, server->port, server->process->pid(), ca).Run();
      if (!phase) {
        return Fail(phase.error().Wrap(server->name));
      }
      server->phases.push_back(*phase);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  for (Server* server : servers) {
    auto usage = botsec::bench::ReadUsage(server->process->pid());
    if (!usage) {
      return Fail(usage.error().Wrap(server->name));
    }
    server->usage = *usage;
  }
  return {};
}

// Prints every server's verdict on each review; fails unless all agree.
Result<void> CheckVerdicts(const std::vector<Server*>& servers, const std::string& ca) {
  for (Server* server : servers) {
    if (auto judged = Verdicts(*server, ca); !judged) {
      return judged;
    }
  }
  std::cout << "  " << Pad("verdicts", 44, true);
  for (const Server* server : servers) {
    std::cout << Pad(server->name.substr(0, server->name.find(' ')), 12);
  }
  std::cout << "\n";
  const Server& first = *servers.front();
  bool agree = true;
  std::size_t refused = 0;
  for (std::size_t i = 0; i < first.reviews.size(); ++i) {
    std::cout << "    " << Pad(first.reviews[i].name, 32, true)
              << Pad(std::to_string(first.reviews[i].body.size()) + " B", 10);
    for (const Server* server : servers) {
      std::cout << Pad(server->allowed[i] ? "allowed" : "refused", 12);
      agree = agree && server->allowed[i] == first.allowed[i];
    }
    refused += first.allowed[i] ? 0 : 1;
    std::cout << "\n";
  }
  if (!agree) {
    return Fail(ErrorCode::kInternal,
                "the servers disagree on a verdict (above); nothing measured");
  }
  std::cout << "    all agree: " << first.reviews.size() - refused << " allowed, " << refused
            << " refused\n";
  return {};
}

// One run: the work directory (certificates, policies, logs), the corpus, and upstream's webhook,
// which is measured with pss-restricted and shown again in the bot table.
class Bench {
 public:
  explicit Bench(Settings settings) : settings_(std::move(settings)) {}

  int Run() {
    if (auto prepared = Prepare(); !prepared) {
      return Failed(prepared.error().message);
    }
    PrintHeader();
    auto psa = NewServer("psa-webhook v0.37.2", "psa-webhook.log");
    if (!psa) {
      return Failed(psa.error().message);
    }
    psa_ = std::move(*psa);
    std::uint64_t errors = 0;
    for (const std::string& profile : settings_.profiles) {
      auto measured = Profile(profile);
      if (!measured) {
        return Failed(measured.error().message);
      }
      errors += *measured;
    }
    std::cout << "\nload average at the end: " << LoadAverage() << "\n";
    if (errors > 0) {
      return Failed(std::to_string(errors) + " requests failed (the errors column); logs in " +
                    dir_);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    return 0;
  }

 private:
  static int Failed(const std::string& message) {
    std::cerr << "webhook_bench: " << message << "\n";
    return 1;
  }

  Result<void> Prepare() {
    auto dir = MakeWorkDir();
    if (!dir) {
      return Fail(dir.error());
    }
    dir_ = *dir;
    std::cerr << "webhook_bench: certificates, policies and server logs in " << dir_ << "\n";
    if (auto made = MakeCertificates(dir_, settings_.key); !made) {
      return made;
    }
    auto pods = LoadPods(settings_.pods);
    if (!pods) {
      return Fail(pods.error());
    }
    pods_ = std::move(*pods);
    WriteFile(dir_ + "/psa.yaml",
              "apiVersion: pod-security.admission.config.k8s.io/v1\n"
              "kind: PodSecurityConfiguration\n"
              "defaults:\n"
              "  enforce: restricted\n"
              "  enforce-version: latest\n"
              "exemptions: {usernames: [], runtimeClasses: [], namespaces: []}\n");
    return {};
  }

  void PrintHeader() const {
    std::cout << "webhook_bench: " << pods_.size() << " AdmissionReviews (pod CREATE in namespace "
              << settings_.ns << "), each request the next in turn; "
              << settings_.keep_alive.seconds << " s per phase; servers with " << settings_.threads
              << " threads (" << std::thread::hardware_concurrency() << " cores here); "
              << (settings_.key == "ec" ? "ECDSA P-256" : "RSA 2048") << " certificate\n"
              << "  keep-alive: " << settings_.keep_alive.connections
              << " connections; fixed rate: " << Fixed(settings_.rate.rate, 0) << "/s on up to "
              << settings_.rate.connections << " connections, open loop; new TLS connection: "
              << settings_.new_connection.connections << " at a time; load average "
              << LoadAverage() << "\n";
  }

  Result<Server> NewServer(const std::string& name, const std::string& log) const {
    Server server;
    server.name = name;
    auto port = FreePort();
    if (!port) {
      return Fail(port.error());
    }
    server.port = *port;
    server.log = dir_ + "/" + log;
    server.reviews = Reviews(pods_, settings_.ns, server.port);
    return server;
  }

  // The flags all three take alike: where to serve and with which certificate.
  std::vector<std::string> Argv(const std::string& binary, const Server& server) const {
    if (&server == &psa_) {
      return {binary, "--bind-address=127.0.0.1", "--secure-port=" + std::to_string(server.port),
              "--tls-cert-file=" + dir_ + "/tls.crt",
              "--tls-private-key-file=" + dir_ + "/tls.key"};
    }
    return {binary, "--bind-address=127.0.0.1:" + std::to_string(server.port),
            "--tls-cert-file=" + dir_ + "/tls.crt", "--tls-private-key-file=" + dir_ + "/tls.key",
            "--threads=" + settings_.threads};
  }

  // Starts botsec-webhook and the cpprestsdk server with `profile` (and upstream's webhook with
  // pss-restricted), checks their verdicts, measures and prints the tables. The requests that
  // failed.
  Result<std::uint64_t> Profile(const std::string& profile) {
    const std::string ca = dir_ + "/ca.crt";
    std::string policy = dir_ + "/" + profile + ".yaml";
    WriteFile(policy, "apiVersion: botsec.io/v1alpha1\nkind: Policy\nprofile: " + profile + "\n");
    auto botsec = NewServer("botsec", "botsec-" + profile + ".log");
    auto cpprest = NewServer("cpprest", "cpprest-" + profile + ".log");
    if (!botsec || !cpprest) {
      return Fail(ErrorCode::kInternal, "no free port on 127.0.0.1");
    }
    const bool restricted = profile == "pss-restricted";
    std::vector<Server*> servers = {&*botsec, &*cpprest};
    std::cout << "\n== " << profile << " ==\n";
    std::vector<std::string> argv = Argv(settings_.botsec_webhook, *botsec);
    argv.insert(argv.end(), {"--policy=" + policy, "--kubeconfig=" + settings_.kubeconfig});
    auto started = Start(*botsec, argv, ca);
    if (started) {
      argv = Argv(settings_.cpprest_webhook, *cpprest);
      argv.insert(argv.end(), {"--policy=" + policy, "--kubeconfig=" + settings_.kubeconfig});
      started = Start(*cpprest, argv, ca);
    }
    if (started && restricted) {
      servers.push_back(&psa_);
      argv = Argv(settings_.psa_webhook, psa_);
      argv.insert(argv.end(),
                  {"--config=" + dir_ + "/psa.yaml", "--kubeconfig=" + settings_.kubeconfig});
      started = Start(psa_, argv, ca);
    }
    if (!started) {
      return Fail(started.error());
    }
    if (auto agreed = CheckVerdicts(servers, ca); !agreed) {
      return Fail(agreed.error());
    }
    if (auto ran = RunPhases(settings_, servers, ca); !ran) {
      return Fail(ran.error());
    }
    for (Server* server : servers) {
      server->process->Stop(SIGTERM, std::chrono::seconds(5));
    }
    return Print(*botsec, *cpprest, restricted);
  }

  std::uint64_t Print(const Server& botsec, const Server& cpprest, bool restricted) const {
    std::vector<const Server*> rows = {&botsec, &cpprest};
    const Server* peer = psa_.phases.empty() ? nullptr : &psa_;
    std::string label = psa_.name + (restricted ? "" : " *");
    std::uint64_t errors = 0;
    for (std::size_t i = 0; i < kPhaseTitles.size(); ++i) {
      PrintPhase(i, rows, peer, label);
      for (const Server* server : rows) {
        errors += server->phases[i].errors;
      }
      errors += restricted && peer != nullptr ? peer->phases[i].errors : 0;
    }
    PrintMemory(rows, peer, label);
    if (peer != nullptr && restricted) {
      PrintGoals(botsec, *peer);
    } else if (peer != nullptr) {
      std::cout << "  * upstream has no bot profile: its rows are its pss-restricted run above\n";
    }
    return errors;
  }

  Settings settings_;
  std::string dir_;
  std::vector<std::pair<std::string, Json>> pods_;
  Server psa_;
};

}  // namespace

int main(int argc, char** argv) try {
  botsec::core::FlagSet flags(
      "webhook_bench",
      "botsec-webhook against upstream's Pod Security Admission webhook and the same handler "
      "behind cpprestsdk: throughput, latency, CPU and memory over HTTPS");
  flags
      .String(
          "psa-webhook", "PATH", "",
          "upstream's webhook: pod-security-webhook in tools/build-controlplane.sh's bin; required")
      .String("kubeconfig", "PATH", "build/cluster/kubeconfig",
              "the control plane both webhooks are given (upstream's looks namespaces up)")
      .String("botsec-webhook", "PATH", BOTSEC_WEBHOOK_PATH, "botsec-webhook")
      .String("cpprest-webhook", "PATH", BOTSEC_CPPREST_WEBHOOK_PATH, "the cpprestsdk server")
      .String("pods", "DIR", BOTSEC_POLICY_PODS_DIR, "pod JSON files the corpus is made from")
      .String("namespace", "NAME", "default", "the reviews' namespace: must exist, unlabelled")
      .String("profiles", "LIST", "pss-restricted,bot", "botsec profiles, in order")
      .String("seconds", "S", "5", "seconds per phase")
      .String("warm-up", "S", "1", "seconds of keep-alive load before the phases, per server")
      .String("connections", "N", "8", "keep-alive connections at saturation")
      .String("rate", "R", "1000", "requests per second of the fixed-rate phase")
      .String("rate-connections", "N", "16", "keep-alive connections of the fixed-rate phase")
      .String("new-connection-clients", "N", "8", "new-connection clients at once")
      .String("threads", "N", "2", "serving threads of botsec-webhook and the cpprestsdk server")
      .String("key", "rsa|ec", "rsa", "the certificate's key: RSA 2048 or ECDSA P-256");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  const auto& parsed = outcome.flags;
  Settings settings;
  try {
    settings.psa_webhook = std::string(parsed.Get("psa-webhook"));
    settings.kubeconfig = std::string(parsed.Get("kubeconfig"));
    settings.botsec_webhook = std::string(parsed.Get("botsec-webhook"));
    settings.cpprest_webhook = std::string(parsed.Get("cpprest-webhook"));
    settings.pods = std::string(parsed.Get("pods"));
    settings.ns = std::string(parsed.Get("namespace"));
    settings.profiles = Split(std::string(parsed.Get("profiles")));
    settings.threads = std::string(parsed.Get("threads"));
    settings.key = std::string(parsed.Get("key"));
    double seconds = std::stod(std::string(parsed.Get("seconds")));
    settings.warm_up = std::stod(std::string(parsed.Get("warm-up")));
    settings.keep_alive = {Mode::kKeepAlive, seconds,
                           std::stoi(std::string(parsed.Get("connections"))), 0};
    settings.rate = {Mode::kRate, seconds, std::stoi(std::string(parsed.Get("rate-connections"))),
                     std::stod(std::string(parsed.Get("rate")))};
    settings.new_connection = {Mode::kNewConnection, seconds,
                               std::stoi(std::string(parsed.Get("new-connection-clients"))), 0};
    if (seconds <= 0 || settings.warm_up <= 0 || settings.rate.rate <= 0 ||
        settings.keep_alive.connections < 1 || settings.rate.connections < 1 ||
        settings.new_connection.connections < 1) {
      throw std::invalid_argument("not positive");
    }
  } catch (const std::exception&) {
    std::cerr << "webhook_bench: --seconds, --warm-up, --rate and the connection counts must be "
                 "positive numbers\n";
    return 2;
  }
  if (settings.psa_webhook.empty()) {
    std::cerr << "webhook_bench: --psa-webhook: required (pod-security-webhook, in the directory "
                 "tools/build-controlplane.sh prints)\n";
    return 2;
  }
  if (settings.key != "rsa" && settings.key != "ec") {
    std::cerr << "webhook_bench: --key: want rsa or ec\n";
    return 2;
  }
  for (const std::string& profile : settings.profiles) {
    if (profile != "pss-restricted" && profile != "bot") {
      std::cerr << "webhook_bench: --profiles: \"" << profile << "\": want pss-restricted, bot\n";
      return 2;
    }
  }
  if (settings.profiles.empty() || settings.profiles.front() != "pss-restricted") {
    std::cerr << "webhook_bench: --profiles: pss-restricted comes first (upstream runs with it)\n";
    return 2;
  }
  return Bench(std::move(settings)).Run();
} catch (const std::exception& error) {
  std::cerr << "webhook_bench: " << error.what() << "\n";
  return 1;
}
