#include "botsec/kube/resource.h"

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace botsec::kube {
namespace {

std::string Query(const std::vector<std::pair<std::string_view, std::string>>& params) {
  std::string query;
  for (const auto& [key, value] : params) {
    if (value.empty()) {
      continue;
    }
    query += query.empty() ? '?' : '&';
    query += key;
    query += '=';
    query += EscapeQueryValue(value);
  }
  return query;
}

}  // namespace

std::string Resource::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

namespace resources {
Resource ConfigMaps() { return {"", "v1", "configmaps", true}; }
Resource Namespaces() { return {"", "v1", "namespaces", false}; }
Resource Pods() { return {"", "v1", "pods", true}; }
Resource Events() { return {"", "v1", "events", true}; }
Resource Leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
}  // namespace resources

std::string ResourcePath(const Resource& resource, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  std::string path = resource.group.empty() ? "/api/" + resource.version
                                            : "/apis/" + resource.group + "/" + resource.version;
  if (resource.namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += ns;
  }
  path += '/';
  path += resource.plural;
  if (!name.empty()) {
    path += '/';
    path += name;
    if (!subresource.empty()) {
      path += '/';
      path += subresource;
    }
  }
  return path;
}

std::string EscapeQueryValue(std::string_view value) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4U];
      out += kHex[u & 15U];
    }
  }
  return out;
}

std::string ListQuery(const ListOptions& options) {
  return Query({{"labelSelector", options.label_selector},
                {"fieldSelector", options.field_selector},
                {"limit", options.limit > 0 ? std::to_string(options.limit) : ""},
                {"continue", options.continue_token},
                {"resourceVersion", options.resource_version}});
}

std::string WatchQuery(const WatchOptions& options) {
  return Query({{"watch", "true"},
                {"labelSelector", options.label_selector},
                {"fieldSelector", options.field_selector},
                {"resourceVersion", options.resource_version},
                {"timeoutSeconds",
                 options.timeout_seconds > 0 ? std::to_string(options.timeout_seconds) : ""},
                {"allowWatchBookmarks", options.allow_bookmarks ? "true" : ""}});
}

}  // namespace botsec::kube
