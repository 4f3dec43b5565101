#include "botsec/core/time.h"

#include <string>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(TimeTest, FormatsWholeSecondsInUtc) {
  system_clock::time_point epoch{};
  EXPECT_EQ(FormatRfc3339(epoch), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(epoch + seconds(1796378400) + std::chrono::milliseconds(999)),
            "2026-12-04T10:00:00Z");
}

TEST(TimeTest, ParsesWhatTheApiWrites) {
  auto base = ParseRfc3339("2026-12-04T10:00:00Z");
  ASSERT_TRUE(base) << base.error().message;
  EXPECT_EQ(FormatRfc3339(*base), "2026-12-04T10:00:00Z");
  auto micro = ParseRfc3339("2026-12-04T10:00:00.250000Z");
  ASSERT_TRUE(micro);
  EXPECT_EQ(*micro - *base, std::chrono::milliseconds(250));
  auto offset = ParseRfc3339("2026-12-04T11:30:00+01:30");
  ASSERT_TRUE(offset);
  EXPECT_EQ(*offset, *base);
  auto behind = ParseRfc3339("2026-12-04T05:00:00-05:00");
  ASSERT_TRUE(behind);
  EXPECT_EQ(*behind, *base);
}

TEST(TimeTest, RefusesWhatIsNotRfc3339) {
  for (const std::string text :
       {"", "2026-12-04", "2026-12-04 10:00:00Z", "2026-12-04T10:00:00", "2026-13-04T10:00:00Z",
        "2026-02-30T10:00:00Z", "2026-12-04T24:00:00Z", "2026-12-04T10:00:00.Z",
        "2026-12-04T10:00:00Zjunk", "2026-12-04T10:00:00+0100"}) {
    auto parsed = ParseRfc3339(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message.find("is not an RFC 3339 time"), std::string::npos);
  }
}

}  // namespace
}  // namespace botsec::core
