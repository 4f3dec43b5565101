// Writing JSON text straight into a string, for the few documents written on every request (the
// webhook's answer and its audit line), where building an nlohmann tree only to dump it cost more
// than the judgement itself.
#ifndef BOTSEC_CORE_JSON_TEXT_H_
#define BOTSEC_CORE_JSON_TEXT_H_

#include <string>
#include <string_view>

namespace botsec::core {

// Appends `text` as a JSON string, quotes included, byte for byte as nlohmann::json's
// dump(-1, ' ', false, error_handler_t::replace) writes it: `"`, `\` and control characters
// escaped (`\n`, `\u001f`, ...), other bytes as they are, and each ill-formed UTF-8 sequence
// replaced by U+FFFD, so the result is always valid JSON.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_JSON_TEXT_H_
