#include "botsec/kube/events.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "botsec/core/hash.h"
#include "botsec/core/time.h"
#include "botsec/kube/resource.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;

constexpr const char* kCombinedPrefix = "(combined from similar events): ";

std::string StringAt(const Json& object, const char* pointer) {
  const Json::json_pointer path(pointer);
  if (!object.contains(path) || !object[path].is_string()) {
    return "";
  }
  return object[path].get<std::string>();
}

std::string ObjectKey(const ObjectReference& ref) {
  return ref.ns + "/" + ref.kind + "/" + ref.name + "/" + ref.uid;
}

// An Event's name must be a DNS subdomain (253 characters); the object's own name is one.
std::string EventName(const ObjectReference& ref, const std::string& dedupe_key) {
  std::string base = ref.name.substr(0, 253 - 17);
  return base + "." + core::Hex64(core::Fnv1a64(dedupe_key));
}

}  // namespace

ObjectReference ObjectReference::Of(const Json& object) {
  return {.api_version = StringAt(object, "/apiVersion"),
          .kind = StringAt(object, "/kind"),
          .ns = StringAt(object, "/metadata/namespace"),
          .name = StringAt(object, "/metadata/name"),
          .uid = StringAt(object, "/metadata/uid")};
}

Json ObjectReference::ToJson() const {
  Json ref = {{"apiVersion", api_version}, {"kind", kind}, {"name", name}};
  if (!ns.empty()) {
    ref["namespace"] = ns;
  }
  if (!uid.empty()) {
    ref["uid"] = uid;
  }
  return ref;
}

EventCorrelator::EventCorrelator(EventCorrelatorOptions options) : options_(std::move(options)) {}

bool EventCorrelator::TakeToken(const std::string& object_key, core::Clock::TimePoint now) {
  auto [it, fresh] = buckets_.try_emplace(object_key);
  Bucket& bucket = it->second;
  if (fresh) {
    bucket.tokens = options_.burst;
  } else {
    double refilled = std::chrono::duration<double>(now - bucket.last).count() /
                      std::chrono::duration<double>(options_.refill).count();
    bucket.tokens = std::min<double>(options_.burst, bucket.tokens + refilled);
  }
  bucket.last = now;
  if (bucket.tokens < 1) {
    return false;
  }
  bucket.tokens -= 1;
  return true;
}

void EventCorrelator::Forget(core::Clock::TimePoint now) {
  if (seen_.size() + similar_.size() + buckets_.size() <= options_.max_tracked) {
    return;
  }
  // Forget what has been quiet for a window; a forgotten repeat costs one AlreadyExists.
  std::erase_if(seen_,
                [&](const auto& entry) { return now - entry.second.last > options_.window; });
  std::erase_if(buckets_, [&](const auto& entry) {
    return now - entry.second.last > options_.refill * options_.burst;
  });
  similar_.clear();
  if (seen_.size() + buckets_.size() > options_.max_tracked) {
    seen_.clear();
    buckets_.clear();
  }
}

EventDecision EventCorrelator::Correlate(const EventRecord& record, core::Clock::TimePoint now,
                                         std::chrono::system_clock::time_point wall) {
  Forget(now);
  const std::string object_key = ObjectKey(record.object);
  const std::string type = record.kind == EventKind::kWarning ? "Warning" : "Normal";
  EventDecision decision{.action = EventAction::kDrop,
                         .ns = record.object.ns.empty() ? "default" : record.object.ns,
                         .name = "",
                         .event = nullptr,
                         .patch = nullptr};
  if (!TakeToken(object_key, now)) {
    return decision;
  }

  // Many distinct messages for one reason: fold them into one Event.
  const std::string similar_key = object_key + "|" + type + "|" + record.reason;
  Similar& similar = similar_[similar_key];
  std::erase_if(similar.messages,
                [&](const auto& entry) { return now - entry.second > options_.window; });
  similar.messages[record.message] = now;
  std::string message = record.message;
  std::string dedupe_key = similar_key + "|" + record.message;
  if (static_cast<int>(similar.messages.size()) >= options_.similar_threshold) {
    message = kCombinedPrefix + record.message;
    dedupe_key = similar_key + "|combined";
  }

  const std::string stamp = core::FormatRfc3339(wall);
  auto [it, fresh] = seen_.try_emplace(dedupe_key);
  Seen& seen = it->second;
  if (fresh) {
    seen.name = EventName(record.object, dedupe_key);
    seen.first_timestamp = stamp;
  }
  seen.count += 1;
  seen.last = now;
  decision.name = seen.name;
  decision.action = seen.count == 1 ? EventAction::kCreate : EventAction::kUpdate;
  decision.event = {{"apiVersion", "v1"},
                    {"kind", "Event"},
                    {"metadata", {{"name", seen.name}, {"namespace", decision.ns}}},
                    {"involvedObject", record.object.ToJson()},
                    {"type", type},
                    {"reason", record.reason},
                    {"message", message},
                    {"source", {{"component", options_.component}}},
                    {"reportingComponent", options_.component},
                    {"reportingInstance", options_.instance},
                    {"firstTimestamp", seen.first_timestamp},
                    {"lastTimestamp", stamp},
                    {"count", seen.count}};
  decision.patch = {{"count", seen.count}, {"lastTimestamp", stamp}, {"message", message}};
  return decision;
}

