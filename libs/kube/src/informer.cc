#include "botsec/kube/informer.h"

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace botsec::kube {
namespace {

const Json& Field(const Json& object, const char* key) {
  static const Json kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

const Json& Metadata(const Json& object) { return Field(object, "metadata"); }

std::string StringField(const Json& object, const char* key) {
  const Json& value = Field(object, key);
  return value.is_string() ? value.get<std::string>() : "";
}

}  // namespace

std::string KeyOf(const Json& object) {
  const Json& metadata = Metadata(object);
  std::string ns = StringField(metadata, "namespace");
  std::string name = StringField(metadata, "name");
  return ns.empty() ? name : ns + "/" + name;
}

Json Slim(Json object) {
  if (auto metadata = object.find("metadata"); metadata != object.end() && metadata->is_object()) {
    metadata->erase("managedFields");
  }
  return object;
}

Store::Entry Store::Encode(const Json& object) {
  Entry entry;
  entry.resource_version = ResourceVersionOf(object);
  entry.cbor = Json::to_cbor(object);
  entry.cbor.shrink_to_fit();  // the encoder grows its buffer by doubling
  return entry;
}

ObjectPtr Store::Decode(const Entry& entry) {
  return std::make_shared<const Json>(Json::from_cbor(entry.cbor));
}

namespace {

// Calls `visit(index, value)` for each index entry `object` belongs in.
void ForEachIndexValue(const Json& object,
                       const std::function<void(int, const std::string&)>& visit) {
  const Json& metadata = Metadata(object);
  visit(0, StringField(metadata, "namespace"));
  const Json& owners = Field(metadata, "ownerReferences");
  if (owners.is_array()) {
    for (const Json& owner : owners) {
      visit(1, StringField(owner, "uid"));
    }
  }
  const Json& labels = Field(metadata, "labels");
  if (labels.is_object()) {
    for (const auto& [label, value] : labels.items()) {
      visit(2, label + "=" + (value.is_string() ? value.get<std::string>() : ""));
    }
  }
}

}  // namespace

void Store::IndexLocked(const std::string& key, const Json& object) {
  const std::string* stable = &objects_.find(key)->first;
  const std::array<Index*, 3> indexes = {&by_namespace_, &by_owner_, &by_label_};
  ForEachIndexValue(object, [&](int which, const std::string& value) {
    (*indexes.at(which))[value].insert(stable);
  });
}

void Store::UnindexLocked(const std::string& key, const Json& object) {
  const std::string* stable = &objects_.find(key)->first;
  const std::array<Index*, 3> indexes = {&by_namespace_, &by_owner_, &by_label_};
  ForEachIndexValue(object, [&](int which, const std::string& value) {
    Index& index = *indexes.at(which);
    if (auto it = index.find(value); it != index.end()) {
      it->second.erase(stable);
      if (it->second.empty()) {
        index.erase(it);
      }
    }
  });
}

StoreDelta Store::Replace(std::vector<Json> items) {
  Snapshot snapshot;
  Stage(snapshot, std::move(items));
  return Commit(std::move(snapshot));
}

void Store::Stage(Snapshot& snapshot, std::vector<Json> page) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (Json& item : page) {
    Json slim = Slim(std::move(item));
    Entry entry = Encode(slim);
    std::string key = KeyOf(slim);
    auto old = objects_.find(key);
    if (old == objects_.end() || old->second.resource_version != entry.resource_version) {
      snapshot.changed_.push_back(key);
    }
    auto [it, inserted] = snapshot.objects_.insert_or_assign(std::move(key), std::move(entry));
    const std::string* stable = &it->first;
    ForEachIndexValue(slim, [&](int which, const std::string& value) {
      snapshot.index_values_.emplace_back(stable, which, value);
    });
    item = nullptr;  // free each object's DOM as soon as it is encoded
  }
}

StoreDelta Store::Commit(Snapshot snapshot) {
  StoreDelta delta;
  delta.changed = std::move(snapshot.changed_);
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (const auto& [key, entry] : objects_) {
    if (!snapshot.objects_.contains(key)) {
      delta.removed.push_back(Decode(entry));
    }
  }
  objects_.swap(snapshot.objects_);  // node-based: the staged key pointers stay valid
  by_namespace_.clear();
  by_owner_.clear();
  by_label_.clear();
  const std::array<Index*, 3> indexes = {&by_namespace_, &by_owner_, &by_label_};
  for (const auto& [key, which, value] : snapshot.index_values_) {
    (*indexes.at(which))[value].insert(key);
  }
  return delta;
}

ObjectPtr Store::Upsert(Json object) {
  Json slim = Slim(std::move(object));
  std::string key = KeyOf(slim);
  Entry entry = Encode(slim);
  std::unique_lock<std::shared_mutex> lock(mu_);
  ObjectPtr previous;
  if (auto it = objects_.find(key); it != objects_.end()) {
    previous = Decode(it->second);
    UnindexLocked(key, *previous);
    it->second = std::move(entry);
  } else {
    objects_.emplace(key, std::move(entry));
  }
  IndexLocked(key, slim);
  return previous;
}

ObjectPtr Store::Remove(const std::string& key) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return nullptr;
  }
  ObjectPtr previous = Decode(it->second);
  UnindexLocked(key, *previous);
  objects_.erase(it);
  return previous;
}

