// The engine over simdjson's DOM reads JSON as the tree view does where text can differ from a
// tree's dump: members in any order, repeated keys, nulls, numbers. (Every other pod of the policy
// tests is judged both ways by support/judge_both_ways.h.)
#include "botsec/policy/dom.h"

#include <simdjson.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"

namespace botsec::policy {
namespace {

// `text` judged over its DOM and over nlohmann's parse of it.
struct BothWays {
  core::Result<std::vector<Violation>> dom;
  core::Result<std::vector<Violation>> tree;
};

BothWays Judged(const std::string& text, Profile profile) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  EXPECT_EQ(parser.parse(text).get(element), simdjson::SUCCESS) << text;
  return {Judge(element, Policy::ForProfile(profile)),
          Judge(Json::parse(text), Policy::ForProfile(profile))};
}

std::vector<std::string> Fields(const core::Result<std::vector<Violation>>& judged) {
  std::vector<std::string> fields;
  EXPECT_TRUE(judged) << judged.error().message;
  for (const Violation& v : judged ? *judged : std::vector<Violation>{}) {
    fields.push_back(v.field + ": " + v.message);
  }
  return fields;
}

constexpr const char* kSecure =
    R"("securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}})";

std::string Pod(const std::string& metadata, const std::string& spec) {
  return R"({"kind":"Pod","metadata":)" + metadata + R"(,"spec":)" + spec + "}";
}

std::string RestrictedSpec(const std::string& more) {
  return R"({)" + more +
         R"("securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},)" +
         R"("containers":[{"name":"main","image":"m",)" + kSecure + "}]}";
}

TEST(DomTest, MembersAreVisitedInKeyOrderWhateverTheDocumentOrder) {
  // Two bad AppArmor annotations, written z before a: both views list a first.
  std::string text = Pod(R"({"name":"p","annotations":{)"
                         R"("container.apparmor.security.beta.kubernetes.io/z":"unconfined",)"
                         R"("container.apparmor.security.beta.kubernetes.io/a":"unconfined"}})",
                         RestrictedSpec(""));
  BothWays judged = Judged(text, Profile::kPssBaseline);
  std::vector<std::string> fields = Fields(judged.dom);
  ASSERT_EQ(fields.size(), 2U);
  EXPECT_TRUE(fields[0].starts_with(
      "metadata.annotations[container.apparmor.security.beta.kubernetes.io/a]"))
      << fields[0];
  EXPECT_EQ(fields, Fields(judged.tree));
}

TEST(DomTest, ARepeatedKeyCountsWithItsLastValue) {
  // hostNetwork true then false: the API server's decoder keeps the last, so does the engine.
  std::string admitted =
      Pod(R"({"name":"p"})", RestrictedSpec(R"("hostNetwork":true,"hostNetwork":false,)"));
  BothWays judged = Judged(admitted, Profile::kPssRestricted);
  EXPECT_TRUE(Fields(judged.dom).empty());
  EXPECT_EQ(Fields(judged.dom), Fields(judged.tree));

  std::string refused =
      Pod(R"({"name":"p"})", RestrictedSpec(R"("hostNetwork":false,"hostNetwork":true,)"));
  judged = Judged(refused, Profile::kPssRestricted);
  EXPECT_EQ(Fields(judged.dom),
            std::vector<std::string>{"spec.hostNetwork: Forbidden: must not be true"});
  EXPECT_EQ(Fields(judged.dom), Fields(judged.tree));

  // A repeated member of a volume: only the last is the volume's.
  std::string volume =
      Pod(R"({"name":"p"})",
          RestrictedSpec(R"("volumes":[{"name":"v","hostPath":{"path":"/"},"hostPath":null}],)"));
  judged = Judged(volume, Profile::kPssBaseline);
  EXPECT_TRUE(Fields(judged.dom).empty());
  EXPECT_EQ(Fields(judged.dom), Fields(judged.tree));
}

TEST(DomTest, NullIsAbsentAndWrongTypesAreViolations) {
  std::string text =
      Pod(R"({"name":"p","annotations":null})",
          R"({"securityContext":{"runAsNonRoot":null,"runAsUser":-0.0,"seccompProfile":null},)"
          R"("hostPID":"yes","containers":[{"name":"main","image":"m","ports":[{"hostPort":0},)"
          R"({"hostPort":18446744073709551615}],)" +
              std::string(kSecure) + "}]}");
  BothWays judged = Judged(text, Profile::kPssRestricted);
  std::vector<std::string> fields = Fields(judged.dom);
  EXPECT_EQ(fields, Fields(judged.tree));
  auto has = [&](const std::string& line) {
    return std::find(fields.begin(), fields.end(), line) != fields.end();
  };
  EXPECT_TRUE(has(R"(spec.hostPID: Invalid value: "yes": must be a boolean)"));
  EXPECT_TRUE(has(R"(spec.securityContext.runAsUser: Invalid value: -0.0: must be an integer)"));
  EXPECT_TRUE(
      has("spec.containers[0].ports[1].hostPort: Forbidden: 18446744073709551615: host "
          "ports are not allowed"));
  EXPECT_FALSE(
      has("spec.containers[0].ports[0].hostPort: Forbidden: 0: host ports are not "
          "allowed"));
}

TEST(DomTest, ToJsonIsNlohmannsParse) {
  std::string text =
      R"({"b":[1,-2,3.5,18446744073709551615,true,null,"x\u00e9"],"a":{"k":1,"k":{"deep":[]}}})";
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  ASSERT_EQ(parser.parse(text).get(element), simdjson::SUCCESS);
  Json converted = ToJson(element);
  Json parsed = Json::parse(text);
  EXPECT_EQ(converted, parsed);
  EXPECT_EQ(converted.dump(), parsed.dump());
  EXPECT_TRUE(converted["b"][0].is_number_unsigned());
  EXPECT_TRUE(converted["b"][1].is_number_integer() && !converted["b"][1].is_number_unsigned());
}

TEST(DomTest, KindsOtherThanPodCarriersAreNotJudged) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  ASSERT_EQ(parser.parse(std::string(R"({"kind":"Service","spec":{}})")).get(element),
            simdjson::SUCCESS);
  EXPECT_FALSE(IsPodCarrier(element));
  auto judged = Judge(element, Policy::ForProfile(Profile::kBot));
  ASSERT_FALSE(judged);
  EXPECT_EQ(judged.error().message, "kind: not a Pod or a kind with a pod template");
}

}  // namespace
}  // namespace botsec::policy
