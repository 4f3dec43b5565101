#include "botsec/policy/yaml.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "yaml_load.h"

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

bool OneOf(std::string_view text, std::initializer_list<std::string_view> words) {
  return std::ranges::any_of(words, [text](std::string_view word) { return text == word; });
}

// An integer as go-yaml v2 reads one: underscores ignored, base from the prefix (0x, 0b, and a
// leading 0 for octal, as YAML 1.1 has it).
bool ParseInteger(std::string_view text, Json& out) {
  std::string digits;
  digits.reserve(text.size());
  for (char c : text) {
    if (c != '_') {
      digits.push_back(c);
    }
  }
  if (digits.empty()) {
    return false;
  }
  std::size_t start = digits[0] == '-' || digits[0] == '+' ? 1 : 0;
  if (start == digits.size()) {
    return false;
  }
  int base = 10;
  std::size_t body = start;
  if (digits.size() > start + 2 && digits[start] == '0' &&
      (digits[start + 1] == 'x' || digits[start + 1] == 'X')) {
    base = 16;
    body = start + 2;
  } else if (digits.size() > start + 2 && digits[start] == '0' &&
             (digits[start + 1] == 'b' || digits[start + 1] == 'B')) {
    base = 2;
    body = start + 2;
  } else if (digits.size() > start + 1 && digits[start] == '0') {
    base = 8;
    body = start + 1;
  }
  for (std::size_t i = body; i < digits.size(); ++i) {
    char c = digits[i];
    bool ok = (base == 16 && std::isxdigit(static_cast<unsigned char>(c)) != 0) ||
              (base == 10 && c >= '0' && c <= '9') || (base == 8 && c >= '0' && c <= '7') ||
              (base == 2 && (c == '0' || c == '1'));
    if (!ok) {
      return false;
    }
  }
  errno = 0;
  std::string unsigned_digits = digits.substr(body);
  char* end = nullptr;
  unsigned long long magnitude = std::strtoull(unsigned_digits.c_str(), &end, base);
  if (errno == ERANGE || end == nullptr || *end != '\0') {
    return false;
  }
  if (digits[0] == '-') {
    if (magnitude > static_cast<unsigned long long>(INT64_MAX) + 1) {
      return false;
    }
    out = magnitude == static_cast<unsigned long long>(INT64_MAX) + 1
              ? INT64_MIN
              : -static_cast<std::int64_t>(magnitude);
  } else if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
    out = static_cast<std::int64_t>(magnitude);
  } else {
    out = static_cast<std::uint64_t>(magnitude);
  }
  return true;
}

bool ParseFloat(std::string_view text, Json& out) {
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t from = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0 ||
                               (text[i] == '_' && i > from))) {
      ++i;
    }
    return i - from;
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    ++i;
  }
  std::size_t whole = digits();
  std::size_t fraction = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (whole == 0 && fraction == 0) {
    return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  if (i != text.size()) {
    return false;
  }
  std::string clean;
  for (char c : text) {
    if (c != '_') {
      clean.push_back(c);
    }
  }
  double value = std::strtod(clean.c_str(), nullptr);
  if (!std::isfinite(value)) {
    return false;
  }
  out = value;
  return true;
}

// A plain (unquoted, untagged) scalar, resolved as YAML 1.1.
Json ResolvePlain(const std::string& text) {
  if (OneOf(text, {"", "~", "null", "Null", "NULL"})) {
    return nullptr;
  }
  if (OneOf(text, {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"})) {
    return true;
  }
  if (OneOf(text, {"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"})) {
    return false;
  }
  Json number;
  if (ParseInteger(text, number) || ParseFloat(text, number)) {
    return number;
  }
  return text;
}

// Aliases can expand a small document enormously ("billion laughs"): every converted node
// counts against a budget.
constexpr std::size_t kMaxNodes = 100000;

Result<Json> Convert(const YAML::Node& node, int depth, std::size_t& budget);

Result<Json> ConvertScalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (tag == "?") {
    return ResolvePlain(text);
  }
  if (tag == "!" || tag == "tag:yaml.org,2002:str") {
    return text;
  }
  if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float") {
    Json number;
    if (ParseInteger(text, number) || ParseFloat(text, number)) {
      return number;
    }
    return Fail(ErrorCode::kInvalidArgument,
                YamlWhere(node.Mark()) + ": \"" + text + "\" is not a number");
  }
  if (tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
    return ResolvePlain(text);
  }
  return Fail(ErrorCode::kInvalidArgument, YamlWhere(node.Mark()) + ": unsupported tag " + tag);
}

