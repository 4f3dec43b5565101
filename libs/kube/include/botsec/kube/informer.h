// A local, indexed cache of one collection kept level with the server by a Reflector, and the
// mapping of each change to work-queue keys.
//
// Store: one writer (the informer's thread), many readers. Objects are kept without
// metadata.managedFields, which is most of an object's size and never read by a controller, and
// in a compact encoding (see ADR 0003).
// Informer: runs the Reflector; after a relist it reports only what actually changed or vanished.
#ifndef BOTSEC_KUBE_INFORMER_H_
#define BOTSEC_KUBE_INFORMER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "botsec/core/clock.h"
#include "botsec/kube/client.h"
#include "botsec/kube/watch.h"

namespace botsec::kube {

using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name", or "name" for cluster-scoped objects.
std::string KeyOf(const Json& object);
// The object without metadata.managedFields.
Json Slim(Json object);

// What a relist changed: the keys of objects new or at a different resourceVersion, and the
// objects gone.
struct StoreDelta {
  std::vector<std::string> changed;
  std::vector<ObjectPtr> removed;
};

// Objects are kept compact, as CBOR bytes without managedFields (about the size of their JSON),
// and decoded on each read: a read returns a fresh object the caller owns. Indexes hold pointers
// to the keys, not copies.
//
// Thread-safety: all methods may be called from any thread.
class Store {
 public:
  // A relist assembled off to the side, page by page, in compact form.
  class Snapshot;

  // Replaces everything; reports what differs from before.
  StoreDelta Replace(std::vector<Json> items);
  // Adds a page of a relist to `snapshot` (the store itself is unchanged until Commit).
  void Stage(Snapshot& snapshot, std::vector<Json> page) const;
  // Makes `snapshot` the store's contents; reports what differs from before.
  StoreDelta Commit(Snapshot snapshot);
  // Inserts or replaces one object; returns the previous one, or nullptr.
  ObjectPtr Upsert(Json object);
  // Removes one object; returns it, or nullptr.
  ObjectPtr Remove(const std::string& key);

  [[nodiscard]] ObjectPtr Get(const std::string& key) const;
  // The resourceVersion of the object at `key`, or "" when there is none; without decoding.
  [[nodiscard]] std::string ResourceVersion(const std::string& key) const;
  [[nodiscard]] std::vector<ObjectPtr> List() const;
  [[nodiscard]] std::vector<std::string> Keys() const;
  [[nodiscard]] std::vector<ObjectPtr> ByNamespace(const std::string& ns) const;
  // Objects with an ownerReference to `owner_uid`.
  [[nodiscard]] std::vector<ObjectPtr> ByOwner(const std::string& owner_uid) const;
  // Objects whose label `key` is `value`.
  [[nodiscard]] std::vector<ObjectPtr> ByLabel(const std::string& key,
                                               const std::string& value) const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    std::string resource_version;
    std::vector<std::uint8_t> cbor;
  };
  using Objects = std::unordered_map<std::string, Entry>;
  using Index = std::unordered_map<std::string, std::unordered_set<const std::string*>>;

  static Entry Encode(const Json& object);
  static ObjectPtr Decode(const Entry& entry);
  void IndexLocked(const std::string& key, const Json& object);
  void UnindexLocked(const std::string& key, const Json& object);
  [[nodiscard]] std::vector<ObjectPtr> LookupLocked(const Index& index,
                                                    const std::string& value) const;

  mutable std::shared_mutex mu_;
  Objects objects_;
  Index by_namespace_;  // namespace -> keys
  Index by_owner_;      // owner uid -> keys
  Index by_label_;      // "k=v" -> keys
};

class Store::Snapshot {
 private:
  friend class Store;
  Objects objects_;
  // (key in objects_, which index, value): indexing at Commit needs no decoding.
  std::vector<std::tuple<const std::string*, int, std::string>> index_values_;
  std::vector<std::string> changed_;
};

// Maps a changed object to the keys to reconcile.
using KeyMapper = std::function<std::vector<std::string>(const Json& object)>;
// The object's own key.
KeyMapper ObjectKey();
// The key of the object's controller (the ownerReference with controller: true) when that
// owner's apiVersion group and kind match: an owned child maps to its owner.
KeyMapper ControllerOwnerKey(std::string owner_group, std::string owner_kind);

class Informer {
 public:
  Informer(const Client& client, Resource resource, std::string ns, core::Clock& clock,
           ReflectorOptions options = {});

  // Every change is mapped through `mapper` and each key handed to `sink`, on the informer's
  // thread. Register before Run.
  void AddEventHandler(KeyMapper mapper, std::function<void(const std::string& key)> sink);
  // Runs until `stop` is requested.
  void Run(const std::stop_token& stop);
  // True once the first list has been stored.
  [[nodiscard]] bool HasSynced() const { return synced_.load(); }
  [[nodiscard]] const Store& store() const { return store_; }
  [[nodiscard]] const Reflector& reflector() const { return reflector_; }

 private:
  void OnPage(std::vector<Json> page, bool first);
  void OnReplace(std::vector<Json> items);
  void OnEvent(const WatchEvent& event);
  void Notify(const Json& object);

  struct Handler {
    KeyMapper mapper;
    std::function<void(const std::string&)> sink;
  };
  Store store_;
  Store::Snapshot pending_;  // the relist being received
  std::vector<Handler> handlers_;
  std::atomic<bool> synced_{false};
  Reflector reflector_;
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_INFORMER_H_
