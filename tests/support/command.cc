#include "support/command.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace botsec::testing {
namespace {

using core::ErrorCode;
using core::Fail;

struct Pipe {
  std::array<int, 2> fds{-1, -1};
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) {
        close(fd);
      }
    }
  }
  void CloseEnd(int i) {
    if (fds[i] >= 0) {
      close(fds[i]);
      fds[i] = -1;
    }
  }
};

}  // namespace

core::Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                       const std::string& input, std::chrono::seconds timeout) {
  if (argv.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "RunCommand: empty argv");
  }
  Pipe in, out, err;
  if (pipe(in.fds.data()) != 0 || pipe(out.fds.data()) != 0 || pipe(err.fds.data()) != 0) {
    return Fail(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fds[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.fds[1], STDERR_FILENO);
  for (const Pipe* p : {&in, &out, &err}) {
    posix_spawn_file_actions_addclose(&actions, p->fds[0]);
    posix_spawn_file_actions_addclose(&actions, p->fds[1]);
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Fail(ErrorCode::kNotFound, "cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  in.CloseEnd(0);
  out.CloseEnd(1);
  err.CloseEnd(1);

  // A child that exits before reading its input must not kill us with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  if (input.empty()) {
    in.CloseEnd(1);
  }
  CommandOutput result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  std::array<char, 65536> buf{};
  while (out.fds[0] >= 0 || err.fds[0] >= 0) {
    std::array<pollfd, 3> fds{};
    int n = 0;
    for (int fd : {out.fds[0], err.fds[0]}) {
      if (fd >= 0) {
        fds[n++] = pollfd{fd, POLLIN, 0};
      }
    }
    if (in.fds[1] >= 0) {
      fds[n++] = pollfd{in.fds[1], POLLOUT, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds.data(), n, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      if (fds[i].fd == in.fds[1]) {
        ssize_t w = write(in.fds[1], input.data() + written, input.size() - written);
        if (w > 0) {
          written += static_cast<std::size_t>(w);
        }
        if (w < 0 || written == input.size()) {
          in.CloseEnd(1);
        }
        continue;
      }
      ssize_t r = read(fds[i].fd, buf.data(), buf.size());
      bool is_out = fds[i].fd == out.fds[0];
      if (r <= 0) {
        (is_out ? out : err).CloseEnd(0);
      } else {
        (is_out ? result.out : result.err).append(buf.data(), static_cast<std::size_t>(r));
      }
    }
  }
  if (timed_out) {
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Fail(ErrorCode::kTimeout, argv[0] + " did not finish within " +
                                         std::to_string(timeout.count()) + " s; it printed: " +
                                         result.out + result.err);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace botsec::testing
