#include "botsec/kube/watch.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "botsec/core/result.h"
#include "botsec/kube/status.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

// How long to wait before trying again: the backoff, but never less than the Retry-After the
// server sent with the error (429, or 503 while it starts), which knows its load better than we do.
Duration RetryDelay(Duration backoff, const core::Error& error) {
  return std::max<Duration>(backoff, error.retry_after);
}

}  // namespace

Result<WatchEvent> DecodeWatchEvent(std::string_view line) {
  static const std::map<std::string, EventType, std::less<>> kTypes = {
      {"ADDED", EventType::kAdded},     {"MODIFIED", EventType::kModified},
      {"DELETED", EventType::kDeleted}, {"BOOKMARK", EventType::kBookmark},
      {"ERROR", EventType::kError},
  };
  Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return Fail(ErrorCode::kInternal, "watch event: not a JSON object");
  }
  auto type = parsed.find("type");
  if (type == parsed.end() || !type->is_string()) {
    return Fail(ErrorCode::kInternal, "watch event: type: Required value");
  }
  auto known = kTypes.find(type->get<std::string>());
  if (known == kTypes.end()) {
    return Fail(ErrorCode::kInternal,
                "watch event: type: Unsupported value: \"" + type->get<std::string>() + "\"");
  }
  auto object = parsed.find("object");
  if (object == parsed.end() || !object->is_object()) {
    return Fail(ErrorCode::kInternal, "watch event: object: Required value");
  }
  return WatchEvent{known->second, std::move(*object)};
}

std::string ResourceVersionOf(const Json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return "";
  }
  auto rv = metadata->find("resourceVersion");
  return rv != metadata->end() && rv->is_string() ? rv->get<std::string>() : "";
}

Reflector::Reflector(const Client& client, Resource resource, std::string ns,
                     ReflectorHandlers handlers, core::Clock& clock, ReflectorOptions options)
    : client_(client),
      resource_(std::move(resource)),
      ns_(std::move(ns)),
      handlers_(std::move(handlers)),
      clock_(clock),
      options_(std::move(options)) {}

void Reflector::Run(const std::stop_token& stop) {
  Duration backoff = options_.min_backoff;
  bool need_list = true;
  while (!stop.stop_requested()) {
    bool progressed = false;
    if (need_list) {
      auto listed = ListAndReplace();
      if (!listed) {
        clock_.SleepFor(RetryDelay(backoff, listed.error()), stop);
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      need_list = false;
      progressed = true;
    }
    auto watched = WatchFrom(last_resource_version(), stop, progressed);
    if (stop.stop_requested()) {
      break;
    }
    if (!watched && watched.error().code == ErrorCode::kGone) {
      need_list = true;  // our version is older than the server keeps: start over
      continue;
    }
    if (!watched && watched.error().retry_after > std::chrono::seconds(0)) {
      // Told when to come back: not sooner, even right after a successful list.
      clock_.SleepFor(RetryDelay(backoff, watched.error()), stop);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (progressed) {
      backoff = options_.min_backoff;
      continue;
    }
    // Nothing happened, or it failed: never spin on a watch that ends at once.
    clock_.SleepFor(backoff, stop);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Result<std::string> Reflector::ListAndReplace() {
  ListOptions options = options_.selectors;
  options.resource_version.clear();  // a consistent read: never older than what we had
  if (options.limit <= 0) {
    options.limit = 500;
  }
  std::string rv;
  std::vector<Json> items;
  for (bool first = true;; first = false) {
    auto page = client_.List(resource_, ns_, options);
    if (!page) {
      return Fail(page.error());
    }
    if (first) {
      rv = ResourceVersionOf(*page);  // later pages are of the same snapshot
    }
    std::vector<Json> page_items;
    if (page->contains("items") && (*page)["items"].is_array()) {
      page_items.reserve((*page)["items"].size());
      for (Json& item : (*page)["items"]) {
        page_items.push_back(std::move(item));
      }
    }
    std::string next = page->value(Json::json_pointer("/metadata/continue"), "");
    *page = nullptr;
    if (handlers_.list_page) {
      handlers_.list_page(std::move(page_items), first);
    } else {
      std::move(page_items.begin(), page_items.end(), std::back_inserter(items));
    }
    if (next.empty()) {
      break;
    }
    options.continue_token = std::move(next);
  }
  {
    std::lock_guard<std::mutex> guard(mu_);
    ++lists_;
  }
  handlers_.replace(std::move(items), rv);
  Remember(rv);
  return rv;
}

Result<std::string> Reflector::WatchFrom(const std::string& rv, const std::stop_token& stop,
                                         bool& progressed) {
  WatchOptions watch;
  watch.label_selector = options_.selectors.label_selector;
  watch.field_selector = options_.selectors.field_selector;
  watch.resource_version = rv;
  watch.timeout_seconds = options_.watch_timeout_seconds;
  HttpRequest request{.path = ResourcePath(resource_, ns_) + WatchQuery(watch),
                      .timeout = std::chrono::seconds(options_.watch_timeout_seconds + 30)};
  std::optional<core::Error> ended_by;
  auto response = client_.transport().Stream(
      request,
      [&](std::string_view line) {
        auto event = DecodeWatchEvent(line);
        if (!event) {
          ended_by = event.error();
          return false;
        }
        if (event->type == EventType::kError) {
          int code = event->object.value("code", 500);
          ended_by = DecodeStatus(code, event->object.dump(), "");
          return false;
        }
        if (event->type != EventType::kBookmark) {
          handlers_.event(*event);
        }
        Remember(ResourceVersionOf(event->object));
        progressed = true;
        return true;
      },
      stop);
  if (!response) {
    return Fail(response.error());
  }
  if (response->status < 200 || response->status > 299) {
    return Fail(DecodeStatus(response->status, response->body, response->retry_after));
  }
  if (ended_by) {
    return Fail(*ended_by);
  }
  return last_resource_version();
}

void Reflector::Remember(const std::string& rv) {
  if (rv.empty()) {
    return;
  }
  std::lock_guard<std::mutex> guard(mu_);
  last_rv_ = rv;
}

std::string Reflector::last_resource_version() const {
  std::lock_guard<std::mutex> guard(mu_);
  return last_rv_;
}

int Reflector::lists() const {
  std::lock_guard<std::mutex> guard(mu_);
  return lists_;
}

}  // namespace botsec::kube
