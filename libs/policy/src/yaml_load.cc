#include "yaml_load.h"

#include <cstddef>
#include <sstream>
#include <string>

#include <yaml-cpp/eventhandler.h>

namespace botsec::policy {
namespace {

using core::ErrorCode;
using core::Fail;

// Each event consumes at least one character of the stream, except the few a document, an empty
// value or an empty collection adds around it; a stream with more events than this is looping.
std::size_t EventBudget(std::size_t length) { return 8 * length + 64; }

// Walks the events and throws YAML::ParserException where the stream stops making progress.
class ProgressGuard final : public YAML::EventHandler {
 public:
  explicit ProgressGuard(std::string_view text) : text_(text), budget_(EventBudget(text.size())) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    Count(mark);
    if (last_document_ >= 0 && mark.pos <= last_document_) {
      std::string what = "unexpected ";
      if (static_cast<std::size_t>(mark.pos) < text_.size()) {
        what += "'" + std::string(1, text_[mark.pos]) + "'";
      } else {
        what += "end of stream";
      }
      throw YAML::ParserException(mark, what + " outside a flow collection");
    }
    last_document_ = mark.pos;
  }
  void OnDocumentEnd() override { Count(last_mark_); }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {
    Count(mark);
  }
  void OnSequenceEnd() override { Count(last_mark_); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {
    Count(mark);
  }
  void OnMapEnd() override { Count(last_mark_); }

 private:
  void Count(const YAML::Mark& mark) {
    last_mark_ = mark;
    if (++events_ > budget_) {
      throw YAML::ParserException(mark, "the stream does not parse to an end");
    }
  }

  std::string_view text_;
  std::size_t budget_;
  std::size_t events_ = 0;
  int last_document_ = -1;
  YAML::Mark last_mark_ = YAML::Mark::null_mark();
};

}  // namespace

std::string YamlWhere(const YAML::Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

core::Result<std::vector<YAML::Node>> LoadYamlNodes(std::string_view text) {
  std::string copy(text);
  try {
    std::istringstream stream(copy);
    YAML::Parser parser(stream);
    ProgressGuard guard(text);
    while (parser.HandleNextDocument(guard)) {
    }
    return YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, YamlWhere(e.mark) + ": " + e.msg);
  }
}

}  // namespace botsec::policy
