#include "botsec/kube/status.h"

#include <charconv>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;

// metav1.StatusReason values, which say more than the HTTP code (409 is Conflict or
// AlreadyExists; 410 may come as Expired).
ErrorCode FromReason(std::string_view reason, ErrorCode fallback) {
  static const std::map<std::string_view, ErrorCode> kReasons = {
      {"NotFound", ErrorCode::kNotFound},
      {"AlreadyExists", ErrorCode::kAlreadyExists},
      {"Conflict", ErrorCode::kConflict},
      {"Gone", ErrorCode::kGone},
      {"Expired", ErrorCode::kGone},
      {"Invalid", ErrorCode::kInvalidArgument},
      {"BadRequest", ErrorCode::kInvalidArgument},
      {"Forbidden", ErrorCode::kForbidden},
      {"Unauthorized", ErrorCode::kUnauthorized},
      {"TooManyRequests", ErrorCode::kTooManyRequests},
      {"Timeout", ErrorCode::kTimeout},
      {"ServerTimeout", ErrorCode::kTimeout},
      {"ServiceUnavailable", ErrorCode::kUnavailable},
      {"InternalError", ErrorCode::kInternal},
  };
  auto it = kReasons.find(reason);
  return it == kReasons.end() ? fallback : it->second;
}

ErrorCode FromHttp(int status) {
  switch (status) {
    case 400:
    case 422:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthorized;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 410:
      return ErrorCode::kGone;
    case 429:
      return ErrorCode::kTooManyRequests;
    case 502:
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kTimeout;
    default:
      return status >= 500 ? ErrorCode::kInternal : ErrorCode::kInvalidArgument;
  }
}

int ParseSeconds(std::string_view text) {
  int seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  return ec == std::errc() && ptr == text.data() + text.size() && seconds > 0 ? seconds : 0;
}

}  // namespace

core::Error DecodeStatus(int http_status, std::string_view body, std::string_view retry_after) {
  core::Error error = core::MakeError(FromHttp(http_status), "");
  error.http_status = http_status;
  error.retry_after = std::chrono::seconds(ParseSeconds(retry_after));
  nlohmann::json status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object() && status.value("kind", "") == "Status") {
    error.code = FromReason(status.value("reason", ""), error.code);
    error.message = status.value("message", "");
    const nlohmann::json& details =
        status.contains("details") ? status["details"] : nlohmann::json();
    if (details.is_object()) {
      if (error.retry_after.count() == 0 && details.contains("retryAfterSeconds") &&
          details["retryAfterSeconds"].is_number_integer()) {
        error.retry_after = std::chrono::seconds(details["retryAfterSeconds"].get<int>());
      }
      if (details.contains("causes") && details["causes"].is_array()) {
        for (const nlohmann::json& cause : details["causes"]) {
          if (cause.is_object()) {
            error.causes.push_back(core::Cause{cause.value("field", ""), cause.value("reason", ""),
                                               cause.value("message", "")});
          }
        }
      }
    }
  } else {
    std::string_view first_line = body.substr(0, body.find('\n'));
    error.message = first_line.substr(0, 200);
  }
  if (error.message.empty()) {
    error.message = "HTTP " + std::to_string(http_status);
  }
  return error;
}

}  // namespace botsec::kube
