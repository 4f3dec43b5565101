#include "botsec/policy/manifest.h"

#include <string>

#include <gtest/gtest.h>

namespace botsec::policy {
namespace {

TEST(ManifestTest, ReadsJsonYamlStreamsAndLists) {
  auto json = ReadManifests(R"({"kind":"Pod","metadata":{"name":"a"}})");
  ASSERT_TRUE(json) << json.error().message;
  ASSERT_EQ(json->size(), 1U);
  EXPECT_EQ((*json)[0].object["metadata"]["name"], "a");

  auto yaml = ReadManifests(R"(kind: Pod
metadata: {name: a}
---
# a comment-only document
---
kind: List
items:
  - kind: Pod
    metadata: {name: b}
  - kind: Service
    metadata: {name: c}
---
kind: PodList
items: []
)");
  ASSERT_TRUE(yaml) << yaml.error().message;
  ASSERT_EQ(yaml->size(), 3U);
  EXPECT_EQ((*yaml)[1].object["metadata"]["name"], "b");
  EXPECT_EQ((*yaml)[1].document, 3);
  EXPECT_EQ((*yaml)[1].item, 0);
  EXPECT_EQ((*yaml)[2].item, 1);
  EXPECT_EQ((*yaml)[0].item, -1);
}

TEST(ManifestTest, ErrorsSayWhere) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"kind": "Pod",})",
            "line 1, column 16: syntax error while parsing object key - unexpected '}'; "
            "expected string literal"},
           {"kind: Pod\n---\n- a\n", "document 2 (line 3): not an object"},
           {"kind: List\nitems: 5\n", "document 1 (line 1): items: Invalid value: must be a list"},
           {"kind: List\nitems: [5]\n", "document 1 (line 1): items[0]: not an object"},
           {"a: b: c\n", "line 1, column 5: illegal map value"},
           {R"({"kind": "Pod", "spec": {"priority": 4e777777}})",
            "invalid JSON: number overflow parsing '4e777777'"},
           {"kind: Pod\n---\n\"a\", b\n",
            "line 3, column 4: unexpected ',' outside a flow collection"},
       }) {
    auto manifests = ReadManifests(c.text);
    ASSERT_FALSE(manifests) << c.text;
    EXPECT_EQ(manifests.error().message, c.expected) << c.text;
  }
}

}  // namespace
}  // namespace botsec::policy
