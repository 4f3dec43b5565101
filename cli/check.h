// `botsec check`: judges manifests on disk with the policy engine, as the webhook would judge
// them in a bot namespace. The functions here are pure; RunCheck is the shell that reads files.
#ifndef BOTSEC_CLI_CHECK_H_
#define BOTSEC_CLI_CHECK_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "botsec/policy/engine.h"
#include "botsec/policy/manifest.h"
#include "botsec/policy/policy.h"

namespace botsec::cli {

// One judged object.
struct Finding {
  std::string source;  // file name, or "-" for standard input
  int document = 1;
  int item = -1;
  std::string kind;
  std::string name;
  std::vector<policy::Violation> violations;
};

// Judges each manifest that is a Pod or carries a pod template; other kinds are left out.
std::vector<Finding> JudgeManifests(const std::vector<policy::Manifest>& manifests,
                                    const std::string& source, const policy::Policy& policy);

// `file:doc kind/name: field.path: reason`, one line per violation.
std::string FormatText(const std::vector<Finding>& findings);
// {"results":[{"source","document","item","kind","name","allowed","violations":[...]}]}
std::string FormatJson(const std::vector<Finding>& findings);

// Exit codes.
inline constexpr int kExitPass = 0;
inline constexpr int kExitViolations = 1;
inline constexpr int kExitBadInput = 2;

// The command: `args` are what follows `botsec check`.
int RunCheck(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
             std::ostream& err);

}  // namespace botsec::cli

#endif  // BOTSEC_CLI_CHECK_H_