std::string KeyText(const Json& key) {
  return key.is_string() ? key.get<std::string>() : key.dump();
}

Result<Json> ConvertMap(const YAML::Node& node, int depth, std::size_t& budget) {
  Json object = Json::object();
  std::vector<Json> merges;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return Fail(ErrorCode::kInvalidArgument,
                  YamlWhere(entry.first.Mark()) + ": a mapping key must be a scalar");
    }
    if (entry.first.Tag() == "?" && entry.first.Scalar() == "<<") {
      auto merged = Convert(entry.second, depth + 1, budget);
      if (!merged) {
        return merged;
      }
      if (merged->is_array()) {
        for (Json& each : *merged) {
          merges.push_back(std::move(each));
        }
      } else {
        merges.push_back(*std::move(merged));  // anything but a mapping is refused just below
      }
      for (const Json& each : merges) {
        if (!each.is_object()) {
          return Fail(ErrorCode::kInvalidArgument,
                      YamlWhere(entry.second.Mark()) + ": a merge key (<<) needs a mapping");
        }
      }
      continue;
    }
    auto key = ConvertScalar(entry.first);
    if (!key) {
      return key;
    }
    std::string name = KeyText(*key);
    if (object.contains(name)) {
      return Fail(ErrorCode::kInvalidArgument,
                  YamlWhere(entry.first.Mark()) + ": key \"" + name + "\" already defined");
    }
    auto value = Convert(entry.second, depth + 1, budget);
    if (!value) {
      return value;
    }
    object[name] = *std::move(value);
  }
  // Keys written in the mapping win over merged ones; earlier merged mappings over later ones.
  for (const Json& merged : merges) {
    for (const auto& [key, value] : merged.items()) {
      if (!object.contains(key)) {
        object[key] = value;
      }
    }
  }
  return object;
}

Result<Json> Convert(const YAML::Node& node, int depth, std::size_t& budget) {
  if (depth > 100) {
    return Fail(ErrorCode::kInvalidArgument, YamlWhere(node.Mark()) + ": nested too deeply");
  }
  if (++budget > kMaxNodes) {
    return Fail(ErrorCode::kInvalidArgument, YamlWhere(node.Mark()) + ": more than " +
                                                 std::to_string(kMaxNodes) +
                                                 " values once aliases are expanded");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ConvertScalar(node);
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) {
        auto value = Convert(item, depth + 1, budget);
        if (!value) {
          return value;
        }
        array.push_back(*std::move(value));
      }
      return array;
    }
    case YAML::NodeType::Map:
      return ConvertMap(node, depth, budget);
  }
  return nullptr;
}

}  // namespace

Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text) {
  auto loaded = LoadYamlNodes(text);
  if (!loaded) {
    return Fail(loaded.error());
  }
  const std::vector<YAML::Node>& nodes = *loaded;
  std::vector<YamlDocument> documents;
  documents.reserve(nodes.size());
  int index = 0;
  for (const YAML::Node& node : nodes) {
    ++index;
    if (node.IsNull() || !node.IsDefined()) {
      continue;
    }
    try {
      std::size_t budget = 0;
      auto value = Convert(node, 0, budget);
      if (!value) {
        return Fail(value.error());
      }
      documents.push_back(
          {.value = *std::move(value), .index = index, .line = node.Mark().line + 1});
    } catch (const YAML::Exception& e) {
      return Fail(ErrorCode::kInvalidArgument, YamlWhere(e.mark) + ": " + e.msg);
    }
  }
  return documents;
}

}  // namespace botsec::policy
