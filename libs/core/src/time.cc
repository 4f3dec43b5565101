#include "botsec/core/time.h"

#include <array>
#include <cstdio>
#include <ctime>

namespace botsec::core {
namespace {

bool Digits(std::string_view text, std::size_t at, std::size_t count, int& out) {
  if (at + count > text.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
  auto t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::array<char, 32> buffer{};
  std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer.data();
}

Result<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text) {
  auto invalid = [&] {
    return Fail(
        ErrorCode::kInvalidArgument,
        "\"" + std::string(text) + "\" is not an RFC 3339 time such as 2026-12-04T10:00:00Z");
  };
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!Digits(text, 0, 4, year) || text.size() < 20 || text[4] != '-' ||
      !Digits(text, 5, 2, month) || text[7] != '-' || !Digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't') || !Digits(text, 11, 2, hour) || text[13] != ':' ||
      !Digits(text, 14, 2, minute) || text[16] != ':' || !Digits(text, 17, 2, second)) {
    return invalid();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return invalid();
  }
  std::size_t at = 19;
  std::chrono::nanoseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    std::size_t start = ++at;
    long long nanos = 0;
    int places = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (places < 9) {
        nanos = nanos * 10 + (text[at] - '0');
        ++places;
      }
      ++at;
    }
    if (at == start) {
      return invalid();
    }
    for (; places < 9; ++places) {
      nanos *= 10;
    }
    fraction = std::chrono::nanoseconds(nanos);
  }
  std::chrono::seconds offset{0};
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) {
    // UTC
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    int offset_hours = 0;
    int offset_minutes = 0;
    if (!Digits(text, at + 1, 2, offset_hours) || !Digits(text, at + 4, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return invalid();
    }
    offset = std::chrono::hours(offset_hours) + std::chrono::minutes(offset_minutes);
    if (text[at] == '+') {
      offset = -offset;
    }
  } else {
    return invalid();
  }
  std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                   std::chrono::day(day)};
  if (!date.ok()) {
    return invalid();
  }
  auto time = std::chrono::sys_days(date) + std::chrono::hours(hour) +
              std::chrono::minutes(minute) + std::chrono::seconds(second) + offset;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(time) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

}  // namespace botsec::core
