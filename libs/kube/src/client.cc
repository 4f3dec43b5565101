#include "botsec/kube/client.h"

#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"
#include "botsec/kube/config.h"
#include "botsec/kube/status.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

std::string NameOf(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return "";
  }
  return object["metadata"].value("name", "");
}

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

const char* PropagationName(Propagation propagation) {
  switch (propagation) {
    case Propagation::kForeground:
      return "Foreground";
    case Propagation::kBackground:
      return "Background";
    case Propagation::kOrphan:
      return "Orphan";
    case Propagation::kDefault:
      break;
  }
  return "";
}

}  // namespace

Result<Client> NewClient(const std::string& kubeconfig_path, const std::string& context) {
  auto config = LoadConfig(kubeconfig_path, context, GetEnv, ReadFile);
  if (!config) {
    return Fail(config.error());
  }
  auto transport = NewHttpTransport(*config);
  if (!transport) {
    return Fail(transport.error());
  }
  return Client(std::shared_ptr<HttpTransport>(std::move(*transport)));
}

Client::Client(std::shared_ptr<HttpTransport> transport) : transport_(std::move(transport)) {}

Client Client::WithTimeout(std::chrono::milliseconds timeout) const {
  Client copy(transport_);
  copy.timeout_ = timeout;
  return copy;
}

Result<Json> Client::Call(HttpRequest request) const {
  request.timeout = timeout_;
  auto response = transport_->Send(request);
  if (!response) {
    return Fail(response.error().Wrap(request.method + " " + request.path));
  }
  if (response->status < 200 || response->status > 299) {
    return Fail(DecodeStatus(response->status, response->body, response->retry_after));
  }
  Json body = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return Fail(ErrorCode::kInternal,
                request.method + " " + request.path + ": the answer is not JSON");
  }
  return body;
}

Result<Json> Client::Get(const Resource& resource, const std::string& ns,
                         const std::string& name) const {
  return Call(HttpRequest{.path = ResourcePath(resource, ns, name)});
}

Result<Json> Client::List(const Resource& resource, const std::string& ns,
                          const ListOptions& options) const {
  return Call(HttpRequest{.path = ResourcePath(resource, ns) + ListQuery(options)});
}

Result<Json> Client::ListAll(const Resource& resource, const std::string& ns,
                             ListOptions options) const {
  if (options.limit <= 0) {
    options.limit = 500;
  }
  Json all;
  while (true) {
    auto page = List(resource, ns, options);
    if (!page) {
      return page;
    }
    std::string next = page->value(Json::json_pointer("/metadata/continue"), "");
    if (all.is_null()) {
      all = *std::move(page);
    } else if (page->contains("items") && (*page)["items"].is_array()) {
      for (Json& item : (*page)["items"]) {
        all["items"].push_back(std::move(item));
      }
    }
    if (next.empty()) {
      break;
    }
    options.continue_token = std::move(next);
    options.resource_version.clear();  // the token pins the snapshot
  }
  if (all.contains("metadata") && all["metadata"].is_object()) {
    all["metadata"].erase("continue");
    all["metadata"].erase("remainingItemCount");
  }
  return all;
}

Result<Json> Client::Create(const Resource& resource, const std::string& ns,
                            const Json& object) const {
  return Call(HttpRequest{.method = "POST",
                          .path = ResourcePath(resource, ns),
                          .body = object.dump(),
                          .content_type = "application/json"});
}

Result<Json> Client::Update(const Resource& resource, const std::string& ns, const Json& object,
                            const std::string& subresource) const {
  std::string name = NameOf(object);
  if (name.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "update: metadata.name: Required value");
  }
  return Call(HttpRequest{.method = "PUT",
                          .path = ResourcePath(resource, ns, name, subresource),
                          .body = object.dump(),
                          .content_type = "application/json"});
}

Result<Json> Client::Patch(const Resource& resource, const std::string& ns, const std::string& name,
                           PatchType type, const Json& patch,
                           const std::string& subresource) const {
  return Call(HttpRequest{.method = "PATCH",
                          .path = ResourcePath(resource, ns, name, subresource),
                          .body = patch.dump(),
                          .content_type = PatchContentType(type)});
}

Result<Json> Client::Apply(const Resource& resource, const std::string& ns, const Json& object,
                           const ApplyOptions& options, const std::string& subresource) const {
  std::string name = NameOf(object);
  if (name.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "apply: metadata.name: Required value");
  }
  if (options.field_manager.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "apply: fieldManager: Required value");
  }
  std::string query = "?fieldManager=" + EscapeQueryValue(options.field_manager);
  if (options.force) {
    query += "&force=true";
  }
  return Call(HttpRequest{.method = "PATCH",
                          .path = ResourcePath(resource, ns, name, subresource) + query,
                          .body = object.dump(),
                          .content_type = "application/apply-patch+yaml"});
}

Result<Json> Client::Delete(const Resource& resource, const std::string& ns,
                            const std::string& name, const DeleteOptions& options) const {
  Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.propagation != Propagation::kDefault) {
    body["propagationPolicy"] = PropagationName(options.propagation);
  }
  if (!options.precondition_uid.empty()) {
    body["preconditions"]["uid"] = options.precondition_uid;
  }
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  return Call(HttpRequest{.method = "DELETE",
                          .path = ResourcePath(resource, ns, name),
                          .body = body.dump(),
                          .content_type = "application/json"});
}

}  // namespace botsec::kube
