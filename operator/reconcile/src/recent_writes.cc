#include "botsec/operator/recent_writes.h"

#include <charconv>
#include <utility>

namespace botsec::operator_reconcile {

std::string WriteKey(std::string_view kind, std::string_view ns, std::string_view name) {
  std::string key(kind);
  key.append("/").append(ns).append("/").append(name);
  return key;
}

std::optional<std::uint64_t> ResourceVersionOf(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return std::nullopt;
  }
  const Json& metadata = object["metadata"];
  auto found = metadata.find("resourceVersion");
  if (found == metadata.end() || !found->is_string()) {
    return std::nullopt;
  }
  const auto& text = found->get_ref<const std::string&>();
  std::uint64_t version = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return version;
}

RecentWrites::RecentWrites(core::Clock& clock, core::Clock::Duration ttl)
    : clock_(clock), ttl_(ttl) {}

void RecentWrites::Remember(const std::string& key, Json written) {
  std::optional<std::uint64_t> version = ResourceVersionOf(written);
  std::lock_guard lock(mu_);
  if (!version) {
    entries_.erase(key);
    return;
  }
  if (written.contains("metadata") && written["metadata"].is_object()) {
    written["metadata"].erase("managedFields");
  }
  entries_.insert_or_assign(
      key, Entry{std::make_shared<const Json>(std::move(written)), *version, clock_.Now()});
}

void RecentWrites::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

void RecentWrites::Seen(const std::string& key, const Json& object) {
  std::lock_guard lock(mu_);
  auto entry = entries_.find(key);
  if (entry == entries_.end()) {
    return;
  }
  std::optional<std::uint64_t> version = ResourceVersionOf(object);
  if (!version || *version >= entry->second.resource_version) {
    entries_.erase(entry);
  }
}

ObjectPtr RecentWrites::Current(const std::string& key, ObjectPtr cached) {
  std::lock_guard lock(mu_);
  ExpireLocked();
  auto entry = entries_.find(key);
  if (entry == entries_.end()) {
    return cached;
  }
  if (cached != nullptr) {
    std::optional<std::uint64_t> version = ResourceVersionOf(*cached);
    if (!version || *version >= entry->second.resource_version) {
      entries_.erase(entry);  // the cache has caught up
      return cached;
    }
  }
  return entry->second.object;
}

std::vector<std::string> RecentWrites::KeysIn(std::string_view ns) {
  std::lock_guard lock(mu_);
  ExpireLocked();
  std::vector<std::string> keys;
  for (const auto& [key, entry] : entries_) {
    std::size_t first = key.find('/');
    std::size_t second = key.find('/', first + 1);
    if (first != std::string::npos && second != std::string::npos &&
        std::string_view(key).substr(first + 1, second - first - 1) == ns) {
      keys.push_back(key);
    }
  }
  return keys;
}

std::size_t RecentWrites::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void RecentWrites::ExpireLocked() {
  core::Clock::TimePoint now = clock_.Now();
  std::erase_if(entries_, [&](const auto& item) { return now - item.second.at > ttl_; });
}

}  // namespace botsec::operator_reconcile
