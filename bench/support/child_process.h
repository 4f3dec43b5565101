// A program a benchmark measures while it runs (botsec-operator): started in the background with
// its output in a log file, its CPU time and peak memory read from /proc, stopped when done.
#ifndef BOTSEC_BENCH_SUPPORT_CHILD_PROCESS_H_
#define BOTSEC_BENCH_SUPPORT_CHILD_PROCESS_H_

#include <chrono>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::bench {

// What the kernel has counted for a process so far.
struct ProcessUsage {
  double cpu_seconds = 0;   // user + system (/proc/PID/stat utime + stime)
  double peak_rss_mib = 0;  // VmHWM (/proc/PID/status)
  double rss_mib = 0;       // VmRSS, now
};

// Reads `pid`'s usage; fails when the process is gone.
core::Result<ProcessUsage> ReadUsage(pid_t pid);

// Thread-safety: one owner; not for concurrent use.
class ChildProcess {
 public:
  // Starts `argv[0]` (a path) with `argv`, standard output and error appended to `log`. The child
  // gets SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), so a benchmark that
  // dies leaves nothing running, and when this object is destroyed while it still runs.
  static core::Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                           const std::string& log);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const { return pid_; }
  // False once the child has ended (it is reaped then); `status()` says how.
  bool Running();
  // Sends `signal`, waits up to `grace` for the child to end, then kills it. Its wait status.
  int Stop(int signal, std::chrono::milliseconds grace);
  // "exited with status 1" or "killed by signal 9", once it has ended.
  [[nodiscard]] std::string status() const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  bool ended_ = false;
  int wait_status_ = 0;
};

}  // namespace botsec::bench

#endif  // BOTSEC_BENCH_SUPPORT_CHILD_PROCESS_H_
