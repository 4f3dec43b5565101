// A local, indexed cache of one collection kept level with the server by a Reflector, and the
// mapping of each change to work-queue keys.
//
// Store: one writer (the informer's thread), many readers. Objects are kept without
// metadata.managedFields, which is most of an object's size and never read by a controller.
// Informer: runs the Reflector; after a relist it reports only what actually changed or vanished.
#ifndef BOTSEC_KUBE_INFORMER_H_
#define BOTSEC_KUBE_INFORMER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <unordered_map>
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

// Thread-safety: all methods may be called from any thread.
class Store {
 public:
  // Replaces everything; returns the objects that were there before.
  std::unordered_map<std::string, ObjectPtr> Replace(std::vector<Json> items);
  // Inserts or replaces one object; returns the previous one, or nullptr.
  ObjectPtr Upsert(Json object);
  // Removes one object; returns it, or nullptr.
  ObjectPtr Remove(const std::string& key);

  [[nodiscard]] ObjectPtr Get(const std::string& key) const;
  [[nodiscard]] std::vector<ObjectPtr> List() const;
  [[nodiscard]] std::vector<ObjectPtr> ByNamespace(const std::string& ns) const;
  // Objects with an ownerReference to `owner_uid`.
  [[nodiscard]] std::vector<ObjectPtr> ByOwner(const std::string& owner_uid) const;
  // Objects whose label `key` is `value`.
  [[nodiscard]] std::vector<ObjectPtr> ByLabel(const std::string& key,
                                               const std::string& value) const;
  [[nodiscard]] std::size_t size() const;

 private:
  void IndexLocked(const std::string& key, const Json& object);
  void UnindexLocked(const std::string& key, const Json& object);
  [[nodiscard]] std::vector<ObjectPtr> LookupLocked(
      const std::multimap<std::string, std::string>& index, const std::string& value) const;

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, ObjectPtr> objects_;
  std::multimap<std::string, std::string> by_namespace_;  // namespace -> key
  std::multimap<std::string, std::string> by_owner_;      // owner uid -> key
  std::multimap<std::string, std::string> by_label_;      // "k=v" -> key
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
  void OnReplace(std::vector<Json> items);
  void OnEvent(const WatchEvent& event);
  void Notify(const Json& object);

  struct Handler {
    KeyMapper mapper;
    std::function<void(const std::string&)> sink;
  };
  Store store_;
  std::vector<Handler> handlers_;
  std::atomic<bool> synced_{false};
  Reflector reflector_;
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_INFORMER_H_
