// Running a benchmark's peer (a Go program measuring the same thing) as a child process: its
// standard error passes through, its standard output comes back.
#ifndef BOTSEC_BENCH_SUPPORT_PEER_PROCESS_H_
#define BOTSEC_BENCH_SUPPORT_PEER_PROCESS_H_

#include <string>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::bench {

// Runs args[0] with args and returns what it printed on standard output. A non-zero exit or a
// signal is an error naming it.
core::Result<std::string> RunPeerProcess(std::vector<std::string> args);

}  // namespace botsec::bench

#endif  // BOTSEC_BENCH_SUPPORT_PEER_PROCESS_H_
