#include "botsec/kube/rate_limiter.h"

#include <chrono>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"

namespace botsec::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ItemExponentialFailureRateLimiterTest, DoublesPerFailureUpToTheCap) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(5), seconds(1000));
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
  EXPECT_EQ(limiter.When("a"), milliseconds(10));
  EXPECT_EQ(limiter.When("a"), milliseconds(20));
  EXPECT_EQ(limiter.When("b"), milliseconds(5)) << "failures are counted per key";
  EXPECT_EQ(limiter.NumRequeues("a"), 3);
  for (int i = 0; i < 200; ++i) {
    (void)limiter.When("a");  // far past 2^63: must saturate, not overflow
  }
  EXPECT_EQ(limiter.When("a"), seconds(1000));
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
}

TEST(ItemExponentialFailureRateLimiterTest, ReachesTheCapExactly) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(5), seconds(1000));
  // 5 ms * 2^17 = 655 s < 1000 s < 5 ms * 2^18.
  for (int i = 0; i < 18; ++i) {
    (void)limiter.When("k");
  }
  EXPECT_EQ(limiter.When("k"), seconds(1000));
}

TEST(BucketRateLimiterTest, AllowsTheBurstThenPacesAtQps) {
  core::FakeClock clock;
  BucketRateLimiter limiter(clock, /*qps=*/10, /*burst=*/3);
  EXPECT_EQ(limiter.When("x"), Duration::zero());
  EXPECT_EQ(limiter.When("y"), Duration::zero());
  EXPECT_EQ(limiter.When("z"), Duration::zero());
  // The bucket is empty: each further token is 100 ms further away.
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter.When("x")), milliseconds(100));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter.When("x")), milliseconds(200));
  clock.Advance(seconds(10));  // refills, but never beyond the burst
  EXPECT_EQ(limiter.When("x"), Duration::zero());
  EXPECT_EQ(limiter.When("x"), Duration::zero());
  EXPECT_EQ(limiter.When("x"), Duration::zero());
  EXPECT_GT(limiter.When("x"), Duration::zero());
}

TEST(MaxOfRateLimiterTest, ControllerDefaultTakesTheLongerDelay) {
  core::FakeClock clock;
  auto limiter = NewControllerRateLimiter(clock, ControllerRateLimiterOptions{});
  // The first 100 calls are inside the burst, so backoff of "a" alone decides.
  EXPECT_EQ(limiter->When("a"), milliseconds(5));
  EXPECT_EQ(limiter->When("a"), milliseconds(10));
  for (int i = 0; i < 98; ++i) {
    (void)limiter->When("k" + std::to_string(i));
  }
  // The bucket is now empty: a fresh key waits for a token (100 ms) rather than 5 ms.
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter->When("fresh")), milliseconds(100));
  EXPECT_EQ(limiter->NumRequeues("a"), 2);
  limiter->Forget("a");
  EXPECT_EQ(limiter->NumRequeues("a"), 0);
}

}  // namespace
}  // namespace botsec::kube
