// botsec: the command-line tool; `botsec check` runs the webhook's policy engine offline.
#include <iostream>
#include <string>
#include <vector>

#include "botsec/core/flags.h"
#include "check.h"

int main(int argc, char** argv) try {
  if (argc >= 2 && std::string(argv[1]) == "check") {
    std::vector<std::string> args(argv + 2, argv + argc);
    return botsec::cli::RunCheck(args, std::cin, std::cout, std::cerr);
  }
  botsec::core::FlagSet flags("botsec",
                              "BotSec's command-line tool.\n\nCommands:\n  check   judge manifests "
                              "offline with the isolation policy (botsec check --help)",
                              "<command> [flags]");
  auto outcome = botsec::core::ParseCommandLine(flags, argc, argv, std::cout, std::cerr);
  if (outcome.exit_code) {
    return *outcome.exit_code;
  }
  std::cerr << "botsec: unknown command";
  if (!outcome.flags.positional().empty()) {
    std::cerr << " \"" << outcome.flags.positional()[0] << "\"";
  }
  std::cerr << "; see 'botsec --help'\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "botsec: " << e.what() << "\n";
  return 2;
}
