#include "botsec/kube/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace botsec::kube {

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(Duration base_delay,
                                                                     Duration max_delay)
    : base_delay_(base_delay), max_delay_(max_delay) {}

Duration ItemExponentialFailureRateLimiter::When(const std::string& key) {
  int exponent = failures_[key]++;
  // Double step by step and stop at the cap: no overflow however many failures there were.
  Duration delay = base_delay_;
  for (int i = 0; i < exponent && delay < max_delay_; ++i) {
    delay = delay > max_delay_ / 2 ? max_delay_ : delay * 2;
  }
  return std::min(delay, max_delay_);
}

void ItemExponentialFailureRateLimiter::Forget(const std::string& key) { failures_.erase(key); }

int ItemExponentialFailureRateLimiter::NumRequeues(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(const core::Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(static_cast<double>(burst)),
      tokens_(static_cast<double>(burst)),
      last_(clock.Now()) {}

Duration BucketRateLimiter::When(const std::string& /*key*/) {
  core::Clock::TimePoint now = clock_.Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  // Reserve a token now; a negative balance is the wait until it exists (golang.org/x/time/rate).
  tokens_ -= 1;
  if (tokens_ >= 0) {
    return Duration::zero();
  }
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

Duration MaxOfRateLimiter::When(const std::string& key) {
  Duration longest = Duration::zero();
  for (auto& limiter : limiters_) {
    longest = std::max(longest, limiter->When(key));
  }
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& key) {
  for (auto& limiter : limiters_) {
    limiter->Forget(key);
  }
}

int MaxOfRateLimiter::NumRequeues(const std::string& key) const {
  int most = 0;
  for (const auto& limiter : limiters_) {
    most = std::max(most, limiter->NumRequeues(key));
  }
  return most;
}

std::unique_ptr<RateLimiter> NewControllerRateLimiter(const core::Clock& clock,
                                                      const ControllerRateLimiterOptions& options) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(
      std::make_unique<ItemExponentialFailureRateLimiter>(options.base_delay, options.max_delay));
  limiters.push_back(std::make_unique<BucketRateLimiter>(clock, options.qps, options.burst));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

}  // namespace botsec::kube
