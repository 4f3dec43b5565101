#include "botsec/core/result.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(n) + " is odd");
  }
  return n / 2;
}

TEST(ResultTest, CarriesAValueOrAnError) {
  auto ok = Half(8);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "3 is odd");
}

TEST(ResultTest, WrapAddsContextAndKeepsTheCode) {
  Error e = MakeError(ErrorCode::kGone, "resourceVersion 5 is too old");
  e.http_status = 410;
  Error wrapped = e.Wrap("watching pods");
  EXPECT_EQ(wrapped.code, ErrorCode::kGone);
  EXPECT_EQ(wrapped.message, "watching pods: resourceVersion 5 is too old");
  EXPECT_EQ(wrapped.http_status, 410);
}

TEST(ResultTest, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kConflict, ErrorCode::kGone, ErrorCode::kForbidden, ErrorCode::kUnauthorized,
        ErrorCode::kTooManyRequests, ErrorCode::kTimeout, ErrorCode::kUnavailable,
        ErrorCode::kInternal}) {
    std::string_view name = ErrorCodeName(code);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name << " is used twice";
  }
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotFound), "not_found");
}

}  // namespace
}  // namespace botsec::core
