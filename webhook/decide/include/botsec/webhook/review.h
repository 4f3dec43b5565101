// AdmissionReview v1 in and out: the only place the webhook reads or writes the wire format.
//
// DecodeReview refuses, with a message naming what is wrong, anything that is not an
// `admission.k8s.io/v1` AdmissionReview with a request and a uid; the server answers those 400.
// EncodeReview writes the response the API server expects: the request's apiVersion and kind,
// its uid echoed, and for a refusal a Status whose message kubectl prints as is.
#ifndef BOTSEC_WEBHOOK_REVIEW_H_
#define BOTSEC_WEBHOOK_REVIEW_H_

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "botsec/core/result.h"

namespace botsec::webhook {

using Json = nlohmann::json;

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
};

struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;
};

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  Json extra = Json::object();
};

struct AdmissionRequest {
  std::string uid;
  GroupVersionKind kind;
  GroupVersionResource resource;
  std::string sub_resource;  // "", "ephemeralcontainers", "resize", "status", ...
  std::string name;
  std::string namespace_;
  std::string operation;  // CREATE, UPDATE, DELETE, CONNECT
  UserInfo user;
  Json object;      // null for DELETE
  Json old_object;  // null for CREATE
  bool dry_run = false;
};

// What to answer.
struct AdmissionVerdict {
  bool allowed = true;
  int code = 200;      // 403 for a refusal
  std::string reason;  // "Forbidden"
  std::string message;
  std::vector<std::string> warnings;
};

// Request bodies larger than this are refused before they are parsed.
inline constexpr std::size_t kMaxReviewBytes = std::size_t{3} << 20;

// Reads an AdmissionReview. Errors (kInvalidArgument) say what is wrong: "not JSON: ...",
// "apiVersion: must be admission.k8s.io/v1, not \"admission.k8s.io/v1beta1\"", "request.uid:
// required", ... Bad field types are errors too (fail closed).
core::Result<AdmissionRequest> DecodeReview(std::string_view body);

// The JSON of `body` as DecodeReview reads it: parsed by simdjson (UTF-8 checked, at most 256
// levels deep), or by nlohmann's parser where simdjson refuses, for its message or what only it
// takes; request.object's and request.oldObject's metadata.managedFields left out. The result
// equals nlohmann::json::parse(body) but for those (the fuzz target checks that).
core::Result<Json> ParseReviewJson(std::string_view body);

// The AdmissionReview answering `request` with `verdict`.
std::string EncodeReview(const AdmissionRequest& request, const AdmissionVerdict& verdict);

}  // namespace botsec::webhook

#endif  // BOTSEC_WEBHOOK_REVIEW_H_
