// Fuzz target: a policy document (libs/policy ParsePolicy).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "botsec/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)botsec::policy::ParsePolicy(text);
  return 0;
}
