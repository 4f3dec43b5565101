#include "support/command.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace botsec::testing {
namespace {

TEST(RunCommandTest, CapturesStdoutStderrAndExitCode) {
  auto run = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->out, "out\n");
  EXPECT_EQ(run->err, "err\n");
  EXPECT_FALSE(run->ok());
}

TEST(RunCommandTest, FeedsStandardInput) {
  std::string big(300000, 'x');  // larger than a pipe buffer
  auto run = RunCommand({"wc", "-c"}, big);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_TRUE(run->ok());
  EXPECT_EQ(std::stoul(run->out), big.size());
}

TEST(RunCommandTest, MissingProgramIsAnError) {
  auto run = RunCommand({"/nonexistent/program"});
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, core::ErrorCode::kNotFound);
}

TEST(RunCommandTest, KillsAChildThatOutlivesItsTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto run = RunCommand({"sleep", "30"}, "", std::chrono::seconds(1));
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, core::ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace botsec::testing
