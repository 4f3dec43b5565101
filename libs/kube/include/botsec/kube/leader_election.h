// Leader election on a coordination.k8s.io/v1 Lease, so that of several replicas of the operator
// exactly one acts at a time.
//
// The rules, like client-go's: a candidate may take the Lease when nobody holds it, or when its
// record has not changed for leaseDurationSeconds as measured on the candidate's own monotonic
// clock (clocks of different machines are never compared). The leader renews every retry period
// and stops acting when it has not renewed for the renew deadline, which is shorter than the
// lease duration by more than a retry period: it has stopped before anyone can take its place.
// On a clean shutdown the leader releases the Lease and a candidate takes it at its next try.
//
// One refinement over client-go: a candidate counts the lease duration from the start of its last
// read that still showed the previous record, the latest moment it knows the holder had not yet
// renewed, not from the read that showed the change. The leader's renew deadline is counted from
// the start of its last successful write. So a holder killed with -9 is replaced within the lease
// duration plus one retry period, and the leader still always stops first (see Validate).
#ifndef BOTSEC_KUBE_LEADER_ELECTION_H_
#define BOTSEC_KUBE_LEADER_ELECTION_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "botsec/core/clock.h"
#include "botsec/core/result.h"
#include "botsec/kube/client.h"

namespace botsec::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per replica: the pod name, or host name and pid
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // Each try waits between retry_period and retry_period * (1 + jitter).
  double jitter = 0.2;
};

// Checks names and timings: lease_duration > renew_deadline + retry_period * (1 + jitter) (the
// margin that makes the leader stop first), renew_deadline > retry_period * (1 + jitter), and
// whole seconds for lease_duration (a Lease stores seconds). Errors name the field.
core::Result<void> Validate(const LeaderElectionConfig& config);

// What a Lease says, as far as election cares.
struct LeaseRecord {
  std::string holder;
  int lease_duration_seconds = 0;
  std::string acquire_time;  // RFC 3339 with microseconds, as the API writes MicroTime
  std::string renew_time;
  int transitions = 0;
  std::string resource_version;

  // Equal in everything but resource_version.
  [[nodiscard]] bool SameAs(const LeaseRecord& other) const;
};

// Reads a Lease object; fields it lacks stay empty.
LeaseRecord ParseLease(const Json& lease);

// "2026-12-04T19:00:00.123456Z".
std::string FormatMicroTime(std::chrono::system_clock::time_point time);

// A candidate's memory of the Lease between tries.
struct LeaseObservation {
  std::optional<LeaseRecord> record;  // the record last read; nullopt before the first read
  // The holder has not renewed since this moment: the start of the last read that still showed
  // the previous record, but never earlier than the end of the read that showed the change less
  // (lease duration - renew deadline), which keeps the leader stopping first however slow the
  // reads were. Before a change has been seen, the end of the first read.
  core::Clock::TimePoint unchanged_since{};
  core::Clock::TimePoint last_read_started{};
};

// Folds one read, started at `started` and answered at `finished`, into what the candidate knows.
LeaseObservation Observe(const LeaseObservation& before, const LeaseRecord& read,
                         core::Clock::TimePoint started, core::Clock::TimePoint finished,
                         const LeaderElectionConfig& config);

enum class LeaseAction {
  kWait,    // someone else holds a live lease
  kCreate,  // there is no Lease: create it, holding it
  kUpdate,  // write `lease` with the read resourceVersion as precondition
};

struct LeaseDecision {
  LeaseAction action = LeaseAction::kWait;
  Json lease;  // the object to create or write
};

// Decides one try: `current` is the Lease as read (nullopt when it does not exist), `observed`
// what the candidate knows of it, `now` and `wall_now` the monotonic and wall time of the try.
// Pure.
LeaseDecision DecideLease(const std::optional<Json>& current, const LeaseObservation& observed,
                          const LeaderElectionConfig& config, core::Clock::TimePoint now,
                          std::chrono::system_clock::time_point wall_now);

// The Lease written on release: no holder, so the next candidate need not wait.
Json ReleasedLease(const Json& current, std::chrono::system_clock::time_point wall_now);

struct LeaderCallbacks {
  // Runs on a thread of the elector's while this replica leads; must return soon after `stop` is
  // requested (leadership lost or shutdown).
  std::function<void(std::stop_token stop)> on_started_leading;
  // Called once the leading work has returned.
  std::function<void()> on_stopped_leading;
  // Called when a different holder is seen (may be empty: released).
  std::function<void(const std::string& identity)> on_new_leader;
};

enum class ElectionEnd {
  kStopped,  // `stop` was requested; the Lease was released if held
  kLost,     // leadership was lost: the caller should exit and start over
};

// Thread-safety: Run occupies the calling thread; IsLeader and Leader may be read from any.
class LeaseElector {
 public:
  // `config` must pass Validate.
  LeaseElector(Client client, LeaderElectionConfig config, core::Clock& clock);

  // Campaigns until leading, leads (renewing) until `stop` or loss. See ElectionEnd.
  ElectionEnd Run(const std::stop_token& stop, const LeaderCallbacks& callbacks);

  [[nodiscard]] bool IsLeader() const;
  // The holder last seen.
  [[nodiscard]] std::string Leader() const;

 private:
  // One try to acquire or renew, each request bounded by `timeout`. Returns true when this
  // replica holds the Lease afterwards.
  bool TryAcquireOrRenew(std::chrono::milliseconds timeout, const LeaderCallbacks& callbacks);
  // Renews every retry period until `stop`, publishing each success in last_renew_.
  void RenewLoop(const std::stop_token& stop, const LeaderCallbacks& callbacks);
  // Waits about a retry period; false when stopped.
  bool WaitRetry(const std::stop_token& stop);
  [[nodiscard]] core::Clock::Duration Jittered();
  void Release();
  void SetLeader(const std::string& holder, const LeaderCallbacks& callbacks);

  Client client_;
  LeaderElectionConfig config_;
  core::Clock& clock_;
  // Touched only by the thread that tries (Run's, then the renewer's; never both at once).
  LeaseObservation observed_;
  std::optional<Json> last_lease_;  // as last read or written
  std::uint64_t jitter_state_;

  mutable std::mutex mu_;
  std::condition_variable renewed_;
  core::Clock::TimePoint last_renew_{};  // start of the last successful write
  bool leading_ = false;
  std::string leader_;
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_LEADER_ELECTION_H_
