#include "botsec/core/json_text.h"

#include <array>
#include <cstddef>
#include <cstdint>

namespace botsec::core {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// How many continuation bytes follow `lead`, and the range its first one must be in (Unicode
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF); 0 for a byte that
// cannot start a sequence.
struct Lead {
  int continuations = 0;
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xBF;
};

Lead LeadOf(std::uint8_t byte) {
  if (byte >= 0xC2 && byte <= 0xDF) {
    return {1};
  }
  if (byte == 0xE0) {
    return {2, 0xA0, 0xBF};
  }
  if (byte == 0xED) {
    return {2, 0x80, 0x9F};
  }
  if (byte >= 0xE1 && byte <= 0xEF) {
    return {2};
  }
  if (byte == 0xF0) {
    return {3, 0x90, 0xBF};
  }
  if (byte == 0xF4) {
    return {3, 0x80, 0x8F};
  }
  if (byte >= 0xF1 && byte <= 0xF3) {
    return {3};
  }
  return {0};
}

void AppendEscaped(std::string& out, char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                    '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
      auto byte = static_cast<std::uint8_t>(c);
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<std::uint8_t>(text[i]);
    if (byte < 0x80) {
      if (byte < 0x20 || byte == '"' || byte == '\\') {
        AppendEscaped(out, text[i]);
      } else {
        out += text[i];
      }
      ++i;
      continue;
    }
    Lead lead = LeadOf(byte);
    if (lead.continuations == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    // The sequence's bytes, as far as they are well formed; at the first that is not, one
    // U+FFFD stands for what came before it, and that byte is read again as a start.
    std::size_t length = 1;
    bool whole = true;
    for (int k = 0; k < lead.continuations; ++k) {
      if (i + length >= text.size()) {
        whole = false;
        break;
      }
      auto next = static_cast<std::uint8_t>(text[i + length]);
      std::uint8_t low = k == 0 ? lead.low : 0x80;
      std::uint8_t high = k == 0 ? lead.high : 0xBF;
      if (next < low || next > high) {
        whole = false;
        break;
      }
      ++length;
    }
    if (whole) {
      out.append(text.substr(i, length));
    } else {
      out += kReplacement;
    }
    i += length;
  }
  out += '"';
}

}  // namespace botsec::core
