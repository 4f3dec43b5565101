// Where a kind lives in the API (group, version, plural resource, namespaced or not), and the
// pure building of request paths and queries from it.
#ifndef BOTSEC_KUBE_RESOURCE_H_
#define BOTSEC_KUBE_RESOURCE_H_

#include <optional>
#include <string>
#include <string_view>

namespace botsec::kube {

struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;  // "configmaps"
  bool namespaced = true;

  // "v1" or "apps/v1", as written in apiVersion.
  [[nodiscard]] std::string ApiVersion() const;
};

// A few built-in kinds the project uses.
namespace resources {
Resource ConfigMaps();
Resource Namespaces();
Resource Pods();
Resource Events();  // core/v1 Events, which kubectl describe shows with their counts
Resource Leases();
}  // namespace resources

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 0;  // 0: no limit
  std::string continue_token;
  std::string resource_version;  // "" (most recent, from etcd), "0" (any, from the cache), or exact
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // start after this version
  int timeout_seconds = 0;       // ask the server to end the watch after this long
  bool allow_bookmarks = true;
};

// "/api/v1/namespaces/ns/configmaps/name/status", leaving out what is empty.
std::string ResourcePath(const Resource& resource, std::string_view ns, std::string_view name = "",
                         std::string_view subresource = "");

// "?labelSelector=...&limit=..." (empty when nothing is set); values are percent-encoded.
std::string ListQuery(const ListOptions& options);
std::string WatchQuery(const WatchOptions& options);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string EscapeQueryValue(std::string_view value);

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_RESOURCE_H_
