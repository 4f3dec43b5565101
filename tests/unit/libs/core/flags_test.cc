#include "botsec/core/flags.h"

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

FlagSet TestFlags() {
  FlagSet flags("prog", "does things", "[flags] FILE...");
  flags.String("kubeconfig", "PATH", "", "Path to a kubeconfig.")
      .String("metrics-bind-address", "ADDR", ":8080", "Where to serve metrics.")
      .Bool("leader-elect", "Elect a leader.");
  return flags;
}

Result<ParsedFlags> ParseArgs(const std::vector<std::string_view>& args) {
  return TestFlags().Parse(args);
}

TEST(FlagsTest, DefaultsHoldWhenNothingIsGiven) {
  auto parsed = ParseArgs({});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->Get("metrics-bind-address"), ":8080");
  EXPECT_EQ(parsed->Get("kubeconfig"), "");
  EXPECT_FALSE(parsed->Bool("leader-elect"));
  EXPECT_FALSE(parsed->WasSet("metrics-bind-address"));
  EXPECT_TRUE(parsed->positional().empty());
}

TEST(FlagsTest, IntReadsAWholeNumberInRangeAndNamesTheFlagOtherwise) {
  FlagSet flags("prog", "does things");
  flags.String("threads", "N", "2", "Threads.");
  auto defaulted = flags.Parse({});
  ASSERT_TRUE(defaulted);
  EXPECT_EQ(defaulted->Int("threads", 1, 99).value_or(-1), 2);
  auto given = flags.Parse(std::vector<std::string_view>{"--threads=99"});
  ASSERT_TRUE(given);
  EXPECT_EQ(given->Int("threads", 1, 99).value_or(-1), 99);
  for (std::string_view bad : {"--threads=0", "--threads=100", "--threads=x", "--threads=",
                               "--threads=4x", "--threads=-3", "--threads=99999999999"}) {
    auto parsed = flags.Parse(std::vector<std::string_view>{bad});
    ASSERT_TRUE(parsed) << bad;
    auto value = parsed->Int("threads", 1, 99);
    ASSERT_FALSE(value) << bad;
    EXPECT_EQ(value.error().code, ErrorCode::kInvalidArgument);
    std::string text(bad.substr(std::string_view("--threads=").size()));
    EXPECT_EQ(value.error().message, "--threads: \"" + text + "\" is not a number from 1 to 99");
  }
}

TEST(FlagsTest, AcceptsEqualsAndSpaceSeparatedValues) {
  auto parsed = ParseArgs({"--kubeconfig=/a", "--metrics-bind-address", "127.0.0.1:9"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->Get("kubeconfig"), "/a");
  EXPECT_EQ(parsed->Get("metrics-bind-address"), "127.0.0.1:9");
  EXPECT_TRUE(parsed->WasSet("kubeconfig"));
}

TEST(FlagsTest, ValueMayBeEmptyOrContainEquals) {
  auto parsed = ParseArgs({"--kubeconfig=", "--metrics-bind-address=a=b"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->Get("kubeconfig"), "");
  EXPECT_TRUE(parsed->WasSet("kubeconfig"));
  EXPECT_EQ(parsed->Get("metrics-bind-address"), "a=b");
}

TEST(FlagsTest, BooleansTakeOptionalTrueOrFalse) {
  auto on = ParseArgs({"--leader-elect"});
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->Bool("leader-elect"));
  auto off = ParseArgs({"--leader-elect=false"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->Bool("leader-elect"));
  EXPECT_TRUE(off->WasSet("leader-elect"));
  auto bad = ParseArgs({"--leader-elect=maybe"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message,
            "flag --leader-elect: invalid boolean \"maybe\" (want true or false)");
}

TEST(FlagsTest, BooleanDoesNotSwallowTheNextArgument) {
  auto parsed = ParseArgs({"--leader-elect", "file.yaml"});
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->Bool("leader-elect"));
  EXPECT_EQ(parsed->positional(), std::vector<std::string>{"file.yaml"});
}

TEST(FlagsTest, PositionalArgumentsKeepTheirOrderAndDashDashEndsFlags) {
  auto parsed = ParseArgs({"a.yaml", "--kubeconfig=k", "-", "--", "--leader-elect"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->positional(), (std::vector<std::string>{"a.yaml", "-", "--leader-elect"}));
  EXPECT_FALSE(parsed->Bool("leader-elect"));
}

TEST(FlagsTest, UnknownFlagIsNamed) {
  auto parsed = ParseArgs({"--kubeconfg=x"});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "unknown flag: --kubeconfg");
}

TEST(FlagsTest, MissingValueIsNamed) {
  auto parsed = ParseArgs({"--kubeconfig"});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "flag needs an argument: --kubeconfig PATH");
}

TEST(FlagsTest, SingleDashShorthandsOtherThanHelpAreRejected) {
  auto parsed = ParseArgs({"-v"});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "unknown shorthand flag: -v (flags are spelled --name)");
  auto help = ParseArgs({"-h"});
  ASSERT_TRUE(help);
  EXPECT_TRUE(help->Bool("help"));
}

