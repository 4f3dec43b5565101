// The engine over simdjson's DOM: a caller that parsed with simdjson (the webhook) judges the
// document as it is, without building an nlohmann tree first (docs/adr/0006). The verdicts are
// those of engine.h's Judge over the same JSON, violation for violation and byte for byte; the
// policy tests judge every pod both ways to hold that.
#ifndef BOTSEC_POLICY_DOM_H_
#define BOTSEC_POLICY_DOM_H_

#include <simdjson.h>

#include <vector>

#include "botsec/core/result.h"
#include "botsec/policy/engine.h"

namespace botsec::policy {

struct Policy;

// engine.h's IsPodCarrier and Judge, reading `object` where it lies. `object` (and the document
// it belongs to) must outlive the call only.
bool IsPodCarrier(simdjson::dom::element object);
core::Result<std::vector<Violation>> Judge(simdjson::dom::element object, const Policy& policy);

// `value` as nlohmann's parser would have built it from the same text: non-negative integers
// unsigned, of a repeated key the last value.
Json ToJson(simdjson::dom::element value);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_DOM_H_
