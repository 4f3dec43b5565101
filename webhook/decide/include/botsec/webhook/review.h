// AdmissionReview v1 in and out: the only place the webhook reads or writes the wire format.
//
// DecodeReview refuses, with a message naming what is wrong, anything that is not an
// `admission.k8s.io/v1` AdmissionReview with a request and a uid; the server answers those 400.
// EncodeReview writes the response the API server expects: the request's apiVersion and kind,
// its uid echoed, and for a refusal a Status whose message kubectl prints as is.
#ifndef BOTSEC_WEBHOOK_REVIEW_H_
#define BOTSEC_WEBHOOK_REVIEW_H_

#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// request.object or request.oldObject. DecodeReview keeps it where simdjson parsed it: the policy
// judges a pod there (policy/dom.h), and no tree is built for a review unless a concern asks for
// json() (docs/adr/0006). A tree given (tests, or a review only nlohmann's parser takes) is kept
// as is. Copies share the document; a copy is as thread-compatible as the original.
class ReviewObject {
 public:
  ReviewObject() = default;  // absent (null)
  // NOLINTNEXTLINE(google-explicit-constructor): a request's object is assigned from a tree.
  ReviewObject(Json json) : json_(std::move(json)) {}
  ReviewObject(std::shared_ptr<const simdjson::dom::document> document,
               simdjson::dom::element element)
      : document_(std::move(document)), element_(element) {}

  [[nodiscard]] bool is_object() const;
  // The element in the parsed review, or nullptr when this holds a tree.
  [[nodiscard]] const simdjson::dom::element* element() const {
    return document_ ? &element_ : nullptr;
  }
  // As a tree: the one given, or built from the element on the first call and kept (not
  // thread-safe: a request is decided on one thread).
  [[nodiscard]] const Json& json() const;

 private:
  std::shared_ptr<const simdjson::dom::document> document_;
  simdjson::dom::element element_;
  mutable std::optional<Json> json_;
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
  ReviewObject object;      // absent for DELETE
  ReviewObject old_object;  // absent for CREATE
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

// The JSON of `body` as DecodeReview reads it, as one tree: parsed by simdjson (UTF-8 checked, at
// most 256 levels deep), or by nlohmann's parser where simdjson refuses, for its message or what
// only it takes; request.object's and request.oldObject's metadata.managedFields left out. The
// result equals nlohmann::json::parse(body) but for those (the fuzz target checks that).
// DecodeReview builds only the envelope so, and leaves the objects where simdjson parsed them.
core::Result<Json> ParseReviewJson(std::string_view body);

// The AdmissionReview answering `request` with `verdict`.
std::string EncodeReview(const AdmissionRequest& request, const AdmissionVerdict& verdict);

}  // namespace botsec::webhook

#endif  // BOTSEC_WEBHOOK_REVIEW_H_
