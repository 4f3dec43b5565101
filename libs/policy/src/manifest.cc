#include "botsec/policy/manifest.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

bool LooksLikeJson(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      continue;
    }
    return c == '{' || c == '[';
  }
  return false;
}

bool IsList(const Json& object) {
  auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string()) {
    return false;
  }
  const auto& name = kind->get_ref<const std::string&>();
  return name.size() >= 4 && name.compare(name.size() - 4, 4, "List") == 0 &&
         object.contains("items");
}

Result<void> Add(Json object, int document, int line, std::vector<Manifest>& out) {
  std::string where =
      "document " + std::to_string(document) + " (line " + std::to_string(line) + ")";
  if (!object.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, where + ": not an object");
  }
  if (!IsList(object)) {
    out.push_back({.object = std::move(object), .document = document, .item = -1, .line = line});
    return {};
  }
  Json& items = object["items"];
  if (!items.is_array()) {
    return Fail(ErrorCode::kInvalidArgument, where + ": items: Invalid value: must be a list");
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_object()) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": items[" + std::to_string(i) + "]: not an object");
    }
    out.push_back({.object = std::move(items[i]),
                   .document = document,
                   .item = static_cast<int>(i),
                   .line = line});
  }
  return {};
}

}  // namespace

Result<std::vector<Manifest>> ReadManifests(std::string_view text) {
  std::vector<Manifest> manifests;
  if (LooksLikeJson(text)) {
    Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
      // Parse again for the position: the non-throwing parse does not report it.
      try {
        Json again = Json::parse(text);
        again.clear();
      } catch (const Json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> from "line";
        // a number too large for a double (out_of_range.406) says no position.
        std::string what = e.what();
        if (std::size_t at = what.find("line "); at != std::string::npos) {
          return Fail(ErrorCode::kInvalidArgument, what.substr(at));
        }
        if (std::size_t end = what.find("] "); end != std::string::npos) {
          what.erase(0, end + 2);
        }
        return Fail(ErrorCode::kInvalidArgument, "invalid JSON: " + what);
      }
      return Fail(ErrorCode::kInvalidArgument, "invalid JSON");
    }
    if (auto added = Add(std::move(value), 1, 1, manifests); !added) {
      return Fail(added.error());
    }
    return manifests;
  }
  auto documents = ParseYamlStream(text);
  if (!documents) {
    return Fail(documents.error());
  }
  for (YamlDocument& document : *documents) {
    if (auto added = Add(std::move(document.value), document.index, document.line, manifests);
        !added) {
      return Fail(added.error());
    }
  }
  return manifests;
}

}  // namespace botsec::policy
