// The Kubernetes API as JSON: get, list (with pagination), create, update (with a resourceVersion
// precondition), merge/JSON/strategic patch, server-side apply, delete (with propagation and
// preconditions), and the status subresource. Errors come back decoded (status.h).
//
// Thread-safety: a Client may be shared by threads; it holds no mutable state.
#ifndef BOTSEC_KUBE_CLIENT_H_
#define BOTSEC_KUBE_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"
#include "botsec/kube/http_transport.h"
#include "botsec/kube/resource.h"

namespace botsec::kube {

using Json = nlohmann::json;

enum class PatchType { kMerge, kJson, kStrategicMerge };

enum class Propagation { kDefault, kForeground, kBackground, kOrphan };

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  std::string precondition_uid;
  std::string precondition_resource_version;
};

struct ApplyOptions {
  std::string field_manager;  // required
  bool force = false;         // take ownership of fields another manager owns
};

class Client {
 public:
  explicit Client(std::shared_ptr<HttpTransport> transport);

  // A client on the same transport whose every request gives up after `timeout` (30 s by
  // default): for callers with deadlines of their own, such as leader election.
  [[nodiscard]] Client WithTimeout(std::chrono::milliseconds timeout) const;

  [[nodiscard]] core::Result<Json> Get(const Resource& resource, const std::string& ns,
                                       const std::string& name) const;
  // One page of a list.
  [[nodiscard]] core::Result<Json> List(const Resource& resource, const std::string& ns,
                                        const ListOptions& options) const;
  // Every page, following continue tokens: one List object whose items are all items and whose
  // metadata.resourceVersion is the snapshot's. A 410 (expired continue token) is returned as
  // kGone.
  [[nodiscard]] core::Result<Json> ListAll(const Resource& resource, const std::string& ns,
                                           ListOptions options) const;
  [[nodiscard]] core::Result<Json> Create(const Resource& resource, const std::string& ns,
                                          const Json& object) const;
  // PUT; when object carries metadata.resourceVersion, the server refuses a stale write with
  // kConflict.
  [[nodiscard]] core::Result<Json> Update(const Resource& resource, const std::string& ns,
                                          const Json& object,
                                          const std::string& subresource = "") const;
  [[nodiscard]] core::Result<Json> Patch(const Resource& resource, const std::string& ns,
                                         const std::string& name, PatchType type, const Json& patch,
                                         const std::string& subresource = "") const;
  // Server-side apply of `object` (which names itself) under `options.field_manager`.
  [[nodiscard]] core::Result<Json> Apply(const Resource& resource, const std::string& ns,
                                         const Json& object, const ApplyOptions& options,
                                         const std::string& subresource = "") const;
  // Returns the server's answer: the object (still finalizing) or a Status.
  [[nodiscard]] core::Result<Json> Delete(const Resource& resource, const std::string& ns,
                                          const std::string& name,
                                          const DeleteOptions& options = {}) const;

  [[nodiscard]] HttpTransport& transport() const { return *transport_; }

 private:
  [[nodiscard]] core::Result<Json> Call(HttpRequest request) const;

  std::shared_ptr<HttpTransport> transport_;
  std::chrono::milliseconds timeout_{30000};
};

// A Client on the transport on the wire for the cluster LoadConfig finds (`kubeconfig_path`, then
// $KUBECONFIG, in-cluster, ~/.kube/config), reading the real environment and files.
core::Result<Client> NewClient(const std::string& kubeconfig_path, const std::string& context = "");

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_CLIENT_H_
