#include "botsec/core/file_stamp.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

class FileStampTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "file-stamp-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(FileStampTest, AMissingFileHasTheEmptyStamp) {
  EXPECT_EQ(StampOf(dir_ + "/nothing"), FileStamp{});
  EXPECT_EQ(StampOf(dir_ + "/nothing").size, -1);
}

TEST_F(FileStampTest, ARewriteChangesIt) {
  Write("a", "one");
  FileStamp before = StampOf(dir_ + "/a");
  EXPECT_EQ(before, StampOf(dir_ + "/a"));
  EXPECT_EQ(before.size, 3);
  Write("a", "three");
  EXPECT_NE(StampOf(dir_ + "/a"), before);
}

// How the kubelet updates a mounted ConfigMap: the file is a link through `..data`, which is
// swapped to a new directory.
TEST_F(FileStampTest, ASymlinkSwapChangesItEvenWithTheSameSizeAndTime) {
  std::filesystem::create_directories(dir_ + "/v1");
  std::filesystem::create_directories(dir_ + "/v2");
  Write("v1/policy.yaml", "same");
  Write("v2/policy.yaml", "same");
  std::filesystem::create_directory_symlink("v1", dir_ + "/..data");
  std::filesystem::create_symlink("..data/policy.yaml", dir_ + "/policy.yaml");
  FileStamp before = StampOf(dir_ + "/policy.yaml");
  std::filesystem::create_directory_symlink("v2", dir_ + "/..data_tmp");
  std::filesystem::rename(dir_ + "/..data_tmp", dir_ + "/..data");
  FileStamp after = StampOf(dir_ + "/policy.yaml");
  EXPECT_NE(after, before);
  EXPECT_NE(after.inode, before.inode);
}

}  // namespace
}  // namespace botsec::core
