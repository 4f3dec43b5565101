#include "botsec/operator/recent_writes.h"

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"

namespace botsec::operator_reconcile {
namespace {

using std::chrono::seconds;

ObjectPtr At(const std::string& version, const std::string& marker = "") {
  return std::make_shared<const Json>(
      Json{{"metadata", {{"name", "bot"}, {"namespace", "bsb-a"}, {"resourceVersion", version}}},
           {"marker", marker}});
}

class RecentWritesTest : public ::testing::Test {
 protected:
  core::FakeClock clock_;
  RecentWrites writes_{clock_, seconds(30)};
  const std::string key_ = WriteKey("Pod", "bsb-a", "bot");
};

TEST_F(RecentWritesTest, AWriteIsCurrentUntilTheCacheShowsItsVersion) {
  writes_.Remember(key_, *At("120", "written"));
  EXPECT_EQ((*writes_.Current(key_, At("100", "cached")))["marker"], "written")
      << "the cache is behind our write";
  EXPECT_EQ((*writes_.Current(key_, nullptr))["marker"], "written")
      << "created by us, not yet in any cache";
  EXPECT_EQ((*writes_.Current(key_, At("120", "cached")))["marker"], "cached");
  EXPECT_EQ(writes_.size(), 0U) << "the cache caught up: the entry goes";
}

TEST_F(RecentWritesTest, ANewerVersionFromTheCacheWins) {
  writes_.Remember(key_, *At("120", "written"));
  EXPECT_EQ((*writes_.Current(key_, At("130", "someone else's edit")))["marker"],
            "someone else's edit");
}

TEST_F(RecentWritesTest, AnInformerEventOfTheVersionOrLaterDropsTheEntry) {
  writes_.Remember(key_, *At("120"));
  writes_.Seen(key_, *At("110"));
  EXPECT_EQ(writes_.size(), 1U) << "an older event does not supersede the write";
  writes_.Seen(key_, *At("125"));  // e.g. the delete event of someone's delete after our write
  EXPECT_EQ(writes_.size(), 0U);
  EXPECT_EQ(writes_.Current(key_, nullptr), nullptr) << "a deleted child must show as missing";
}

TEST_F(RecentWritesTest, EntriesLapseAfterTheTtlAndOnForget) {
  writes_.Remember(key_, *At("120"));
  clock_.Advance(seconds(31));
  EXPECT_EQ(writes_.Current(key_, nullptr), nullptr);
  writes_.Remember(key_, *At("121"));
  writes_.Forget(key_);
  EXPECT_EQ(writes_.Current(key_, nullptr), nullptr);
}

TEST_F(RecentWritesTest, AVersionThatIsNotAnIntegerIsNeverTrustedOverTheCache) {
  writes_.Remember(key_, *At("abc", "written"));
  EXPECT_EQ(writes_.size(), 0U);
  writes_.Remember(key_, *At("120", "written"));
  EXPECT_EQ((*writes_.Current(key_, At("x1", "cached")))["marker"], "cached");
}

TEST_F(RecentWritesTest, ListsTheKeysOfOneNamespace) {
  writes_.Remember(key_, *At("120"));
  writes_.Remember(WriteKey("Service", "bsb-b", "bot"), *At("121"));
  writes_.Remember(WriteKey("Namespace", "", "bsb-a"), *At("122"));
  EXPECT_EQ(writes_.KeysIn("bsb-a"), std::vector<std::string>{key_});
}

TEST(ResourceVersionOfTest, ReadsOnlyIntegers) {
  EXPECT_EQ(ResourceVersionOf(Json{{"metadata", {{"resourceVersion", "18446744073709551615"}}}}),
            18446744073709551615ULL);
  EXPECT_EQ(ResourceVersionOf(Json{{"metadata", {{"resourceVersion", "-1"}}}}), std::nullopt);
  EXPECT_EQ(ResourceVersionOf(Json{{"metadata", {{"resourceVersion", ""}}}}), std::nullopt);
  EXPECT_EQ(ResourceVersionOf(Json{{"metadata", {{"resourceVersion", 5}}}}), std::nullopt);
  EXPECT_EQ(ResourceVersionOf(Json::array()), std::nullopt);
}

}  // namespace
}  // namespace botsec::operator_reconcile
