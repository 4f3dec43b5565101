#include "botsec/kube/work_queue.h"

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"
#include "botsec/kube/rate_limiter.h"

namespace botsec::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkQueueTest : public ::testing::Test {
 protected:
  // Waits (in real time, bounded) until a worker thread is parked on the fake clock.
  void AwaitParkedWorkers(int n) {
    for (int i = 0; i < 5000 && clock_.Waiters() < n; ++i) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    ASSERT_GE(clock_.Waiters(), n);
  }

  core::FakeClock clock_;
  WorkQueue queue_{clock_, NewControllerRateLimiter(clock_, ControllerRateLimiterOptions{})};
};

TEST_F(WorkQueueTest, HandsOutKeysInOrderAndMergesDuplicates) {
  queue_.Add("a");
  queue_.Add("b");
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 2U);
  EXPECT_EQ(queue_.Get(), "a");
  EXPECT_EQ(queue_.Get(), "b");
  EXPECT_EQ(queue_.Len(), 0U);
}

// Records what the queue reports, as the workqueue_* metrics would.
struct RecordingObserver final : WorkQueueObserver {
  void Added() override { ++added; }
  void Started(Duration queued) override { queued_for.push_back(queued); }
  void Finished(Duration worked) override { worked_for.push_back(worked); }
  void Retried() override { ++retried; }
  int added = 0;
  int retried = 0;
  std::vector<Duration> queued_for;
  std::vector<Duration> worked_for;
};

TEST_F(WorkQueueTest, ReportsAddsWaitsWorkAndRetriesToItsObserver) {
  RecordingObserver observer;
  queue_.SetObserver(&observer);
  queue_.Add("a");
  queue_.Add("a");  // merged: not counted
  clock_.Advance(seconds(3));
  ASSERT_EQ(queue_.Get(), "a");
  clock_.Advance(seconds(2));
  queue_.Done("a");
  queue_.AddRateLimited("b");
  EXPECT_EQ(observer.added, 1);
  EXPECT_EQ(observer.retried, 1);
  EXPECT_EQ(observer.queued_for, std::vector<Duration>{seconds(3)});
  EXPECT_EQ(observer.worked_for, std::vector<Duration>{seconds(2)});
  queue_.SetObserver(nullptr);
}

TEST_F(WorkQueueTest, AKeyAddedWhileInProcessWaitsForDone) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get(), "a");
  queue_.Add("a");
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 0U) << "a second worker must not get a key that is in process";
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 1U) << "the adds made while in process merge into one";
  EXPECT_EQ(queue_.Get(), "a");
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 0U);
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClockAndKeepsTheEarliestTime) {
  queue_.AddAfter("a", seconds(10));
  queue_.AddAfter("a", seconds(5));
  queue_.AddAfter("a", seconds(30));
  EXPECT_EQ(queue_.Len(), 0U);
  EXPECT_EQ(queue_.Delayed(), 1U);

  std::optional<std::string> got;
  std::thread worker([&] { got = queue_.Get(); });
  AwaitParkedWorkers(1);
  clock_.Advance(seconds(4));
  AwaitParkedWorkers(1);
  EXPECT_FALSE(got.has_value()) << "ready only after 5 s";
  clock_.Advance(seconds(1));
  worker.join();
  EXPECT_EQ(got, "a");
  EXPECT_EQ(queue_.Delayed(), 0U);
}

TEST_F(WorkQueueTest, RateLimitedAddsBackOffExponentiallyUntilForgotten) {
  queue_.AddRateLimited("a");  // 5 ms
  EXPECT_EQ(queue_.Len(), 0U);
  clock_.Advance(milliseconds(5));
  ASSERT_EQ(queue_.Get(), "a");
  queue_.Done("a");
  queue_.AddRateLimited("a");  // 10 ms
  clock_.Advance(milliseconds(9));
  EXPECT_EQ(queue_.NumRequeues("a"), 2);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue_.Get(); });
  AwaitParkedWorkers(1);
  EXPECT_FALSE(got.has_value());
  clock_.Advance(milliseconds(1));
  worker.join();
  EXPECT_EQ(got, "a");
  queue_.Forget("a");
  EXPECT_EQ(queue_.NumRequeues("a"), 0);
}

TEST_F(WorkQueueTest, ShutDownWakesEveryWorkerAndIgnoresLaterAdds) {
  std::atomic<int> stopped{0};
  std::vector<std::thread> workers;
  workers.reserve(3);
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!queue_.Get().has_value()) {
        ++stopped;
      }
    });
  }
  AwaitParkedWorkers(3);
  queue_.ShutDown();
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(stopped, 3);
  queue_.Add("late");
  EXPECT_EQ(queue_.Len(), 0U);
  EXPECT_FALSE(queue_.Get().has_value());
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForKeysInProcess) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get(), "a");
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    queue_.ShutDownWithDrain();
    drained = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(drained) << "must wait for the key in process";
  queue_.Done("a");
  stopper.join();
  EXPECT_TRUE(drained);
}

TEST_F(WorkQueueTest, NoKeyIsEverHeldByTwoWorkersAtOnce) {
  // Four workers hammer five keys that are re-added constantly; each key's holder count must
  // never exceed one, and every key must be processed after its last add.
  constexpr int kKeys = 5;
  std::array<std::atomic<int>, kKeys> holders{};
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue_.Get()) {
        int k = std::stoi(*key);
        if (holders.at(k).fetch_add(1) != 0) {
          overlap = true;
        }
        std::this_thread::yield();
        holders.at(k).fetch_sub(1);
        ++processed;
        queue_.Done(*key);
      }
    });
  }
  for (int i = 0; i < 20000; ++i) {
    queue_.Add(std::to_string(i % kKeys));
  }
  for (int i = 0; i < 5000 && (queue_.Len() > 0); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  queue_.ShutDownWithDrain();
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_FALSE(overlap);
  EXPECT_GE(processed, kKeys);
  EXPECT_LE(processed, 20000);
}

}  // namespace
}  // namespace botsec::kube
