#include "botsec/core/flags.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "botsec/core/result.h"
#include "botsec/core/version.h"

namespace botsec::core {
namespace {

constexpr std::string_view kHelp = "help";
constexpr std::string_view kVersion = "version";

Result<bool> ParseBool(std::string_view flag, std::string_view text) {
  if (text == "true" || text == "1") {
    return true;
  }
  if (text == "false" || text == "0") {
    return false;
  }
  return Fail(ErrorCode::kInvalidArgument, "flag --" + std::string(flag) + ": invalid boolean \"" +
                                               std::string(text) + "\" (want true or false)");
}

}  // namespace

std::string_view ParsedFlags::Get(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string_view() : std::string_view(it->second);
}

bool ParsedFlags::Bool(std::string_view name) const { return Get(name) == "true"; }

bool ParsedFlags::WasSet(std::string_view name) const { return set_.contains(name); }

Result<int> ParsedFlags::Int(std::string_view name, int min, int max) const {
  std::string_view text = Get(name);
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return Fail(ErrorCode::kInvalidArgument, "--" + std::string(name) + ": \"" + std::string(text) +
                                                 "\" is not a number from " + std::to_string(min) +
                                                 " to " + std::to_string(max));
  }
  return value;
}

FlagSet::FlagSet(std::string program, std::string summary, std::string usage)
    : program_(std::move(program)), summary_(std::move(summary)), usage_(std::move(usage)) {
  Bool(std::string(kHelp), "Print this help and exit.");
  Bool(std::string(kVersion), "Print the version and exit.");
}

FlagSet& FlagSet::String(std::string name, std::string value_name, std::string default_value,
                         std::string help) {
  specs_.push_back(Spec{std::move(name), std::move(value_name), std::move(default_value),
                        std::move(help), /*is_bool=*/false});
  return *this;
}

FlagSet& FlagSet::Bool(std::string name, std::string help) {
  specs_.push_back(Spec{std::move(name), "", "false", std::move(help), /*is_bool=*/true});
  return *this;
}

const FlagSet::Spec* FlagSet::Find(std::string_view name) const {
  auto it = std::find_if(specs_.begin(), specs_.end(),
                         [name](const Spec& spec) { return spec.name == name; });
  return it == specs_.end() ? nullptr : &*it;
}

std::string FlagSet::ExpandShorthand(std::string_view arg) const {
  if (arg.starts_with("--") || arg.size() < 2) {
    return "";
  }
  auto it = shorthands_.find(arg[1]);
  if (it == shorthands_.end()) {
    return "";
  }
  std::string_view rest = arg.substr(2);
  if (rest.starts_with("=")) {
    rest.remove_prefix(1);
  }
  std::string expanded = "--" + it->second;
  if (arg.size() > 2) {
    expanded.append("=").append(rest);
  }
  return expanded;
}

Result<ParsedFlags> FlagSet::Parse(std::span<const std::string_view> args) const {
  ParsedFlags parsed;
  for (const Spec& spec : specs_) {
    parsed.values_[spec.name] = spec.default_value;
  }
  bool flags_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (flags_ended || arg == "-" || !arg.starts_with("-")) {
      parsed.positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (arg == "-h") {
      arg = "--help";
    }
    std::string expanded = ExpandShorthand(arg);
    if (!expanded.empty()) {
      arg = expanded;
    }
    if (!arg.starts_with("--")) {
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown shorthand flag: " + std::string(arg) + " (flags are spelled --name)");
    }
    std::string_view body = arg.substr(2);
    std::string_view name = body;
    std::optional<std::string_view> inline_value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      inline_value = body.substr(eq + 1);
    }
    const Spec* spec = Find(name);
    if (spec == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "unknown flag: --" + std::string(name));
    }
    std::string value;
    if (spec->is_bool) {
      bool on = true;
      if (inline_value) {
        auto parsed_bool = ParseBool(name, *inline_value);
        if (!parsed_bool) {
          return Fail(parsed_bool.error());
        }
        on = *parsed_bool;
      }
      value = on ? "true" : "false";
    } else if (inline_value) {
      value = std::string(*inline_value);
    } else if (i + 1 < args.size()) {
      value = std::string(args[++i]);
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "flag needs an argument: --" + std::string(name) + " " + spec->value_name);
    }
    parsed.values_[spec->name] = std::move(value);
    parsed.set_[spec->name] = true;
  }
  return parsed;
}

std::string FlagSet::ShorthandOf(std::string_view name) const {
  for (const auto& [letter, long_name] : shorthands_) {
    if (long_name == name) {
      return std::string("-") + letter + ", ";
    }
  }
  return "";
}

FlagSet& FlagSet::Shorthand(char letter, std::string name) {
  shorthands_[letter] = std::move(name);
  return *this;
}

std::string FlagSet::Usage() const {
  std::ostringstream out;
  out << program_ << ": " << summary_ << "\n\nUsage:\n  " << program_ << ' ' << usage_
      << "\n\nFlags:\n";
  for (const Spec& spec : specs_) {
    std::string left = ShorthandOf(spec.name) + "--" + spec.name;
    if (!spec.is_bool) {
      left += ' ';
      left += spec.value_name;
    }
    out << "  " << left;
    constexpr std::size_t kColumn = 34;
    out << (left.size() + 2 < kColumn ? std::string(kColumn - left.size() - 2, ' ')
                                      : "\n" + std::string(kColumn, ' '));
    out << spec.help;
    if (!spec.is_bool && !spec.default_value.empty()) {
      out << " (default \"" << spec.default_value << "\")";
    }
    out << '\n';
  }
  return out.str();
}

ParseOutcome ParseCommandLine(const FlagSet& flags, int argc, const char* const* argv,
                              std::ostream& out, std::ostream& err) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) {
    args.emplace_back(argv[i]);
  }
  auto parsed = flags.Parse(args);
  if (!parsed) {
    err << flags.program() << ": " << parsed.error().message << "\nRun '" << flags.program()
        << " --help' for usage.\n";
    return {.exit_code = 2, .flags = {}};
  }
  if (parsed->Bool(kHelp)) {
    out << flags.Usage();
    return {.exit_code = 0, .flags = {}};
  }
  if (parsed->Bool(kVersion)) {
    out << VersionLine(flags.program()) << '\n';
    return {.exit_code = 0, .flags = {}};
  }
  return {.exit_code = std::nullopt, .flags = *std::move(parsed)};
}

}  // namespace botsec::core
