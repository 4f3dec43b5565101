#include "botsec/core/clock.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

using std::chrono::seconds;

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  Clock::TimePoint start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(seconds(3));
  EXPECT_EQ(clock.Now() - start, seconds(3));
  EXPECT_EQ(clock.WallNow().time_since_epoch(), seconds(1767225600 + 3));
}

TEST(FakeClockTest, WaitUntilReturnsWhenAdvancedPastTheDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool woke = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    Clock::TimePoint deadline = clock.Now() + seconds(10);
    while (clock.Now() < deadline) {
      clock.WaitUntil(cv, lock, deadline);
    }
    woke = true;
  });
  while (clock.Waiters() == 0) {
    std::this_thread::yield();
  }
  clock.Advance(seconds(9));
  while (clock.Waiters() == 0) {
    std::this_thread::yield();
  }
  {
    std::lock_guard<std::mutex> guard(mu);
    EXPECT_FALSE(woke);
  }
  clock.Advance(seconds(1));
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST(FakeClockTest, WaitUntilAPastDeadlineDoesNotBlock) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  clock.WaitUntil(cv, lock, clock.Now());
  EXPECT_EQ(clock.Waiters(), 0);
}

}  // namespace
}  // namespace botsec::core