TEST(FlagsTest, UsageListsEveryFlagWithItsDefault) {
  std::string usage = TestFlags().Usage();
  EXPECT_NE(usage.find("prog: does things"), std::string::npos) << usage;
  EXPECT_NE(usage.find("  prog [flags] FILE..."), std::string::npos) << usage;
  EXPECT_NE(usage.find("--kubeconfig PATH"), std::string::npos) << usage;
  EXPECT_NE(usage.find("Where to serve metrics. (default \":8080\")"), std::string::npos) << usage;
  EXPECT_NE(usage.find("--help"), std::string::npos) << usage;
  EXPECT_NE(usage.find("--version"), std::string::npos) << usage;
}

struct CommandLineCase {
  std::string name;
  std::vector<const char*> argv;
  std::optional<int> exit_code;
  std::string out_contains;
  std::string err_contains;

  friend void PrintTo(const CommandLineCase& c, std::ostream* os) { *os << c.name; }
};

class ParseCommandLineTest : public ::testing::TestWithParam<CommandLineCase> {};

TEST_P(ParseCommandLineTest, HandlesHelpVersionAndErrors) {
  const CommandLineCase& c = GetParam();
  std::ostringstream out;
  std::ostringstream err;
  FlagSet flags = TestFlags();
  auto outcome = ParseCommandLine(flags, static_cast<int>(c.argv.size()), c.argv.data(), out, err);
  EXPECT_EQ(outcome.exit_code, c.exit_code);
  EXPECT_NE(out.str().find(c.out_contains), std::string::npos) << out.str();
  EXPECT_NE(err.str().find(c.err_contains), std::string::npos) << err.str();
  if (c.err_contains.empty()) {
    EXPECT_EQ(err.str(), "");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseCommandLineTest,
    ::testing::Values(CommandLineCase{"Help", {"prog", "--help"}, 0, "Usage:", ""},
                      CommandLineCase{"Version", {"prog", "--version"}, 0, "prog 0.", ""},
                      CommandLineCase{"UnknownFlag",
                                      {"prog", "--bogus"},
                                      2,
                                      "",
                                      "prog: unknown flag: --bogus\nRun 'prog --help'"},
                      CommandLineCase{"Proceed", {"prog", "--kubeconfig=x"}, std::nullopt, "", ""}),
    [](const ::testing::TestParamInfo<CommandLineCase>& param) { return param.param.name; });

}  // namespace
}  // namespace botsec::core

namespace botsec::core {
namespace {

TEST(FlagSetShorthand, StandsForTheLongFlagInEachSpelling) {
  FlagSet flags("botsec check", "judges manifests");
  flags.String("output", "FORMAT", "text", "text or json").Shorthand('o', "output");
  for (std::vector<std::string_view> args :
       {std::vector<std::string_view>{"-o", "json", "a.yaml"},
        std::vector<std::string_view>{"-ojson", "a.yaml"},
        std::vector<std::string_view>{"-o=json", "a.yaml"},
        std::vector<std::string_view>{"--output=json", "a.yaml"}}) {
    auto parsed = flags.Parse(args);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->Get("output"), "json");
    EXPECT_EQ(parsed->positional(), std::vector<std::string>{"a.yaml"});
  }
  EXPECT_NE(flags.Usage().find("-o, --output FORMAT"), std::string::npos) << flags.Usage();
  auto unknown = flags.Parse(std::vector<std::string_view>{"-x"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown shorthand flag: -x"), std::string::npos);
}

}  // namespace
}  // namespace botsec::core
