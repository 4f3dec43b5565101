// Runs a program and captures what it prints: how tests drive kubectl, openssl and
// tools/cluster.sh. Test support only; the shipped binaries never start processes.
#ifndef BOTSEC_TESTS_SUPPORT_COMMAND_H_
#define BOTSEC_TESTS_SUPPORT_COMMAND_H_

#include <chrono>
#include <string>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::testing {

struct CommandOutput {
  int exit_code = -1;
  std::string out;
  std::string err;

  [[nodiscard]] bool ok() const { return exit_code == 0; }
};

// Runs argv[0] (looked up on PATH) with `input` on its standard input, and waits for it. The child
// is killed after `timeout`. Fails only when the program cannot be started or times out; a non-zero
// exit is reported in CommandOutput.
core::Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                       const std::string& input = "",
                                       std::chrono::seconds timeout = std::chrono::seconds(120));

// A program left running while a test goes on (an operator, a leader-election candidate), its
// standard output and error written to `<output>` and `<output>.err`. Killed (SIGKILL) and reaped
// when it goes out of scope, unless it was already waited for.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, std::string output);
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  ~BackgroundProcess();

  [[nodiscard]] bool started() const { return pid_ > 0; }
  [[nodiscard]] const std::string& output() const { return output_; }
  void Signal(int signal) const;
  // Waits for the process to end; its wait status.
  int Wait();
  // What it has written to standard error so far.
  [[nodiscard]] std::string Errors() const;

 private:
  int pid_ = -1;
  std::string output_;
};

}  // namespace botsec::testing

#endif  // BOTSEC_TESTS_SUPPORT_COMMAND_H_