ObjectPtr Store::Get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : Decode(it->second);
}

std::string Store::ResourceVersion(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? "" : it->second.resource_version;
}

std::vector<ObjectPtr> Store::List() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ObjectPtr> all;
  all.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) {
    all.push_back(Decode(entry));
  }
  return all;
}

std::vector<std::string> Store::Keys() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> keys;
  keys.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) {
    keys.push_back(key);
  }
  return keys;
}

std::vector<ObjectPtr> Store::LookupLocked(const Index& index, const std::string& value) const {
  std::vector<ObjectPtr> found;
  auto keys = index.find(value);
  if (keys == index.end()) {
    return found;
  }
  found.reserve(keys->second.size());
  for (const std::string* key : keys->second) {
    if (auto object = objects_.find(*key); object != objects_.end()) {
      found.push_back(Decode(object->second));
    }
  }
  return found;
}

std::vector<ObjectPtr> Store::ByNamespace(const std::string& ns) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return LookupLocked(by_namespace_, ns);
}

std::vector<ObjectPtr> Store::ByOwner(const std::string& owner_uid) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return LookupLocked(by_owner_, owner_uid);
}

std::vector<ObjectPtr> Store::ByLabel(const std::string& key, const std::string& value) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return LookupLocked(by_label_, key + "=" + value);
}

std::size_t Store::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return objects_.size();
}

KeyMapper ObjectKey() {
  return [](const Json& object) { return std::vector<std::string>{KeyOf(object)}; };
}

KeyMapper ControllerOwnerKey(std::string owner_group, std::string owner_kind) {
  return [group = std::move(owner_group), kind = std::move(owner_kind)](const Json& object) {
    std::vector<std::string> keys;
    const Json& metadata = Metadata(object);
    const Json& owners = Field(metadata, "ownerReferences");
    if (!owners.is_array()) {
      return keys;
    }
    for (const Json& owner : owners) {
      std::string api_version = StringField(owner, "apiVersion");
      std::string owner_group_of = api_version.substr(0, api_version.rfind('/'));
      if (api_version.find('/') == std::string::npos) {
        owner_group_of.clear();  // core group: "v1"
      }
      const Json& controller = Field(owner, "controller");
      if (controller.is_boolean() && controller.get<bool>() && owner_group_of == group &&
          StringField(owner, "kind") == kind) {
        std::string key = StringField(metadata, "namespace");
        if (!key.empty()) {
          key += '/';
        }
        key += StringField(owner, "name");
        keys.push_back(std::move(key));
      }
    }
    return keys;
  };
}

Informer::Informer(const Client& client, Resource resource, std::string ns, core::Clock& clock,
                   ReflectorOptions options)
    : reflector_(client, std::move(resource), std::move(ns),
                 ReflectorHandlers{
                     .replace = [this](std::vector<Json> items,
                                       const std::string& /*rv*/) { OnReplace(std::move(items)); },
                     .list_page = [this](std::vector<Json> page,
                                         bool first) { OnPage(std::move(page), first); },
                     .event = [this](const WatchEvent& event) { OnEvent(event); }},
                 clock, std::move(options)) {}

void Informer::AddEventHandler(KeyMapper mapper, std::function<void(const std::string&)> sink) {
  handlers_.push_back(Handler{std::move(mapper), std::move(sink)});
}

void Informer::Run(const std::stop_token& stop) { reflector_.Run(stop); }

void Informer::Notify(const Json& object) {
  for (const Handler& handler : handlers_) {
    for (const std::string& key : handler.mapper(object)) {
      handler.sink(key);
    }
  }
}

void Informer::OnPage(std::vector<Json> page, bool first) {
  if (first) {
    pending_ = Store::Snapshot();
  }
  store_.Stage(pending_, std::move(page));
}

void Informer::OnReplace(std::vector<Json> items) {
  store_.Stage(pending_, std::move(items));
  // Report what changed or appeared, then what vanished while we were not watching.
  StoreDelta delta = store_.Commit(std::exchange(pending_, Store::Snapshot()));
  for (const std::string& key : delta.changed) {
    if (ObjectPtr object = store_.Get(key)) {
      Notify(*object);
    }
  }
  for (const ObjectPtr& gone : delta.removed) {
    Notify(*gone);
  }
  synced_.store(true);
}

void Informer::OnEvent(const WatchEvent& event) {
  if (event.type == EventType::kDeleted) {
    ObjectPtr removed = store_.Remove(KeyOf(event.object));
    Notify(removed ? *removed : event.object);
    return;
  }
  store_.Upsert(event.object);
  Notify(event.object);
}

}  // namespace botsec::kube
