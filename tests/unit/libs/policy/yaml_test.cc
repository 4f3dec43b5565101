#include "botsec/policy/yaml.h"

#include <string>

#include <gtest/gtest.h>

namespace botsec::policy {
namespace {

Json One(const std::string& text) {
  auto documents = ParseYamlStream(text);
  EXPECT_TRUE(documents) << documents.error().message;
  EXPECT_TRUE(documents && documents->size() == 1);
  return documents && !documents->empty() ? (*documents)[0].value : Json();
}

std::string ErrorOf(const std::string& text) {
  auto documents = ParseYamlStream(text);
  EXPECT_FALSE(documents) << text;
  return documents ? "" : documents.error().message;
}

TEST(YamlTest, PlainScalarsResolveAsKubectlReadsThem) {
  struct Case {
    std::string yaml;
    Json expected;
  };
  for (const Case& c : std::vector<Case>{
           {"v: yes", true},      {"v: On", true},
           {"v: y", true},        {"v: TRUE", true},
           {"v: no", false},      {"v: off", false},
           {"v: N", false},       {"v: ~", nullptr},
           {"v: null", nullptr},  {"v:", nullptr},
           {"v: 42", 42},         {"v: -7", -7},
           {"v: 0x1F", 31},       {"v: 0755", 493},
           {"v: 1_000", 1000},    {"v: 0b101", 5},
           {"v: 1.5", 1.5},       {"v: 1e3", 1000.0},
           {"v: .5", 0.5},        {"v: 500m", "500m"},
           {"v: 8Gi", "8Gi"},     {"v: 1.2.3", "1.2.3"},
           {"v: \"yes\"", "yes"}, {"v: 'on'", "on"},
           {"v: !!str 12", "12"}, {"v: 2026-12-04", "2026-12-04"},
       }) {
    EXPECT_EQ(One(c.yaml)["v"], c.expected) << c.yaml;
  }
}

TEST(YamlTest, MergeKeysAndAnchorsExpandWithWrittenKeysWinning) {
  Json doc = One(R"(
base: &base
  runAsNonRoot: true
  runAsUser: 1000
pod:
  <<: *base
  runAsUser: 2000
many:
  <<: [*base, {extra: 1}]
)");
  EXPECT_EQ(doc["pod"], Json({{"runAsNonRoot", true}, {"runAsUser", 2000}}));
  EXPECT_EQ(doc["many"], Json({{"runAsNonRoot", true}, {"runAsUser", 1000}, {"extra", 1}}));
  EXPECT_FALSE(doc["pod"].contains("<<"));
}

TEST(YamlTest, StreamsKeepTheirDocumentNumbersAndLines) {
  auto documents = ParseYamlStream("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(documents) << documents.error().message;
  ASSERT_EQ(documents->size(), 2U);
  EXPECT_EQ((*documents)[0].index, 1);
  EXPECT_EQ((*documents)[1].index, 3);
  EXPECT_EQ((*documents)[1].line, 4);
}

TEST(YamlTest, ErrorsSayWhere) {
  EXPECT_EQ(ErrorOf("a: 1\na: 2\n"), "line 2, column 1: key \"a\" already defined");
  EXPECT_EQ(ErrorOf("? [a]\n: 1\n"), "line 1, column 3: a mapping key must be a scalar");
  EXPECT_NE(ErrorOf("a: [1, 2\n").find("line 2"), std::string::npos);
  EXPECT_NE(ErrorOf("a: *nothing\n").find("line 1"), std::string::npos);
  EXPECT_EQ(ErrorOf("a: !!int twelve\n"), "line 1, column 4: \"twelve\" is not a number");
  EXPECT_NE(ErrorOf("a: &x {b: 1}\nc:\n  <<: 5\n").find("merge key"), std::string::npos);
}

// yaml-cpp 0.7 alone would emit empty documents at the comma forever, allocating as it went.
TEST(YamlTest, AFlowSeparatorAtTheTopLevelIsAnErrorNotALoop) {
  EXPECT_EQ(ErrorOf("\"x\",b\n"), "line 1, column 4: unexpected ',' outside a flow collection");
  EXPECT_EQ(ErrorOf("kind: Pod\n---\n\"a\" , b\n"),
            "line 3, column 5: unexpected ',' outside a flow collection");
  EXPECT_EQ(ErrorOf("\"\\xff\\xffPod\",\"metadata\"a\"}}"),
            "line 1, column 14: unexpected ',' outside a flow collection");
}

TEST(YamlTest, AliasBombsAreRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char previous = 'a';
  for (char name = 'b'; name <= 'h'; ++name) {
    bomb += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) {
      bomb += std::string(i == 0 ? "" : ", ") + "*" + previous;
    }
    bomb += "]\n";
    previous = name;
  }
  EXPECT_NE(ErrorOf(bomb).find("once aliases are expanded"), std::string::npos);
}

}  // namespace
}  // namespace botsec::policy
