// A queue of keys ("namespace/name") for controllers, with client-go's workqueue semantics:
//  - adding a key that is already waiting merges the two adds;
//  - a key is never handed to two workers at once: added while in process, it is queued again
//    when the worker calls Done;
//  - AddAfter delays a key; AddRateLimited delays it by the RateLimiter (backoff);
//  - ShutDown wakes every Get with nullopt; ShutDownWithDrain first waits for keys in process.
//
// Thread-safety: every method may be called from any thread.
#ifndef BOTSEC_KUBE_WORK_QUEUE_H_
#define BOTSEC_KUBE_WORK_QUEUE_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "botsec/core/clock.h"
#include "botsec/kube/rate_limiter.h"

namespace botsec::kube {

// What a queue reports as it works, for the workqueue_* metrics (client-go's MetricsProvider).
// Called with the queue's lock held: implementations must be quick and must not call the queue.
class WorkQueueObserver {
 public:
  virtual ~WorkQueueObserver() = default;
  // A key was added that was not already waiting (merged adds are not counted).
  virtual void Added() = 0;
  // Get handed out a key that had waited `queued` since it was added.
  virtual void Started(Duration queued) = 0;
  // Done, `worked` after Get handed the key out.
  virtual void Finished(Duration worked) = 0;
  // AddRateLimited: a key is retried after a failure.
  virtual void Retried() = 0;
};

class WorkQueue {
 public:
  WorkQueue(core::Clock& clock, std::unique_ptr<RateLimiter> limiter);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;
  ~WorkQueue();

  // Reports to `observer` (which must outlive the queue) from now on; nullptr stops reporting.
  void SetObserver(WorkQueueObserver* observer);

  void Add(const std::string& key);
  // Adds `key` once `delay` has passed; an earlier pending time for the same key wins.
  void AddAfter(const std::string& key, Duration delay);
  // Adds `key` after the rate limiter's delay for it (one more failure).
  void AddRateLimited(const std::string& key);
  // Resets `key`'s failure count: call after it was processed successfully.
  void Forget(const std::string& key);
  [[nodiscard]] int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready, marks it in process and returns it; nullopt once shut down.
  std::optional<std::string> Get();
  // Marks `key` processed; if it was added meanwhile it becomes ready again.
  void Done(const std::string& key);

  // Stops the queue: pending keys are dropped, Get returns nullopt, later adds are ignored.
  void ShutDown();
  // Like ShutDown, but first waits until every key in process is Done.
  void ShutDownWithDrain();
  [[nodiscard]] bool ShuttingDown() const;

  // Keys ready to be processed (not those delayed or in process): `workqueue_depth`.
  [[nodiscard]] std::size_t Len() const;
  // Keys waiting for a delay to pass.
  [[nodiscard]] std::size_t Delayed() const;

 private:
  void AddLocked(const std::string& key);
  void PromoteDueLocked();
  // Marks the queue stopped, drops every pending key and wakes all waiters.
  void StopLocked();

  core::Clock& clock_;
  std::unique_ptr<RateLimiter> limiter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string, std::less<>> dirty_;       // queued or to be queued after Done
  std::set<std::string, std::less<>> processing_;  // handed out by Get, not yet Done
  std::multimap<core::Clock::TimePoint, std::string> waiting_;
  std::map<std::string, core::Clock::TimePoint, std::less<>> waiting_at_;
  bool shutting_down_ = false;
  WorkQueueObserver* observer_ = nullptr;
  // Kept only while an observer is set: when each waiting key was added, each key in process got.
  std::map<std::string, core::Clock::TimePoint, std::less<>> added_at_;
  std::map<std::string, core::Clock::TimePoint, std::less<>> started_at_;
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_WORK_QUEUE_H_
