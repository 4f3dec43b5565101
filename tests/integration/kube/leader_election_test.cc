// Leader election between two processes on the real control plane's Lease: a clean release
// hands over within one retry period, a holder killed with -9 is replaced within the lease
// duration plus one retry period, and the two never lead at once.
#include "botsec/kube/leader_election.h"

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/cluster.h"
#include "support/command.h"
#include "support/kube_test.h"

namespace botsec::kube {
namespace {

using std::chrono::milliseconds;

// Short timings keep the test quick; the bounds asserted are stated in terms of them.
constexpr milliseconds kLease{4000};
constexpr milliseconds kDeadline{2500};
constexpr milliseconds kRetry{1000};
constexpr milliseconds kRetryWithJitter{1200};
// Process start-up, one request's round trip and the polling of the output files.
constexpr milliseconds kSlack{500};

long long WallMillis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One lease_holder process, its standard output in a file.
class Candidate {
 public:
  Candidate(const std::string& kubeconfig, const std::string& ns, const std::string& identity,
            const std::string& out_dir)
      : output_(out_dir + "/" + identity + ".out"),
        process_({LEASE_HOLDER_PATH, "--kubeconfig=" + kubeconfig, "--namespace=" + ns,
                  "--name=it-lease", "--identity=" + identity,
                  "--lease-duration-ms=" + std::to_string(kLease.count()),
                  "--renew-deadline-ms=" + std::to_string(kDeadline.count()),
                  "--retry-period-ms=" + std::to_string(kRetry.count())},
                 output_) {}

  [[nodiscard]] bool started() const { return process_.started(); }
  void Signal(int signal) const { process_.Signal(signal); }
  // Waits for the process to end; its exit status.
  int Wait() { return process_.Wait(); }

  // The time printed after `word` ("leading", "stopped"), once it appears within `limit`.
  std::optional<long long> WaitFor(const std::string& word, milliseconds limit) const {
    auto until = std::chrono::steady_clock::now() + limit;
    do {
      std::ifstream in(output_);
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string first;
        long long at = 0;
        if (fields >> first && first == word && fields >> at) {
          return at;
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    } while (std::chrono::steady_clock::now() < until);
    return std::nullopt;
  }

  [[nodiscard]] std::string Log() const {
    std::ifstream out(output_);
    std::ifstream err(output_ + ".err");
    std::stringstream all;
    all << out.rdbuf() << err.rdbuf();
    return all.str();
  }

 private:
  std::string output_;
  testing::BackgroundProcess process_;
};

class LeaderElectionIntegrationTest : public testing::KubeTest {
 protected:
  LeaderElectionIntegrationTest() : KubeTest("it-lease") {}

  void SetUp() override {
    KubeTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    std::string pattern = "/tmp/botsec-lease-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    out_dir_ = pattern;
  }

  Json Lease() {
    auto lease = client_->Get(resources::Leases(), ns_, "it-lease");
    EXPECT_TRUE(lease) << lease.error().message;
    return lease ? *lease : Json();
  }

  std::string out_dir_;
};

TEST_F(LeaderElectionIntegrationTest, CleanReleaseHandsOverWithinOneRetryPeriod) {
  Candidate a(cluster_->kubeconfig(), ns_, "a", out_dir_);
  ASSERT_TRUE(a.started());
  ASSERT_TRUE(a.WaitFor("leading", milliseconds(10000))) << a.Log();
  Candidate b(cluster_->kubeconfig(), ns_, "b", out_dir_);
  ASSERT_TRUE(b.started());
  // While a renews, b waits however long it watches: longer than a lease duration here.
  EXPECT_FALSE(b.WaitFor("leading", kLease + kRetryWithJitter)) << b.Log();
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "a");

  a.Signal(SIGTERM);
  int status = a.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << a.Log();
  auto a_stopped = a.WaitFor("stopped", milliseconds(0));
  ASSERT_TRUE(a_stopped) << a.Log();
  EXPECT_NE(a.Log().find("Released the lease"), std::string::npos) << a.Log();
  auto b_leading = b.WaitFor("leading", milliseconds(10000));
  ASSERT_TRUE(b_leading) << b.Log();
  long long handover = *b_leading - *a_stopped;
  std::cout << "clean release: b leads " << handover << " ms after a stopped (retry period "
            << kRetry.count() << " ms)\n";
  EXPECT_GE(handover, 0) << "b led before a had stopped";
  EXPECT_LE(handover, (kRetryWithJitter + kSlack).count());
  Json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionIntegrationTest, KilledHolderIsReplacedWithinLeaseDurationPlusOneRetry) {
  Candidate a(cluster_->kubeconfig(), ns_, "a", out_dir_);
  ASSERT_TRUE(a.started());
  ASSERT_TRUE(a.WaitFor("leading", milliseconds(10000))) << a.Log();
  Candidate b(cluster_->kubeconfig(), ns_, "b", out_dir_);
  ASSERT_TRUE(b.started());
  std::this_thread::sleep_for(kRetryWithJitter * 2);  // b has read the Lease a few times
  EXPECT_FALSE(b.WaitFor("leading", milliseconds(0)));

  long long killed_at = WallMillis();
  a.Signal(SIGKILL);
  a.Wait();
  auto b_leading = b.WaitFor("leading", milliseconds(15000));
  ASSERT_TRUE(b_leading) << b.Log();
  long long handover = *b_leading - killed_at;
  std::cout << "kill -9: b leads " << handover << " ms after a was killed (lease " << kLease.count()
            << " ms + retry " << kRetry.count() << " ms)\n";
  EXPECT_GT(handover, 0);
  EXPECT_LE(handover, (kLease + kRetryWithJitter + kSlack).count());
  Json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_NE(lease["spec"]["acquireTime"], "");
}

}  // namespace
}  // namespace botsec::kube
