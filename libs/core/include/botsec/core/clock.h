// The Clock seam: everything that waits or reads the time takes a Clock, so tests can drive time
// by hand (FakeClock) instead of sleeping.
//
// Thread-safety: both clocks may be used from any number of threads.
#ifndef BOTSEC_CORE_CLOCK_H_
#define BOTSEC_CORE_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <vector>

namespace botsec::core {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Monotonic time, for deadlines and backoff.
  [[nodiscard]] virtual TimePoint Now() const = 0;
  // Wall-clock time, for what is written to the API (Lease renewTime, Event timestamps).
  [[nodiscard]] virtual std::chrono::system_clock::time_point WallNow() const = 0;

  // Blocks on `cv` (whose mutex `lock` holds) until it is notified or this clock reaches
  // `deadline`. Like condition_variable::wait_until, it may return early; callers re-check.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) = 0;

  // Sleeps for `duration` on this clock unless `stop` is requested first. Returns false when
  // stopped.
  bool SleepFor(Duration duration, const std::stop_token& stop);
};

// The real clocks of the machine.
class RealClock final : public Clock {
 public:
  [[nodiscard]] TimePoint Now() const override;
  [[nodiscard]] std::chrono::system_clock::time_point WallNow() const override;
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) override;
};

// A clock that moves only when told to. Waiters wake when Advance passes their deadline.
class FakeClock final : public Clock {
 public:
  FakeClock();
  [[nodiscard]] TimePoint Now() const override;
  [[nodiscard]] std::chrono::system_clock::time_point WallNow() const override;
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) override;

  // Moves time forward and wakes every waiter.
  void Advance(Duration by);
  // How many threads are blocked in WaitUntil: lets a test wait until a worker is parked.
  [[nodiscard]] int Waiters() const;

 private:
  struct Waiter {
    std::condition_variable* cv;
    std::mutex* mutex;
  };
  mutable std::mutex mu_;
  Duration elapsed_{};
  std::vector<Waiter> waiters_;
};

}  // namespace botsec::core

#endif  // BOTSEC_CORE_CLOCK_H_
