#include "botsec/core/version.h"

#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

TEST(VersionTest, VersionIsSemver) {
  EXPECT_TRUE(std::regex_match(std::string(Version()), std::regex(R"(\d+\.\d+\.\d+)")))
      << Version();
}

TEST(VersionTest, LineNamesProgramVersionAndCommit) {
  std::string line = VersionLine("botsec");
  EXPECT_EQ(line,
            "botsec " + std::string(Version()) + " (commit " + std::string(GitCommit()) + ")");
  EXPECT_TRUE(std::regex_match(std::string(GitCommit()), std::regex("[0-9a-f]{12}|unknown")))
      << GitCommit();
}

}  // namespace
}  // namespace botsec::core
