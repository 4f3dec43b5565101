// botsec: the command-line tool; `botsec check` runs the webhook's policy engine offline.
#include <iostream>

#include "botsec/core/flags.h"

int main(int argc, char** argv) {
  botsec::core::FlagSet flags("botsec", "BotSec's command-line tool", "<command> [flags]");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  std::cerr << "botsec: no commands are part of this build yet; see 'botsec --help'\n";
  return 1;
}
