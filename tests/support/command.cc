#include "support/command.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <vector>

namespace botsec::testing {
namespace {

using core::ErrorCode;
using core::Fail;

// A pipe whose ends close when it goes out of scope.
class Pipe {
 public:
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    Close(0);
    Close(1);
  }
  // Close-on-exec: a child spawned by another thread meanwhile must not inherit this pipe (it
  // would hold our child's stdin open, and the child would wait for EOF until it exits).
  bool Open() { return pipe2(fds_.data(), O_CLOEXEC) == 0; }
  [[nodiscard]] int read_end() const { return fds_[0]; }
  [[nodiscard]] int write_end() const { return fds_[1]; }
  void Close(int end) {
    if (fds_.at(end) >= 0) {
      close(fds_.at(end));
      fds_.at(end) = -1;
    }
  }

 private:
  std::array<int, 2> fds_{-1, -1};
};

struct ChildPipes {
  Pipe in;
  Pipe out;
  Pipe err;
};

core::Result<pid_t> Spawn(const std::vector<std::string>& argv, ChildPipes& pipes) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipes.in.read_end(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipes.out.write_end(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipes.err.write_end(), STDERR_FILENO);
  for (const Pipe* p : {&pipes.in, &pipes.out, &pipes.err}) {
    posix_spawn_file_actions_addclose(&actions, p->read_end());
    posix_spawn_file_actions_addclose(&actions, p->write_end());
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));  // posix_spawn's signature, not a mutation
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Fail(ErrorCode::kNotFound, "cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  pipes.in.Close(0);
  pipes.out.Close(1);
  pipes.err.Close(1);
  return pid;
}

// Handles one ready descriptor: writes more input, or reads output (closing the pipe at EOF).
void Service(const pollfd& p, ChildPipes& pipes, const std::string& input, std::size_t& written,
             CommandOutput& result) {
  if (p.fd == pipes.in.write_end()) {
    ssize_t w = write(p.fd, input.data() + written, input.size() - written);
    written += w > 0 ? static_cast<std::size_t>(w) : 0;
    if (w < 0 || written == input.size()) {
      pipes.in.Close(1);
    }
    return;
  }
  std::array<char, 65536> buf{};
  bool is_out = p.fd == pipes.out.read_end();
  ssize_t r = read(p.fd, buf.data(), buf.size());
  if (r <= 0) {
    (is_out ? pipes.out : pipes.err).Close(0);
  } else {
    (is_out ? result.out : result.err).append(buf.data(), static_cast<std::size_t>(r));
  }
}

// Feeds `input` to the child and collects its output until both output pipes close or the
// deadline passes. Returns false on timeout.
bool Pump(ChildPipes& pipes, const std::string& input,
          std::chrono::steady_clock::time_point deadline, CommandOutput& result) {
  std::size_t written = 0;
  if (input.empty()) {
    pipes.in.Close(1);
  }
  while (pipes.out.read_end() >= 0 || pipes.err.read_end() >= 0) {
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    for (int fd : {pipes.out.read_end(), pipes.err.read_end()}) {
      if (fd >= 0) {
        fds.at(n++) = pollfd{fd, POLLIN, 0};
      }
    }
    if (pipes.in.write_end() >= 0) {
      fds.at(n++) = pollfd{pipes.in.write_end(), POLLOUT, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    if (poll(fds.data(), n, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return true;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds.at(i).revents != 0) {
        Service(fds.at(i), pipes, input, written, result);
      }
    }
  }
  return true;
}

}  // namespace

core::Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                       const std::string& input, std::chrono::seconds timeout) {
  if (argv.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "RunCommand: empty argv");
  }
  ChildPipes pipes;
  if (!pipes.in.Open() || !pipes.out.Open() || !pipes.err.Open()) {
    return Fail(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  auto pid = Spawn(argv, pipes);
  if (!pid) {
    return Fail(pid.error());
  }
  // A child that exits before reading all its input must not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  CommandOutput result;
  bool finished = Pump(pipes, input, std::chrono::steady_clock::now() + timeout, result);
  if (!finished) {
    kill(*pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    return Fail(ErrorCode::kTimeout, argv[0] + " did not finish within " +
                                         std::to_string(timeout.count()) +
                                         " s; it printed: " + result.out + result.err);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, std::string output)
    : output_(std::move(output)) {
  std::vector<std::string> args = argv;
  std::vector<char*> pointers;
  pointers.reserve(args.size() + 1);
  for (std::string& arg : args) {
    pointers.push_back(arg.data());
  }
  pointers.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (output_ + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ) == 0) {
    pid_ = pid;
  }
  posix_spawn_file_actions_destroy(&actions);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

void BackgroundProcess::Signal(int signal) const {
  if (pid_ > 0) {
    kill(pid_, signal);
  }
}

int BackgroundProcess::Wait() {
  int status = 0;
  if (pid_ > 0) {
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  return status;
}

std::string BackgroundProcess::Errors() const {
  std::ifstream in(output_ + ".err");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace botsec::testing
