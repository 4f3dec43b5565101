// botsec-webhook: the validating admission webhook that rejects bot pods lacking isolation.
#include <iostream>

#include "botsec/core/flags.h"

int main(int argc, char** argv) {
  botsec::core::FlagSet flags("botsec-webhook",
                              "validating admission webhook: rejects bot pods, workload templates "
                              "and ephemeral containers that lack the required isolation");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  std::cerr << "botsec-webhook: the admission server is not part of this build yet\n";
  return 1;
}
