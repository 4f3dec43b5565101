#include "support/peer_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace botsec::bench {

using core::ErrorCode;
using core::Fail;

core::Result<std::string> RunPeerProcess(std::vector<std::string> args) {
  const std::string path = args.at(0);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::array<int, 2> out{};
  if (pipe2(out.data(), O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    return Fail(ErrorCode::kInternal, "cannot run " + path + ": " + std::strerror(spawned));
  }
  std::string output;
  std::array<char, 4096> buffer{};
  for (ssize_t n = 0; (n = read(out[0], buffer.data(), buffer.size())) != 0;) {
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      break;
    }
    output.append(buffer.data(), static_cast<std::size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail(
        ErrorCode::kInternal,
        path +
            (WIFEXITED(status) ? " exited with status " + std::to_string(WEXITSTATUS(status))
                               : " was killed by signal " + std::to_string(WTERMSIG(status))) +
            " (its stderr is above)");
  }
  return output;
}

}  // namespace botsec::bench
