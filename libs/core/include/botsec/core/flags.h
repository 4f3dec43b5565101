// Command-line flags for BotSec's binaries, in the style Kubernetes components use:
// `--name=value`, `--name value`, `--bool` or `--bool=false`, positional arguments, and `--` to end
// the flags. Every FlagSet knows `--help` and `--version`.
//
// Parsing is pure: it returns the parsed flags or one Error naming the flag and what is wrong.
#ifndef BOTSEC_CORE_FLAGS_H_
#define BOTSEC_CORE_FLAGS_H_

#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::core {

// The values of one command line. Flags not given hold their defaults.
class ParsedFlags {
 public:
  // The value of a string flag, or its default. Names not declared in the FlagSet return "".
  [[nodiscard]] std::string_view Get(std::string_view name) const;
  // True when a boolean flag was given (and not given as `=false`).
  [[nodiscard]] bool Bool(std::string_view name) const;
  // The value of a flag as a whole number from `min` to `max`; otherwise an error naming the flag:
  // `--threads: "x" is not a number from 1 to 99`.
  [[nodiscard]] Result<int> Int(std::string_view name, int min, int max) const;
  // True when the flag appeared on the command line at all.
  [[nodiscard]] bool WasSet(std::string_view name) const;
  [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend class FlagSet;
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, bool, std::less<>> set_;
  std::vector<std::string> positional_;
};

class FlagSet {
 public:
  // `program` is the binary's name; `summary` one sentence saying what it does; `usage` the
  // synopsis after the program name, e.g. "[flags] FILE...".
  FlagSet(std::string program, std::string summary, std::string usage = "[flags]");

  // Declares a flag taking a value. `value_name` names the value in help ("PATH").
  FlagSet& String(std::string name, std::string value_name, std::string default_value,
                  std::string help);
  // Declares a boolean flag, false unless given.
  FlagSet& Bool(std::string name, std::string help);
  // Lets `-<letter>` stand for the declared flag `name`, as kubectl's `-o json` for `--output`:
  // `-o json`, `-ojson` and `-o=json`.
  FlagSet& Shorthand(char letter, std::string name);

  // Parses arguments (without argv[0]).
  [[nodiscard]] Result<ParsedFlags> Parse(std::span<const std::string_view> args) const;

  // The text `--help` prints.
  [[nodiscard]] std::string Usage() const;
  [[nodiscard]] const std::string& program() const { return program_; }

 private:
  struct Spec {
    std::string name;
    std::string value_name;
    std::string default_value;
    std::string help;
    bool is_bool = false;
  };
  [[nodiscard]] const Spec* Find(std::string_view name) const;
  // "--output=json" for "-ojson" when -o stands for --output; "" for anything else.
  [[nodiscard]] std::string ExpandShorthand(std::string_view arg) const;
  // "-o, " when a shorthand stands for `name`, else "".
  [[nodiscard]] std::string ShorthandOf(std::string_view name) const;

  std::string program_;
  std::string summary_;
  std::string usage_;
  std::vector<Spec> specs_;
  std::map<char, std::string> shorthands_;
};

// Parses argv with `flags` and handles what every binary does alike: a parse error (one line on
// `err`, exit code 2), `--help` (usage on `out`, 0) and `--version` (version line on `out`, 0).
// Returns the exit code when the program should stop there, or the parsed flags otherwise.
struct ParseOutcome {
  std::optional<int> exit_code;
  ParsedFlags flags;
};
ParseOutcome ParseCommandLine(const FlagSet& flags, int argc, const char* const* argv,
                              std::ostream& out, std::ostream& err);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_FLAGS_H_
