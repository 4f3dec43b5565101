#include "botsec/kube/informer.h"

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

void Store::IndexLocked(const std::string& key, const Json& object) {
  const Json& metadata = Metadata(object);
  by_namespace_.emplace(StringField(metadata, "namespace"), key);
  const Json& owners = Field(metadata, "ownerReferences");
  if (owners.is_array()) {
    for (const Json& owner : owners) {
      by_owner_.emplace(StringField(owner, "uid"), key);
    }
  }
  const Json& labels = Field(metadata, "labels");
  if (labels.is_object()) {
    for (const auto& [label, value] : labels.items()) {
      by_label_.emplace(label + "=" + (value.is_string() ? value.get<std::string>() : ""), key);
    }
  }
}

void Store::UnindexLocked(const std::string& key, const Json& object) {
  auto erase = [&key](std::multimap<std::string, std::string>& index, const std::string& value) {
    auto range = index.equal_range(value);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == key) {
        index.erase(it);
        return;
      }
    }
  };
  const Json& metadata = Metadata(object);
  erase(by_namespace_, StringField(metadata, "namespace"));
  const Json& owners = Field(metadata, "ownerReferences");
  if (owners.is_array()) {
    for (const Json& owner : owners) {
      erase(by_owner_, StringField(owner, "uid"));
    }
  }
  const Json& labels = Field(metadata, "labels");
  if (labels.is_object()) {
    for (const auto& [label, value] : labels.items()) {
      erase(by_label_, label + "=" + (value.is_string() ? value.get<std::string>() : ""));
    }
  }
}

std::unordered_map<std::string, ObjectPtr> Store::Replace(std::vector<Json> items) {
  std::unordered_map<std::string, ObjectPtr> fresh;
  fresh.reserve(items.size());
  for (Json& item : items) {
    std::string key = KeyOf(item);
    fresh[key] = std::make_shared<const Json>(Slim(std::move(item)));
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  by_namespace_.clear();
  by_owner_.clear();
  by_label_.clear();
  for (const auto& [key, object] : fresh) {
    IndexLocked(key, *object);
  }
  objects_.swap(fresh);
  return fresh;  // now the old contents
}

ObjectPtr Store::Upsert(Json object) {
  std::string key = KeyOf(object);
  auto next = std::make_shared<const Json>(Slim(std::move(object)));
  std::unique_lock<std::shared_mutex> lock(mu_);
  ObjectPtr previous;
  if (auto it = objects_.find(key); it != objects_.end()) {
    previous = it->second;
    UnindexLocked(key, *previous);
  }
  IndexLocked(key, *next);
  objects_[key] = std::move(next);
  return previous;
}

ObjectPtr Store::Remove(const std::string& key) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return nullptr;
  }
  ObjectPtr previous = it->second;
  UnindexLocked(key, *previous);
  objects_.erase(it);
  return previous;
}

ObjectPtr Store::Get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::List() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ObjectPtr> all;
  all.reserve(objects_.size());
  for (const auto& [key, object] : objects_) {
    all.push_back(object);
  }
  return all;
}

std::vector<ObjectPtr> Store::LookupLocked(const std::multimap<std::string, std::string>& index,
                                           const std::string& value) const {
  std::vector<ObjectPtr> found;
  auto range = index.equal_range(value);
  for (auto it = range.first; it != range.second; ++it) {
    if (auto object = objects_.find(it->second); object != objects_.end()) {
      found.push_back(object->second);
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

void Informer::OnReplace(std::vector<Json> items) {
  std::unordered_map<std::string, ObjectPtr> before = store_.Replace(std::move(items));
  // Report what changed or appeared, then what vanished while we were not watching.
  for (const ObjectPtr& now : store_.List()) {
    auto old = before.find(KeyOf(*now));
    if (old == before.end() || ResourceVersionOf(*old->second) != ResourceVersionOf(*now)) {
      Notify(*now);
    }
    if (old != before.end()) {
      before.erase(old);
    }
  }
  for (const auto& [key, gone] : before) {
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
