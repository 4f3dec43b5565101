#include "support/child_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <vector>

namespace botsec::bench {

using core::ErrorCode;
using core::Fail;

core::Result<ProcessUsage> ReadUsage(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat_file(proc + "/stat");
  std::string stat;
  std::getline(stat_file, stat);
  // Fields after the command name, which is in parentheses and may hold spaces: state is field
  // 3, utime 14 and stime 15.
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
  }
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> values;
  for (std::string value; fields >> value;) {
    values.push_back(value);
  }
  if (values.size() < 13) {
    return Fail(ErrorCode::kInternal, "unexpected " + proc + "/stat: " + stat);
  }
  ProcessUsage usage;
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  usage.cpu_seconds = (std::stod(values[11]) + std::stod(values[12])) / ticks;
  std::ifstream status(proc + "/status");
  for (std::string line; std::getline(status, line);) {
    for (auto [prefix, target] :
         {std::pair{"VmHWM:", &usage.peak_rss_mib}, std::pair{"VmRSS:", &usage.rss_mib}}) {
      if (line.starts_with(prefix)) {
        *target = std::stod(line.substr(std::strlen(prefix))) / 1024.0;  // kB
      }
    }
  }
  return usage;
}

core::Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0) {
    return Fail(ErrorCode::kNotFound, "cannot run " +
                                          (argv.empty() ? std::string("nothing") : argv[0]) + ": " +
                                          std::strerror(errno));
  }
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    return Fail(ErrorCode::kInternal, "opening " + log + ": " + std::strerror(errno));
  }
  // Built before fork: between fork and exec only async-signal-safe calls.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));  // execv's signature, not a mutation
  }
  args.push_back(nullptr);
  const std::string failed = "cannot exec " + argv[0] + "\n";
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(out);
    return Fail(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(127);  // the parent died before prctl took effect
    }
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execv(args[0], args.data());
    if (write(STDERR_FILENO, failed.data(), failed.size()) < 0) {
      _exit(126);
    }
    _exit(127);
  }
  close(out);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() {
  if (!ended_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &wait_status_, 0);
  }
}

bool ChildProcess::Running() {
  if (ended_) {
    return false;
  }
  pid_t done = waitpid(pid_, &wait_status_, WNOHANG);
  if (done == pid_) {
    ended_ = true;
  }
  return !ended_;
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds grace) {
  if (!Running()) {
    return wait_status_;
  }
  kill(pid_, signal);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ended_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &wait_status_, 0);
    ended_ = true;
  }
  return wait_status_;
}

std::string ChildProcess::status() const {
  if (!ended_) {
    return "running";
  }
  if (WIFEXITED(wait_status_)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status_));
  }
  return "killed by signal " + std::to_string(WTERMSIG(wait_status_));
}

}  // namespace botsec::bench
