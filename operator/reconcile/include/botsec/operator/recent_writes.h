// Read-your-writes for the reconciler: the object each of its writes returned, kept until the
// informers show that version or a newer one. Without it, a reconcile that runs a moment after a
// write, before the watch has delivered it, sees the old object and sends the same write again
// (or, for the BotSandbox's finalizer, a patch that conflicts).
//
// Resource versions are compared as integers, which Kubernetes guarantees from 1.35 on
// (KEP-5504, "Comparable Resource Version"); one that is not an integer is never trusted over
// the cache. An entry also lapses after `ttl`, so a delete the informers missed (a relist that
// dropped an object they never saw) cannot hide a missing object for longer than that.
//
// Keys are "Kind/namespace/name" ("Namespace//name" for a namespace).
//
// Thread-safety: every method may be called from any thread.
#ifndef BOTSEC_OPERATOR_RECENT_WRITES_H_
#define BOTSEC_OPERATOR_RECENT_WRITES_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/clock.h"

namespace botsec::operator_reconcile {

using Json = nlohmann::json;
using ObjectPtr = std::shared_ptr<const Json>;

// The key of an object of `kind` ("Kind/namespace/name").
std::string WriteKey(std::string_view kind, std::string_view ns, std::string_view name);

// metadata.resourceVersion as an integer; nullopt when absent or not one.
std::optional<std::uint64_t> ResourceVersionOf(const Json& object);

class RecentWrites {
 public:
  explicit RecentWrites(core::Clock& clock, core::Clock::Duration ttl = std::chrono::seconds(30));

  // `written` is what the server answered a write of `key` with.
  void Remember(const std::string& key, Json written);
  // `key` was deleted by us.
  void Forget(const std::string& key);
  // An informer delivered `object` under `key` (added, updated or deleted): what it supersedes is
  // dropped.
  void Seen(const std::string& key, const Json& object);
  // What to take as current for `key`: the written object when the cache's is older or missing,
  // else `cached` (nullptr when neither has one).
  ObjectPtr Current(const std::string& key, ObjectPtr cached);
  // The keys remembered for objects in namespace `ns` (children not yet in any cache).
  std::vector<std::string> KeysIn(std::string_view ns);
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    ObjectPtr object;
    std::uint64_t resource_version = 0;
    core::Clock::TimePoint at;
  };
  // Drops entries older than the ttl.
  void ExpireLocked();

  core::Clock& clock_;
  core::Clock::Duration ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace botsec::operator_reconcile

#endif  // BOTSEC_OPERATOR_RECENT_WRITES_H_
