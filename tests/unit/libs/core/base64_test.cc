#include "botsec/core/base64.h"

#include <string>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

TEST(Base64Test, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 64; ++i) {
    auto decoded = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, bytes);
    bytes += static_cast<char>(i * 37);
  }
}

TEST(Base64Test, KnownVectors) {
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(*Base64Decode("Zm9v\nYmE="), "fooba");
  EXPECT_EQ(*Base64Decode("Zm9vYg"), "foob") << "padding is optional";
}

TEST(Base64Test, RejectsGarbageWithItsOffset) {
  auto bad = Base64Decode("Zm9v*mFy");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "not valid base64: unexpected character at offset 4");
  EXPECT_FALSE(Base64Decode("Zm9vY"));   // a lone sextet is not a byte
  EXPECT_FALSE(Base64Decode("Zg==Zg"));  // data after padding
}

}  // namespace
}  // namespace botsec::core
