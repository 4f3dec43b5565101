#include "botsec/core/clock.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace botsec::core {

bool Clock::SleepFor(Duration duration, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable cv;
  // Registered before taking the lock: a stop already requested runs the callback right here.
  std::stop_callback wake(stop, [&] {
    std::lock_guard<std::mutex> guard(mu);
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  TimePoint deadline = Now() + duration;
  while (!stop.stop_requested() && Now() < deadline) {
    WaitUntil(cv, lock, deadline);
  }
  return !stop.stop_requested();
}

Clock::TimePoint RealClock::Now() const { return std::chrono::steady_clock::now(); }

std::chrono::system_clock::time_point RealClock::WallNow() const {
  return std::chrono::system_clock::now();
}

void RealClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          TimePoint deadline) {
  if (deadline == TimePoint::max()) {
    cv.wait(lock);
  } else {
    cv.wait_until(lock, deadline);
  }
}

// Fake time starts at a fixed point so that tests print the same values on every run.
FakeClock::FakeClock() = default;

Clock::TimePoint FakeClock::Now() const {
  std::lock_guard<std::mutex> guard(mu_);
  return TimePoint(elapsed_);
}

std::chrono::system_clock::time_point FakeClock::WallNow() const {
  std::lock_guard<std::mutex> guard(mu_);
  // 2026-01-01T00:00:00Z plus the fake elapsed time.
  return std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed_);
}

void FakeClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          TimePoint deadline) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (TimePoint(elapsed_) >= deadline) {
      return;
    }
    waiters_.push_back(Waiter{&cv, lock.mutex()});
  }
  // Advance takes the caller's mutex before notifying, so the wake-up cannot fall between the
  // registration above and this wait, which releases that mutex atomically.
  cv.wait(lock);
  std::lock_guard<std::mutex> guard(mu_);
  auto it =
      std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.cv == &cv; });
  if (it != waiters_.end()) {
    waiters_.erase(it);
  }
}

void FakeClock::Advance(Duration by) {
  std::vector<Waiter> to_wake;
  {
    std::lock_guard<std::mutex> guard(mu_);
    elapsed_ += by;
    to_wake = waiters_;
  }
  for (const Waiter& w : to_wake) {
    std::lock_guard<std::mutex> guard(*w.mutex);
    w.cv->notify_all();
  }
}

int FakeClock::Waiters() const {
  std::lock_guard<std::mutex> guard(mu_);
  return static_cast<int>(waiters_.size());
}

}  // namespace botsec::core
