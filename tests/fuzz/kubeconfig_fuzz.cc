// Fuzz target: a kubeconfig file. Referenced files exist for names starting with "ok".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "botsec/kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  botsec::kube::FileReader read = [](const std::string& path) -> botsec::core::Result<std::string> {
    if (path.find("/ok") != std::string::npos) {
      return std::string("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    }
    return botsec::core::Fail(botsec::core::ErrorCode::kNotFound, "cannot read " + path);
  };
  (void)botsec::kube::ParseKubeconfig(text, "/fuzz/config", "", read);
  (void)botsec::kube::ParseKubeconfig(text, "/fuzz/config", "other", read);
  return 0;
}
