// Fuzz target: the webhook's AdmissionReview decoder, and for whatever decodes, the decision and
// the encoded answer, as the webhook's /validate does (webhook/decide).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto request = botsec::webhook::DecodeReview(body);
  if (!request) {
    return 0;
  }
  botsec::webhook::WebhookSettings settings;
  settings.operator_username = "botsec-operator";
  for (bool terminating : {false, true}) {
    auto decision =
        botsec::webhook::Decide(*request, settings, {.namespace_terminating = terminating});
    (void)botsec::webhook::EncodeReview(*request, decision.verdict);
  }
  return 0;
}
