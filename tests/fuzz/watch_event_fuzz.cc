// Fuzz target: one line of a watch stream, as the API server (or anything in between) sends it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "botsec/kube/informer.h"
#include "botsec/kube/watch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto event = botsec::kube::DecodeWatchEvent(line);
  if (event) {
    (void)botsec::kube::ResourceVersionOf(event->object);
    (void)botsec::kube::KeyOf(event->object);
    botsec::kube::Store store;
    store.Upsert(event->object);
    (void)botsec::kube::ControllerOwnerKey("botsec.io", "BotSandbox")(event->object);
  }
  return 0;
}
