#include "botsec/core/json_text.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace botsec::core {
namespace {

using Json = nlohmann::json;

std::string Written(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

// What nlohmann::json writes for the same string, the webhook's format before json_text.
std::string Reference(std::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

TEST(JsonTextTest, EscapesAsJsonRequires) {
  EXPECT_EQ(Written(""), R"("")");
  EXPECT_EQ(Written("plain"), R"("plain")");
  EXPECT_EQ(Written("a\"b\\c\nd\te\x01\x1f\x7f"), R"("a\"b\\c\nd\te\u0001\u001f)"
                                                  "\x7f\"");
  EXPECT_EQ(Written("caf\xC3\xA9 \xF0\x9F\xA4\x96"), "\"caf\xC3\xA9 \xF0\x9F\xA4\x96\"");
}

TEST(JsonTextTest, ReplacesIllFormedUtf8AsNlohmannDoes) {
  for (const std::string& text :
       {std::string("\xFF"), std::string("a\xC3"), std::string("\xC3("),
        std::string("\xE0\x80\x80"), std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"),
        std::string("\xF0\x9F\xA4"), std::string("\xC0\xAF"), std::string("\xE2\x82\xAC\x80x")}) {
    std::string written = Written(text);
    EXPECT_EQ(written, Reference(text)) << testing::PrintToString(text);
    EXPECT_TRUE(Json::accept(written)) << written;
  }
}

// Random strings, weighted towards the bytes UTF-8 sequences are made of: the same text as
// nlohmann's, byte for byte, and always JSON.
TEST(JsonTextTest, AgreesWithNlohmannOnRandomBytes) {
  std::mt19937 random(20261205);
  const std::vector<unsigned char> interesting = {0x00, 0x1f, '"',  '\\', 'a',  0x7f, 0x80, 0x8f,
                                                  0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                                  0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    std::size_t length = random() % 12;
    for (std::size_t i = 0; i < length; ++i) {
      text += static_cast<char>(random() % 3 == 0 ? random() % 256
                                                  : interesting[random() % interesting.size()]);
    }
    std::string written = Written(text);
    ASSERT_EQ(written, Reference(text)) << testing::PrintToString(text);
  }
}

}  // namespace
}  // namespace botsec::core
