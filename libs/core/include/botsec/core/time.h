// RFC 3339 timestamps as the Kubernetes API writes them ("2026-12-04T10:00:00Z").
#ifndef BOTSEC_CORE_TIME_H_
#define BOTSEC_CORE_TIME_H_

#include <chrono>
#include <string>
#include <string_view>

#include "botsec/core/result.h"

namespace botsec::core {

// Whole seconds in UTC: "2026-12-04T10:00:00Z" (metav1.Time).
std::string FormatRfc3339(std::chrono::system_clock::time_point time);

// "2026-12-04T10:00:00Z", with optional fractional seconds and a "+01:00"-style offset.
// Fails (kInvalidArgument) on anything else.
Result<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_TIME_H_
