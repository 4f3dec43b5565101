#include "botsec/webhook/review.h"

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "botsec/core/json_text.h"
#include "botsec/policy/dom.h"

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

// nlohmann's parser: the slow path, for what simdjson refuses. It says where the JSON breaks
// ("parse error at line 1, column 62: ..."), and takes what simdjson does not (integers beyond
// 64 bits).
Result<Json> ParseSlowly(std::string_view body) {
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
  for (const char* object : {"/request/object/metadata", "/request/oldObject/metadata"}) {
    Json::json_pointer pointer(object);
    if (parsed.contains(pointer) && parsed[pointer].is_object()) {
      parsed[pointer].erase("managedFields");
    }
  }
  return parsed;
}

// Where in the review a value sits, as far as building it cares.
enum class Where { kReview, kRequest, kObject, kObjectMetadata, kElsewhere };

Where Inner(Where where, std::string_view key) {
  switch (where) {
    case Where::kReview:
      return key == "request" ? Where::kRequest : Where::kElsewhere;
    case Where::kRequest:
      return key == "object" || key == "oldObject" ? Where::kObject : Where::kElsewhere;
    case Where::kObject:
      return key == "metadata" ? Where::kObjectMetadata : Where::kElsewhere;
    default:
      return Where::kElsewhere;
  }
}

// request.object and request.oldObject where they lie in the parsed review (the last of a
// repeated key, as nlohmann keeps), when Build leaves them out of the tree.
struct DomObjects {
  std::optional<simdjson::dom::element> object;
  std::optional<simdjson::dom::element> old_object;
};

// simdjson's tree as nlohmann::json, as nlohmann's parser would have built it (policy::ToJson),
// without request.object's and request.oldObject's managedFields, which nothing here reads. With
// `objects`, request.object and request.oldObject are not built but noted there.
void Build(simdjson::dom::element element, Where where, Json& out, DomObjects* objects) {
  if (where == Where::kElsewhere || element.type() != simdjson::dom::element_type::OBJECT) {
    out = policy::ToJson(element);
    return;
  }
  out = Json::object();
  auto& fields = out.get_ref<Json::object_t&>();
  for (simdjson::dom::key_value_pair field : simdjson::dom::object(element)) {
    if (where == Where::kObjectMetadata && field.key == "managedFields") {
      continue;
    }
    if (objects != nullptr && where == Where::kRequest &&
        (field.key == "object" || field.key == "oldObject")) {
      (field.key == "object" ? objects->object : objects->old_object) = field.value;
      fields.erase(std::string(field.key));
      continue;
    }
    Build(field.value, Inner(where, field.key), fields[std::string(field.key)], objects);
  }
}

// Bodies up to this size are parsed by the thread's own parser, kept between requests; a larger
// one gets a parser of its own, so that one big review does not hold its memory for good.
constexpr std::size_t kKeptParserBytes = std::size_t{256} << 10;

// Parses `body` into `document` with the thread's parser; false where simdjson refuses it.
bool ParseDom(std::string_view body, simdjson::dom::document& document,
              simdjson::dom::element& root) {
  // The parser's buffers grow to the largest body it has read, up to its max capacity.
  auto new_parser = [](std::size_t max_capacity) {
    simdjson::dom::parser parser(max_capacity);
    bool ready = parser.allocate(max_capacity, kMaxDepth + 1) == simdjson::SUCCESS;
    return std::pair{std::move(parser), ready};
  };
  thread_local auto kept = new_parser(kKeptParserBytes);
  std::optional<std::pair<simdjson::dom::parser, bool>> own;
  auto* parser = &kept;
  if (body.size() > kKeptParserBytes) {
    parser = &own.emplace(new_parser(body.size()));
  }
  return parser->second &&
         parser->first.parse_into_document(document, body.data(), body.size()).get(root) ==
             simdjson::SUCCESS;
}

}  // namespace

Result<Json> ParseReviewJson(std::string_view body) {
  simdjson::dom::document document;
  simdjson::dom::element root;
  if (!ParseDom(body, document, root)) {
    return ParseSlowly(body);
  }
  Json parsed;
  Build(root, Where::kReview, parsed, nullptr);
  return parsed;
}

bool ReviewObject::is_object() const {
  return document_ ? element_.type() == simdjson::dom::element_type::OBJECT
                   : json_.has_value() && json_->is_object();
}

const Json& ReviewObject::json() const {
  if (!json_.has_value()) {
    json_ = document_ ? policy::ToJson(element_) : Json();
  }
  return *json_;
}

namespace {

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

// request.object and request.oldObject (where simdjson parsed them, or moved out of `in`), and
// request.dryRun.
Result<void> ReadObjects(Json& in, const std::shared_ptr<const simdjson::dom::document>& document,
                         const DomObjects& objects, AdmissionRequest& request) {
  struct Object {
    const char* key;
    const std::optional<simdjson::dom::element>* element;
    ReviewObject* into;
  };
  for (const Object& each : {Object{"object", &objects.object, &request.object},
                             Object{"oldObject", &objects.old_object, &request.old_object}}) {
    if (document) {
      if (!each.element->has_value() ||
          (*each.element)->type() == simdjson::dom::element_type::NULL_VALUE) {
        continue;
      }
      if ((*each.element)->type() != simdjson::dom::element_type::OBJECT) {
        return Fail(Bad(std::string("request.") + each.key + ": must be an object"));
      }
      *each.into = ReviewObject(document, **each.element);
      continue;
    }
    auto found = in.find(each.key);
    if (found == in.end() || found->is_null()) {
      continue;
    }
    if (!found->is_object()) {
      return Fail(Bad(std::string("request.") + each.key + ": must be an object"));
    }
    *each.into = std::move(*found);
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
  // The review's own document, which its objects keep alive; its header is built as a tree (a
  // few dozen values), request.object and request.oldObject are not.
  auto document = std::make_shared<simdjson::dom::document>();
  simdjson::dom::element root;
  DomObjects objects;
  Json parsed;
  if (ParseDom(body, *document, root)) {
    Build(root, Where::kReview, parsed, &objects);
  } else {
    document.reset();
    auto slowly = ParseSlowly(body);
    if (!slowly) {
      return Fail(slowly.error());
    }
    parsed = std::move(*slowly);
  }
  auto request_field = RequestOf(parsed);
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
  if (auto read = ReadObjects(in, document, objects, request); !read) {
    return Fail(read.error());
  }
  return request;
}

std::string EncodeReview(const AdmissionRequest& request, const AdmissionVerdict& verdict) {
  // Written out directly (it is written for every request); the keys in the order nlohmann's
  // sorted objects wrote them, and strings that are not UTF-8 replaced rather than thrown on.
  std::string out =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"allowed":)";
  out += verdict.allowed ? "true" : "false";
  if (!verdict.allowed) {
    out += R"(,"status":{"code":)" + std::to_string(verdict.code) + R"(,"message":)";
    core::AppendJsonString(out, verdict.message);
    out += R"(,"reason":)";
    core::AppendJsonString(out, verdict.reason.empty() ? "Forbidden" : verdict.reason);
    out += '}';
  }
  out += R"(,"uid":)";
  core::AppendJsonString(out, request.uid);
  if (!verdict.warnings.empty()) {
    out += R"(,"warnings":[)";
    for (std::size_t i = 0; i < verdict.warnings.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      core::AppendJsonString(out, verdict.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace botsec::webhook
