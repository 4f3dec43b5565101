#include "botsec/kube/work_queue.h"

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace botsec::kube {

WorkQueue::WorkQueue(core::Clock& clock, std::unique_ptr<RateLimiter> limiter)
    : clock_(clock), limiter_(std::move(limiter)) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::SetObserver(WorkQueueObserver* observer) {
  std::lock_guard<std::mutex> guard(mu_);
  observer_ = observer;
  added_at_.clear();
  started_at_.clear();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  AddLocked(key);
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || !dirty_.insert(key).second) {
    return;  // stopped, or already waiting: the two adds merge
  }
  if (observer_ != nullptr) {
    observer_->Added();
    added_at_.insert_or_assign(key, clock_.Now());
  }
  if (processing_.contains(key)) {
    return;  // Done puts it back, so no two workers ever hold the same key
  }
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  std::lock_guard<std::mutex> guard(mu_);
  if (shutting_down_) {
    return;
  }
  if (delay <= Duration::zero()) {
    AddLocked(key);
    return;
  }
  core::Clock::TimePoint ready_at = clock_.Now() + delay;
  if (auto it = waiting_at_.find(key); it != waiting_at_.end()) {
    if (it->second <= ready_at) {
      return;
    }
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  waiting_.emplace(ready_at, key);
  waiting_at_[key] = ready_at;
  cv_.notify_all();  // a worker may need to wait for an earlier deadline now
}

void WorkQueue::AddRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard<std::mutex> guard(mu_);
    delay = limiter_->When(key);
    if (observer_ != nullptr) {
      observer_->Retried();
    }
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  limiter_->Forget(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> guard(mu_);
  return limiter_->NumRequeues(key);
}

void WorkQueue::PromoteDueLocked() {
  core::Clock::TimePoint now = clock_.Now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = std::move(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
    waiting_at_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (shutting_down_) {
      return std::nullopt;
    }
    PromoteDueLocked();
    if (!queue_.empty()) {
      break;
    }
    core::Clock::TimePoint deadline =
        waiting_.empty() ? core::Clock::TimePoint::max() : waiting_.begin()->first;
    clock_.WaitUntil(cv_, lock, deadline);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  if (observer_ != nullptr) {
    core::Clock::TimePoint now = clock_.Now();
    if (auto added = added_at_.find(key); added != added_at_.end()) {
      observer_->Started(now - added->second);
      added_at_.erase(added);
    }
    started_at_.insert_or_assign(key, now);
  }
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  processing_.erase(key);
  if (observer_ != nullptr) {
    if (auto started = started_at_.find(key); started != started_at_.end()) {
      observer_->Finished(clock_.Now() - started->second);
      started_at_.erase(started);
    }
  }
  if (dirty_.contains(key) && !shutting_down_) {
    queue_.push_back(key);
  }
  cv_.notify_all();
}

void WorkQueue::StopLocked() {
  shutting_down_ = true;
  queue_.clear();
  dirty_.clear();
  waiting_.clear();
  waiting_at_.clear();
  added_at_.clear();
  cv_.notify_all();
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> guard(mu_);
  StopLocked();
}

void WorkQueue::ShutDownWithDrain() {
  std::unique_lock<std::mutex> lock(mu_);
  StopLocked();
  // Keys in process finish on real time: their workers are doing real work.
  cv_.wait(lock, [this] { return processing_.empty(); });
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> guard(mu_);
  return shutting_down_;
}

std::size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> guard(mu_);
  return queue_.size();
}

std::size_t WorkQueue::Delayed() const {
  std::lock_guard<std::mutex> guard(mu_);
  return waiting_.size();
}

}  // namespace botsec::kube
