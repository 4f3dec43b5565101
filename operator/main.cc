// botsec-operator: watches BotSandbox resources and reconciles each into a fenced-in sandbox.
#include <iostream>

#include "botsec/core/flags.h"

int main(int argc, char** argv) {
  botsec::core::FlagSet flags("botsec-operator",
                              "reconciles BotSandbox resources (botsec.io/v1alpha1) into "
                              "fenced-in sandboxes");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  std::cerr << "botsec-operator: the reconciler is not part of this build yet\n";
  return 1;
}
