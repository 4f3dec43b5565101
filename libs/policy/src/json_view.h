// The checks read a pod through a view, never a particular JSON library (docs/adr/0006): the same
// check code runs over an nlohmann tree (botsec check, the operator, tests) and over simdjson's
// DOM (the webhook, which then builds no tree for a review). Both views are small values with the
// same members; the checks are templates over them, instantiated once for each.
//
// Both read JSON the way the API server's decoder does, and the same way as each other: an absent
// field and a null one are the same (the view is false); a repeated key's last value counts; an
// object's members are visited in key order (bytewise), so a violation list never depends on how
// the document happened to order them.
#ifndef BOTSEC_POLICY_SRC_JSON_VIEW_H_
#define BOTSEC_POLICY_SRC_JSON_VIEW_H_

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "botsec/policy/dom.h"
#include "botsec/policy/engine.h"

namespace botsec::policy::internal {

class NlohmannView {
 public:
  NlohmannView() = default;
  explicit NlohmannView(const Json& json) : json_(json.is_null() ? nullptr : &json) {}

  // Present and not null.
  explicit operator bool() const { return json_ != nullptr; }
  [[nodiscard]] bool is_object() const { return json_ != nullptr && json_->is_object(); }
  [[nodiscard]] bool is_array() const { return json_ != nullptr && json_->is_array(); }
  [[nodiscard]] bool is_string() const { return json_ != nullptr && json_->is_string(); }
  [[nodiscard]] bool is_boolean() const { return json_ != nullptr && json_->is_boolean(); }
  [[nodiscard]] bool is_integer() const { return json_ != nullptr && json_->is_number_integer(); }

  // Only after is_boolean() / is_string().
  [[nodiscard]] bool boolean() const { return json_->get<bool>(); }
  [[nodiscard]] std::string_view string() const { return json_->get_ref<const std::string&>(); }
  [[nodiscard]] bool is_zero() const { return is_integer() && *json_ == 0; }

  // The field `key`, or a false view when this is not an object or the field is absent or null.
  [[nodiscard]] NlohmannView Get(std::string_view key) const {
    if (!is_object()) {
      return {};
    }
    const auto& fields = json_->get_ref<const Json::object_t&>();
    auto it = fields.find(key);
    return it == fields.end() ? NlohmannView() : NlohmannView(it->second);
  }

  // visit(index, item) for each item of an array (nothing when this is not one).
  template <typename Visit>
  void ForEachItem(Visit&& visit) const {
    if (!is_array()) {
      return;
    }
    const auto& items = json_->get_ref<const Json::array_t&>();
    for (std::size_t i = 0; i < items.size(); ++i) {
      visit(i, NlohmannView(items[i]));
    }
  }

  // visit(key, value) for each member of an object, in key order; visit returns false to stop.
  template <typename Visit>
  void ForEachMember(Visit&& visit) const {
    if (!is_object()) {
      return;
    }
    for (const auto& [key, value] : json_->get_ref<const Json::object_t&>()) {
      if (!visit(std::string_view(key), NlohmannView(value))) {
        return;
      }
    }
  }

  // The value as JSON text for a message (bytes that are not UTF-8 become U+FFFD).
  [[nodiscard]] std::string Dump() const {
    return json_ == nullptr ? "null" : json_->dump(-1, ' ', false, Json::error_handler_t::replace);
  }

 private:
  const Json* json_ = nullptr;
};

class DomView {
 public:
  DomView() = default;
  explicit DomView(simdjson::dom::element element)
      : element_(element), present_(element.type() != Type::NULL_VALUE) {}

  explicit operator bool() const { return present_; }
  [[nodiscard]] bool is_object() const { return Is(Type::OBJECT); }
  [[nodiscard]] bool is_array() const { return Is(Type::ARRAY); }
  [[nodiscard]] bool is_string() const { return Is(Type::STRING); }
  [[nodiscard]] bool is_boolean() const { return Is(Type::BOOL); }
  [[nodiscard]] bool is_integer() const { return Is(Type::INT64) || Is(Type::UINT64); }

  [[nodiscard]] bool boolean() const { return element_.get_bool().value_unsafe(); }
  [[nodiscard]] std::string_view string() const { return element_.get_string().value_unsafe(); }
  [[nodiscard]] bool is_zero() const {
    return (Is(Type::INT64) && element_.get_int64().value_unsafe() == 0) ||
           (Is(Type::UINT64) && element_.get_uint64().value_unsafe() == 0);
  }

  [[nodiscard]] DomView Get(std::string_view key) const {
    if (!is_object()) {
      return {};
    }
    DomView found;
    for (simdjson::dom::key_value_pair field : simdjson::dom::object(element_)) {
      if (field.key == key) {
        found = DomView(field.value);  // no early return: a repeated key's last value counts
      }
    }
    return found;
  }

  template <typename Visit>
  void ForEachItem(Visit&& visit) const {
    if (!is_array()) {
      return;
    }
    std::size_t i = 0;
    for (simdjson::dom::element item : simdjson::dom::array(element_)) {
      visit(i++, DomView(item));
    }
  }

  template <typename Visit>
  void ForEachMember(Visit&& visit) const {
    if (!is_object()) {
      return;
    }
    std::vector<std::pair<std::string_view, simdjson::dom::element>> members;
    for (simdjson::dom::key_value_pair field : simdjson::dom::object(element_)) {
      members.emplace_back(field.key, field.value);
    }
    // Key order, and of a repeated key only the last (stable sort keeps document order within).
    std::stable_sort(members.begin(), members.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i + 1 < members.size() && members[i + 1].first == members[i].first) {
        continue;
      }
      if (!visit(members[i].first, DomView(members[i].second))) {
        return;
      }
    }
  }

  [[nodiscard]] std::string Dump() const {
    return present_ ? ToJson(element_).dump(-1, ' ', false, Json::error_handler_t::replace)
                    : "null";
  }

 private:
  using Type = simdjson::dom::element_type;
  [[nodiscard]] bool Is(Type type) const { return present_ && element_.type() == type; }

  simdjson::dom::element element_;
  bool present_ = false;
};

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_JSON_VIEW_H_
