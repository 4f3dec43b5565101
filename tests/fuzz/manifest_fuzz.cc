// Fuzz target: manifests (libs/policy ReadManifests), each then judged under every profile, as
// `botsec check` does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "botsec/policy/engine.h"
#include "botsec/policy/manifest.h"
#include "botsec/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifests = botsec::policy::ReadManifests(text);
  if (!manifests) {
    return 0;
  }
  botsec::policy::Policy policy = botsec::policy::Policy::Default();
  policy.checks.registries = {"ghcr.io/"};
  policy.checks.require_digest = true;
  policy.checks.runtime_classes = {"gvisor"};
  for (const auto& manifest : *manifests) {
    for (auto profile :
         {botsec::policy::Profile::kPssBaseline, botsec::policy::Profile::kPssRestricted}) {
      (void)botsec::policy::Judge(manifest.object, profile);
    }
    (void)botsec::policy::Judge(manifest.object, policy);
  }
  return 0;
}
