// How long to wait before a key is retried, with client-go's semantics
// (k8s.io/client-go/util/workqueue/default_rate_limiters.go): a per-key exponential backoff, a
// global token bucket, and the larger of the two.
//
// Thread-safety: none; WorkQueue calls these under its own lock.
#ifndef BOTSEC_KUBE_RATE_LIMITER_H_
#define BOTSEC_KUBE_RATE_LIMITER_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "botsec/core/clock.h"

namespace botsec::kube {

using Duration = core::Clock::Duration;

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before `key` may be processed again; counts as one more failure of `key`.
  virtual Duration When(const std::string& key) = 0;
  // Forgets the failures of `key` (it succeeded).
  virtual void Forget(const std::string& key) = 0;
  // How many times When was called for `key` since it was last forgotten.
  [[nodiscard]] virtual int NumRequeues(const std::string& key) const = 0;
};

// base * 2^failures, capped at `max_delay`.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(Duration base_delay, Duration max_delay);
  Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  [[nodiscard]] int NumRequeues(const std::string& key) const override;

 private:
  Duration base_delay_;
  Duration max_delay_;
  std::map<std::string, int, std::less<>> failures_;
};

// A token bucket shared by all keys: `qps` tokens a second, at most `burst` saved up. Each When
// takes a token, waiting for it if none is left.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(const core::Clock& clock, double qps, int burst);
  Duration When(const std::string& key) override;
  void Forget(const std::string& /*key*/) override {}
  [[nodiscard]] int NumRequeues(const std::string& /*key*/) const override { return 0; }

 private:
  const core::Clock& clock_;
  double qps_;
  double burst_;
  double tokens_;
  core::Clock::TimePoint last_;
};

// The longest delay of several limiters; failures count in each.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  [[nodiscard]] int NumRequeues(const std::string& key) const override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

struct ControllerRateLimiterOptions {
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
  double qps = 10;
  int burst = 100;
};

// client-go's DefaultControllerRateLimiter: per-key 5 ms .. 1000 s, and 10 qps with a burst of 100.
std::unique_ptr<RateLimiter> NewControllerRateLimiter(const core::Clock& clock,
                                                      const ControllerRateLimiterOptions& options);

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_RATE_LIMITER_H_
