#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "botsec/policy/policy.h"

namespace botsec::policy {
namespace {

class PolicyReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "policy-reloader-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/policy.yaml";
    Write("profile: bot\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes a new version the way an editor or the kubelet would: a new file renamed into place.
  void Write(const std::string& body) const {
    std::ofstream(path_ + ".new") << "apiVersion: botsec.io/v1alpha1\nkind: Policy\n" << body;
    std::filesystem::rename(path_ + ".new", path_);
  }
  std::string dir_;
  std::string path_;
};

TEST_F(PolicyReloaderTest, ReadsAChangedFileOnceAndKeepsQuietOtherwise) {
  PolicyReloader reloader(path_);
  auto unchanged = reloader.Poll();
  ASSERT_TRUE(unchanged) << unchanged.error().message;
  EXPECT_FALSE(unchanged->has_value());

  Write("profile: pss-restricted\n");
  auto changed = reloader.Poll();
  ASSERT_TRUE(changed) << changed.error().message;
  ASSERT_TRUE(changed->has_value());
  EXPECT_EQ((*changed)->profile, Profile::kPssRestricted);
  auto again = reloader.Poll();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
}

TEST_F(PolicyReloaderTest, ABadVersionIsReportedOnceNamingTheFileAndAGoodOneFollows) {
  PolicyReloader reloader(path_);
  Write("profile: strictest\n");
  auto bad = reloader.Poll();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("--policy " + path_), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("strictest"), std::string::npos) << bad.error().message;
  auto same_bad = reloader.Poll();
  ASSERT_TRUE(same_bad) << "reported once per version";
  EXPECT_FALSE(same_bad->has_value());

  Write("profile: pss-baseline\n");
  auto good = reloader.Poll();
  ASSERT_TRUE(good && good->has_value());
  EXPECT_EQ((*good)->profile, Profile::kPssBaseline);
}

}  // namespace
}  // namespace botsec::policy