void EventCorrelator::Adopt(const std::string& name, int count,
                            const std::string& first_timestamp) {
  for (auto& [key, seen] : seen_) {
    if (seen.name == name) {
      seen.count = count;
      if (!first_timestamp.empty()) {
        seen.first_timestamp = first_timestamp;
      }
    }
  }
}

EventRecorder::EventRecorder(Client client, EventCorrelatorOptions options, core::Clock& clock,
                             std::size_t queue_limit)
    : client_(std::move(client)),
      clock_(clock),
      correlator_(std::move(options)),
      queue_limit_(queue_limit),
      writer_([this](const std::stop_token& stop) { Loop(stop); }) {}

EventRecorder::~EventRecorder() {
  writer_.request_stop();
  writer_.join();
}

void EventRecorder::Record(const Json& object, EventKind kind, std::string reason,
                           std::string message) {
  EventRecord record{.object = ObjectReference::Of(object),
                     .kind = kind,
                     .reason = std::move(reason),
                     .message = std::move(message)};
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= queue_limit_) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(record));
  changed_.notify_all();
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

std::uint64_t EventRecorder::written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

std::uint64_t EventRecorder::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

void EventRecorder::Loop(const std::stop_token& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, stop, [this] { return !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopped with nothing left to write
    }
    EventRecord record = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Write(record);
    lock.lock();
    busy_ = false;
    changed_.notify_all();
  }
}

void EventRecorder::Write(const EventRecord& record) {
  EventDecision decision = correlator_.Correlate(record, clock_.Now(), clock_.WallNow());
  bool ok = false;
  std::string error;
  if (decision.action == EventAction::kUpdate) {
    auto patched = client_.Patch(resources::Events(), decision.ns, decision.name, PatchType::kMerge,
                                 decision.patch);
    if (patched) {
      ok = true;
    } else if (patched.error().code == ErrorCode::kNotFound) {
      decision.action = EventAction::kCreate;  // expired on the server (events have a TTL)
    } else {
      error = patched.error().message;
    }
  }
  if (decision.action == EventAction::kCreate) {
    auto created = client_.Create(resources::Events(), decision.ns, decision.event);
    if (created) {
      ok = true;
    } else if (created.error().code == ErrorCode::kAlreadyExists) {
      // Written by an earlier run of this recorder: count on from the server's count.
      auto existing = client_.Get(resources::Events(), decision.ns, decision.name);
      if (existing) {
        int count = existing->value("count", 1) + 1;
        std::string first = existing->value("firstTimestamp", "");
        correlator_.Adopt(decision.name, count, first);
        Json patch = decision.patch;
        patch["count"] = count;
        auto patched = client_.Patch(resources::Events(), decision.ns, decision.name,
                                     PatchType::kMerge, patch);
        ok = patched.has_value();
        error = ok ? "" : patched.error().message;
      } else {
        error = existing.error().message;
      }
    } else {
      error = created.error().message;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (ok) {
    ++written_;
  } else {
    ++dropped_;
    if (decision.action != EventAction::kDrop) {
      std::clog << "\"Writing an event failed\" event=" << decision.ns << "/" << decision.name
                << " reason=" << record.reason << " err=\"" << error << "\"\n";
    }
  }
}

}  // namespace botsec::kube
