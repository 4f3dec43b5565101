// Fuzz target: the webhook's AdmissionReview decoder, and for whatever decodes, the decision and
// the encoded answer, as the webhook's /validate does (webhook/decide). Differential on the way:
// whatever ParseReviewJson (simdjson, building nlohmann::json) reads must be exactly what
// nlohmann's own parser reads, but for the managedFields it leaves out; and the policy's verdict on
// request.object where simdjson parsed it must be its verdict on the same object as a tree, under
// every profile (docs/adr/0006).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "botsec/policy/dom.h"
#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace {

using botsec::webhook::Json;

void CheckAgainstNlohmann(std::string_view body) {
  auto fast = botsec::webhook::ParseReviewJson(body);
  if (!fast) {
    return;
  }
  Json reference = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (reference.is_discarded()) {
    std::cerr << "ParseReviewJson read what nlohmann::json refuses\n";
    std::abort();
  }
  for (const char* object : {"/request/object/metadata", "/request/oldObject/metadata"}) {
    Json::json_pointer pointer(object);
    if (reference.contains(pointer) && reference[pointer].is_object()) {
      reference[pointer].erase("managedFields");
    }
  }
  if (*fast != reference) {
    std::cerr << "ParseReviewJson and nlohmann::json differ:\n"
              << fast->dump(-1, ' ', false, Json::error_handler_t::replace) << "\n"
              << reference.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    std::abort();
  }
}

void CheckJudgedBothWays(const botsec::webhook::ReviewObject& object) {
  const simdjson::dom::element* element = object.element();
  if (element == nullptr) {
    return;
  }
  using botsec::policy::Profile;
  for (Profile profile : {Profile::kPssBaseline, Profile::kPssRestricted, Profile::kBot}) {
    auto policy = botsec::policy::Policy::ForProfile(profile);
    auto dom = botsec::policy::Judge(*element, policy);
    auto tree = botsec::policy::Judge(object.json(), policy);
    bool same = static_cast<bool>(dom) == static_cast<bool>(tree) &&
                (dom ? *dom == *tree : dom.error().message == tree.error().message);
    if (!same) {
      std::cerr << "the policy judges the DOM and the tree of one object differently ("
                << botsec::policy::ProfileName(profile) << ")\n";
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  CheckAgainstNlohmann(body);
  auto request = botsec::webhook::DecodeReview(body);
  if (!request) {
    return 0;
  }
  CheckJudgedBothWays(request->object);
  CheckJudgedBothWays(request->old_object);
  botsec::webhook::WebhookSettings settings;
  settings.operator_username = "botsec-operator";
  for (bool terminating : {false, true}) {
    auto decision =
        botsec::webhook::Decide(*request, settings, {.namespace_terminating = terminating});
    (void)botsec::webhook::EncodeReview(*request, decision.verdict);
  }
  return 0;
}
