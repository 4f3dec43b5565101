// The engine judges through two views (docs/adr/0006): an nlohmann tree and simdjson's DOM.
// JudgeBothWays judges `object` as given and again through the DOM of its JSON text, and fails the
// running test unless the two verdicts are the same, violation for violation and byte for byte.
// The policy tests and the upstream fixtures judge every pod through it.
#ifndef BOTSEC_TESTS_SUPPORT_JUDGE_BOTH_WAYS_H_
#define BOTSEC_TESTS_SUPPORT_JUDGE_BOTH_WAYS_H_

#include <simdjson.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/dom.h"
#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"

namespace botsec::testing {

inline std::string DescribeViolations(const std::vector<policy::Violation>& violations) {
  std::string out;
  for (const policy::Violation& v : violations) {
    out += "\n    " + v.check + " " + v.field + ": " + v.message;
  }
  return out;
}

inline core::Result<std::vector<policy::Violation>> JudgeBothWays(const policy::Json& object,
                                                                  const policy::Policy& policy) {
  auto tree = policy::Judge(object, policy);
  std::string text = object.dump();
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  auto error = parser.parse(text).get(element);
  EXPECT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error) << " in " << text;
  if (error != simdjson::SUCCESS) {
    return tree;
  }
  auto dom = policy::Judge(element, policy);
  EXPECT_EQ(static_cast<bool>(tree), static_cast<bool>(dom)) << text;
  if (tree && dom) {
    EXPECT_EQ(*tree, *dom) << "over the tree:" << DescribeViolations(*tree)
                           << "\nover the DOM:" << DescribeViolations(*dom) << "\nof " << text;
  } else if (!tree && !dom) {
    EXPECT_EQ(tree.error().message, dom.error().message) << text;
  }
  EXPECT_EQ(policy::IsPodCarrier(object), policy::IsPodCarrier(element)) << text;
  return tree;
}

}  // namespace botsec::testing

#endif  // BOTSEC_TESTS_SUPPORT_JUDGE_BOTH_WAYS_H_
