#include "botsec/webhook/review.h"

#include <array>
#include <utility>

namespace botsec::webhook {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

// No Kubernetes object comes near this depth; deeper input is refused (and never built).
constexpr int kMaxDepth = 256;

core::Error Bad(std::string message) {
  return core::MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// A string field of `object` (absent: ""), or an error naming `path` when it is not a string.
Result<std::string> Text(const Json& object, const char* key, const std::string& path) {
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) {
    return std::string();
  }
  if (!found->is_string()) {
    return Fail(Bad(path + ": must be a string"));
  }
  return found->get<std::string>();
}

Result<Json> Parse(std::string_view body) {
  bool too_deep = false;
  // Deeper values are discarded as they are met, and the review refused after.
  auto limit = [&too_deep](int level, Json::parse_event_t event, Json& /*parsed*/) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        level > kMaxDepth) {
      too_deep = true;
    }
    return !too_deep;
  };
  Json parsed;
  try {
    parsed = Json::parse(body.begin(), body.end(), limit);
  } catch (const Json::exception& error) {
    if (!too_deep) {
      std::string what = error.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 1: ..." -> after the tag.
      std::size_t tag = what.find("] ");
      return Fail(Bad("not JSON: " + (tag == std::string::npos ? what : what.substr(tag + 2))));
    }
  }
  if (too_deep) {
    return Fail(
        Bad("not an AdmissionReview: nested deeper than " + std::to_string(kMaxDepth) + " levels"));
  }
  return parsed;
}

// request.userInfo.groups and .extra.
Result<void> ReadUserExtras(const Json& user, UserInfo& into) {
  if (auto groups = user.find("groups"); groups != user.end() && !groups->is_null()) {
    if (!groups->is_array()) {
      return Fail(Bad("request.userInfo.groups: must be a list of strings"));
    }
    for (const Json& group : *groups) {
      if (!group.is_string()) {
        return Fail(Bad("request.userInfo.groups: must be a list of strings"));
      }
      into.groups.push_back(group.get<std::string>());
    }
  }
  if (auto extra = user.find("extra"); extra != user.end() && extra->is_object()) {
    into.extra = *extra;
  }
  return {};
}

// request.object, request.oldObject (moved out of `in`, not copied) and request.dryRun.
Result<void> ReadObjects(Json& in, AdmissionRequest& request) {
  for (auto [key, into] :
       {std::pair{"object", &request.object}, std::pair{"oldObject", &request.old_object}}) {
    auto found = in.find(key);
    if (found == in.end() || found->is_null()) {
      continue;
    }
    if (!found->is_object()) {
      return Fail(Bad(std::string("request.") + key + ": must be an object"));
    }
    *into = std::move(*found);
  }
  if (auto dry_run = in.find("dryRun"); dry_run != in.end() && !dry_run->is_null()) {
    if (!dry_run->is_boolean()) {
      return Fail(Bad("request.dryRun: must be true or false"));
    }
    request.dry_run = dry_run->get<bool>();
  }
  return {};
}

// The envelope: an admission.k8s.io/v1 AdmissionReview with a request object.
Result<Json*> RequestOf(Json& review) {
  if (!review.is_object()) {
    return Fail(Bad("not an AdmissionReview: the body is not a JSON object"));
  }
  auto api_version = Text(review, "apiVersion", "apiVersion");
  auto kind = Text(review, "kind", "kind");
  if (!api_version || !kind) {
    return Fail(!api_version ? api_version.error() : kind.error());
  }
  if (*api_version != "admission.k8s.io/v1") {
    return Fail(Bad("apiVersion: must be admission.k8s.io/v1, not \"" + *api_version + "\""));
  }
  if (*kind != "AdmissionReview") {
    return Fail(Bad("kind: must be AdmissionReview, not \"" + *kind + "\""));
  }
  auto request = review.find("request");
  if (request == review.end() || request->is_null()) {
    return Fail(Bad("request: required"));
  }
  if (!request->is_object()) {
    return Fail(Bad("request: must be an object"));
  }
  return &*request;
}

}  // namespace

Result<AdmissionRequest> DecodeReview(std::string_view body) {
  if (body.empty()) {
    return Fail(Bad("empty body: want an AdmissionReview (admission.k8s.io/v1)"));
  }
  auto parsed = Parse(body);
  if (!parsed) {
    return Fail(parsed.error());
  }
  auto request_field = RequestOf(*parsed);
  if (!request_field) {
    return Fail(request_field.error());
  }
  Json& in = **request_field;
  AdmissionRequest request;
  struct Field {
    const Json* parent;
    const char* key;
    std::string path;
    std::string* into;
  };
  const Json empty = Json::object();
  auto object_at = [&](const char* key) -> Result<const Json*> {
    auto found = in.find(key);
    if (found == in.end() || found->is_null()) {
      return &empty;
    }
    if (!found->is_object()) {
      return Fail(Bad(std::string("request.") + key + ": must be an object"));
    }
    return &*found;
  };
  auto kind_object = object_at("kind");
  auto resource_object = object_at("resource");
  auto user_object = object_at("userInfo");
  for (const auto* part : {&kind_object, &resource_object, &user_object}) {
    if (!*part) {
      return Fail(part->error());
    }
  }
  const std::array<Field, 13> fields = {{
      {&in, "uid", "request.uid", &request.uid},
      {&in, "subResource", "request.subResource", &request.sub_resource},
      {&in, "name", "request.name", &request.name},
      {&in, "namespace", "request.namespace", &request.namespace_},
      {&in, "operation", "request.operation", &request.operation},
      {*kind_object, "group", "request.kind.group", &request.kind.group},
      {*kind_object, "version", "request.kind.version", &request.kind.version},
      {*kind_object, "kind", "request.kind.kind", &request.kind.kind},
      {*resource_object, "group", "request.resource.group", &request.resource.group},
      {*resource_object, "version", "request.resource.version", &request.resource.version},
      {*resource_object, "resource", "request.resource.resource", &request.resource.resource},
      {*user_object, "username", "request.userInfo.username", &request.user.username},
      {*user_object, "uid", "request.userInfo.uid", &request.user.uid},
  }};
  for (const Field& field : fields) {
    auto value = Text(*field.parent, field.key, field.path);
    if (!value) {
      return Fail(value.error());
    }
    *field.into = std::move(*value);
  }
  if (request.uid.empty()) {
    return Fail(Bad("request.uid: required"));
  }
  if (request.operation.empty()) {
    return Fail(Bad("request.operation: required"));
  }
  if (request.resource.resource.empty()) {
    return Fail(Bad("request.resource.resource: required"));
  }
  if (auto extras = ReadUserExtras(**user_object, request.user); !extras) {
    return Fail(extras.error());
  }
  if (auto objects = ReadObjects(in, request); !objects) {
    return Fail(objects.error());
  }
  return request;
}

std::string EncodeReview(const AdmissionRequest& request, const AdmissionVerdict& verdict) {
  Json response = {{"uid", request.uid}, {"allowed", verdict.allowed}};
  if (!verdict.allowed) {
    response["status"] = {{"code", verdict.code},
                          {"reason", verdict.reason.empty() ? "Forbidden" : verdict.reason},
                          {"message", verdict.message}};
  }
  if (!verdict.warnings.empty()) {
    response["warnings"] = verdict.warnings;
  }
  Json review = {{"apiVersion", "admission.k8s.io/v1"},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(response)}};
  // Names from the request may hold any bytes; replace what is not UTF-8 rather than throw.
  return review.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace botsec::webhook
