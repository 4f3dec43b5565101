#include "botsec/kube/status.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace botsec::kube {
namespace {

using core::ErrorCode;

std::string Status(int code, const std::string& reason, const std::string& message,
                   const std::string& details = "") {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + message +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) +
         (details.empty() ? "" : R"(,"details":)" + details) + "}";
}

struct StatusCase {
  std::string name;
  int http;
  std::string body;
  ErrorCode code;
  std::string message;
  friend void PrintTo(const StatusCase& c, std::ostream* os) { *os << c.name; }
};

class DecodeStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(DecodeStatusTest, MapsReasonAndHttpCode) {
  const StatusCase& c = GetParam();
  core::Error error = DecodeStatus(c.http, c.body, "");
  EXPECT_EQ(error.code, c.code) << core::ErrorCodeName(error.code);
  EXPECT_EQ(error.message, c.message);
  EXPECT_EQ(error.http_status, c.http);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeStatusTest,
    ::testing::Values(StatusCase{"NotFound", 404, Status(404, "NotFound", "configmaps a not found"),
                                 ErrorCode::kNotFound, "configmaps a not found"},
                      StatusCase{"AlreadyExists", 409, Status(409, "AlreadyExists", "exists"),
                                 ErrorCode::kAlreadyExists, "exists"},
                      StatusCase{"Conflict", 409, Status(409, "Conflict", "modified"),
                                 ErrorCode::kConflict, "modified"},
                      StatusCase{"Expired", 410, Status(410, "Expired", "too old resource version"),
                                 ErrorCode::kGone, "too old resource version"},
                      StatusCase{"Forbidden", 403, Status(403, "Forbidden", "nope"),
                                 ErrorCode::kForbidden, "nope"},
                      StatusCase{"Unauthorized", 401, Status(401, "Unauthorized", "who"),
                                 ErrorCode::kUnauthorized, "who"},
                      StatusCase{"ServerTimeout", 504, Status(504, "Timeout", "slow"),
                                 ErrorCode::kTimeout, "slow"},
                      StatusCase{"PlainTextFromAProxy", 502, "Bad Gateway\n<html>...",
                                 ErrorCode::kUnavailable, "Bad Gateway"},
                      StatusCase{"EmptyBody", 500, "", ErrorCode::kInternal, "HTTP 500"},
                      StatusCase{"UnknownReasonFallsBackToHttp", 409, Status(409, "Weird", "x"),
                                 ErrorCode::kConflict, "x"}),
    [](const ::testing::TestParamInfo<StatusCase>& param) { return param.param.name; });

TEST(DecodeStatusTest, KeepsEveryCauseOfAnInvalidObject) {
  std::string body = Status(
      422, "Invalid", "ConfigMap Bad is invalid",
      R"({"name":"Bad","kind":"ConfigMap","causes":[)"
      R"({"reason":"FieldValueInvalid","message":"Invalid value: \"Bad\"","field":"metadata.name"},)"
      R"({"reason":"FieldValueRequired","message":"Required value","field":"data[x]"}]})");
  core::Error error = DecodeStatus(422, body, "");
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  ASSERT_EQ(error.causes.size(), 2U);
  EXPECT_EQ(error.causes[0].field, "metadata.name");
  EXPECT_EQ(error.causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(error.causes[1].field, "data[x]");
  EXPECT_EQ(error.causes[1].message, "Required value");
}

TEST(DecodeStatusTest, HonoursRetryAfterFromHeaderOrDetails) {
  core::Error header = DecodeStatus(429, Status(429, "TooManyRequests", "slow down"), "7");
  EXPECT_EQ(header.code, ErrorCode::kTooManyRequests);
  EXPECT_EQ(header.retry_after, std::chrono::seconds(7));
  core::Error details =
      DecodeStatus(429, Status(429, "TooManyRequests", "x", R"({"retryAfterSeconds":3})"), "");
  EXPECT_EQ(details.retry_after, std::chrono::seconds(3));
  core::Error garbage = DecodeStatus(503, "", "Wed, 21 Oct 2015 07:28:00 GMT");
  EXPECT_EQ(garbage.retry_after, std::chrono::seconds(0)) << "HTTP dates are not honoured";
}

}  // namespace
}  // namespace botsec::kube
