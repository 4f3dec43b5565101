#include "botsec/kube/leader_election.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

#include "botsec/core/result.h"
#include "botsec/kube/resource.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;
using core::Fail;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string StringAt(const Json& object, const char* pointer) {
  const Json::json_pointer path(pointer);
  if (!object.contains(path) || !object[path].is_string()) {
    return "";
  }
  return object[path].get<std::string>();
}

int IntAt(const Json& object, const char* pointer) {
  const Json::json_pointer path(pointer);
  if (!object.contains(path) || !object[path].is_number_integer()) {
    return 0;
  }
  return object[path].get<int>();
}

milliseconds JitteredRetry(const LeaderElectionConfig& config) {
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(config.retry_period.count()) *
                                                (1.0 + config.jitter)));
}

void Log(const std::string& line) { std::clog << line << "\n" << std::flush; }

}  // namespace

core::Result<void> Validate(const LeaderElectionConfig& config) {
  if (config.lease_namespace.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "leader election: lease namespace: Required value");
  }
  if (config.lease_name.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "leader election: lease name: Required value");
  }
  if (config.identity.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "leader election: identity: Required value");
  }
  if (config.retry_period <= milliseconds(0) || config.jitter < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "leader election: retry period: Invalid value: must be positive");
  }
  if (config.lease_duration % seconds(1) != milliseconds(0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "leader election: lease duration: Invalid value: " +
                    std::to_string(config.lease_duration.count()) +
                    "ms: must be whole seconds (a Lease stores seconds)");
  }
  if (config.renew_deadline <= JitteredRetry(config)) {
    return Fail(ErrorCode::kInvalidArgument,
                "leader election: renew deadline: Invalid value: " +
                    std::to_string(config.renew_deadline.count()) +
                    "ms: must be longer than the retry period with jitter (" +
                    std::to_string(JitteredRetry(config).count()) + "ms)");
  }
  if (config.lease_duration <= config.renew_deadline + JitteredRetry(config)) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "leader election: lease duration: Invalid value: " +
            std::to_string(config.lease_duration.count()) +
            "ms: must be longer than the renew deadline plus the retry period with jitter (" +
            std::to_string((config.renew_deadline + JitteredRetry(config)).count()) +
            "ms), so that a leader stops before its lease can be taken");
  }
  return {};
}

bool LeaseRecord::SameAs(const LeaseRecord& other) const {
  return holder == other.holder && lease_duration_seconds == other.lease_duration_seconds &&
         acquire_time == other.acquire_time && renew_time == other.renew_time &&
         transitions == other.transitions;
}

LeaseRecord ParseLease(const Json& lease) {
  LeaseRecord record;
  record.holder = StringAt(lease, "/spec/holderIdentity");
  record.lease_duration_seconds = IntAt(lease, "/spec/leaseDurationSeconds");
  record.acquire_time = StringAt(lease, "/spec/acquireTime");
  record.renew_time = StringAt(lease, "/spec/renewTime");
  record.transitions = IntAt(lease, "/spec/leaseTransitions");
  record.resource_version = StringAt(lease, "/metadata/resourceVersion");
  return record;
}

std::string FormatMicroTime(std::chrono::system_clock::time_point time) {
  auto micros = duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  std::array<char, 40> buffer{};
  std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer.data() + n, buffer.size() - n, ".%06lldZ",
                static_cast<long long>(micros % 1000000));
  return buffer.data();
}

LeaseObservation Observe(const LeaseObservation& before, const LeaseRecord& read,
                         core::Clock::TimePoint started, core::Clock::TimePoint finished,
                         const LeaderElectionConfig& config) {
  LeaseObservation after = before;
  after.last_read_started = started;
  if (!before.record) {
    after.unchanged_since = finished;
  } else if (!read.SameAs(*before.record)) {
    // The write happened after the previous read was served, so after it started; and it was
    // served before this read answered. Trust the first bound only while the second cannot make
    // the leader outlive its lease (slow reads widen the window).
    core::Clock::TimePoint floor = finished - (config.lease_duration - config.renew_deadline);
    after.unchanged_since = std::max(before.last_read_started, floor);
  }
  after.record = read;
  return after;
}

LeaseDecision DecideLease(const std::optional<Json>& current, const LeaseObservation& observed,
                          const LeaderElectionConfig& config, core::Clock::TimePoint now,
                          std::chrono::system_clock::time_point wall_now) {
  const std::string stamp = FormatMicroTime(wall_now);
  const int duration_seconds =
      static_cast<int>(duration_cast<seconds>(config.lease_duration).count());
  if (!current) {
    return {.action = LeaseAction::kCreate,
            .lease = {
                {"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", config.lease_name}, {"namespace", config.lease_namespace}}},
                {"spec",
                 {{"holderIdentity", config.identity},
                  {"leaseDurationSeconds", duration_seconds},
                  {"acquireTime", stamp},
                  {"renewTime", stamp},
                  {"leaseTransitions", 0}}}}};
  }
  LeaseRecord record = ParseLease(*current);
  bool held_by_other = !record.holder.empty() && record.holder != config.identity;
  if (held_by_other && now < observed.unchanged_since + config.lease_duration) {
    return {.action = LeaseAction::kWait, .lease = {}};
  }
  Json lease = *current;
  Json& spec = lease["spec"];
  spec["holderIdentity"] = config.identity;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = stamp;
  if (record.holder != config.identity) {
    spec["acquireTime"] = stamp;
    spec["leaseTransitions"] = record.transitions + 1;
  }
  return {.action = LeaseAction::kUpdate, .lease = std::move(lease)};
}

Json ReleasedLease(const Json& current, std::chrono::system_clock::time_point wall_now) {
  Json lease = current;
  const std::string stamp = FormatMicroTime(wall_now);
  Json& spec = lease["spec"];
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["acquireTime"] = stamp;
  spec["renewTime"] = stamp;
  return lease;
}

LeaseElector::LeaseElector(Client client, LeaderElectionConfig config, core::Clock& clock)
    : client_(std::move(client)),
      config_(std::move(config)),
      clock_(clock),
      jitter_state_(std::hash<std::string>{}(config_.identity) ^
                    static_cast<std::uint64_t>(clock.WallNow().time_since_epoch().count())) {
  if (jitter_state_ == 0) {
    jitter_state_ = 0x9E3779B97F4A7C15ULL;
  }
}

bool LeaseElector::IsLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_;
}

std::string LeaseElector::Leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

void LeaseElector::SetLeader(const std::string& holder, const LeaderCallbacks& callbacks) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (holder == leader_) {
      return;
    }
    leader_ = holder;
  }
  Log("\"New leader observed\" lease=" + config_.lease_namespace + "/" + config_.lease_name +
      " holder=" + (holder.empty() ? "<none>" : holder));
  if (callbacks.on_new_leader) {
    callbacks.on_new_leader(holder);
  }
}

core::Clock::Duration LeaseElector::Jittered() {
  // xorshift64: jitter only spreads tries out, it needs no quality.
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  double fraction = static_cast<double>(jitter_state_ % 10000) / 10000.0;
  auto extra = static_cast<double>(config_.retry_period.count()) * config_.jitter * fraction;
  return config_.retry_period + milliseconds(static_cast<std::int64_t>(extra));
}

bool LeaseElector::WaitRetry(const std::stop_token& stop) {
  return clock_.SleepFor(Jittered(), stop);
}

bool LeaseElector::TryAcquireOrRenew(milliseconds timeout, const LeaderCallbacks& callbacks) {
  Client client = client_.WithTimeout(timeout);
  const core::Clock::TimePoint started = clock_.Now();
  auto read = client.Get(resources::Leases(), config_.lease_namespace, config_.lease_name);
  std::optional<Json> current;
  if (read) {
    current = *std::move(read);
    observed_ = Observe(observed_, ParseLease(*current), started, clock_.Now(), config_);
    SetLeader(observed_.record->holder, callbacks);
  } else if (read.error().code != ErrorCode::kNotFound) {
    Log("\"Reading the lease failed\" lease=" + config_.lease_namespace + "/" + config_.lease_name +
        " err=\"" + read.error().message + "\"");
    return false;
  }
  LeaseDecision decision = DecideLease(current, observed_, config_, clock_.Now(), clock_.WallNow());
  if (decision.action == LeaseAction::kWait) {
    return false;
  }
  const core::Clock::TimePoint write_started = clock_.Now();
  auto written = decision.action == LeaseAction::kCreate
                     ? client.Create(resources::Leases(), config_.lease_namespace, decision.lease)
                     : client.Update(resources::Leases(), config_.lease_namespace, decision.lease);
  if (!written) {
    // Conflict: someone else wrote first; the next try reads again.
    Log("\"Writing the lease failed\" lease=" + config_.lease_namespace + "/" + config_.lease_name +
        " err=\"" + written.error().message + "\"");
    return false;
  }
  observed_ = Observe(observed_, ParseLease(*written), write_started, clock_.Now(), config_);
  last_lease_ = *std::move(written);
  SetLeader(config_.identity, callbacks);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_renew_ = write_started;
  }
  renewed_.notify_all();
  return true;
}

void LeaseElector::RenewLoop(const std::stop_token& stop, const LeaderCallbacks& callbacks) {
  while (WaitRetry(stop)) {
    core::Clock::TimePoint deadline;
    {
      std::lock_guard<std::mutex> lock(mu_);
      deadline = last_renew_ + config_.renew_deadline;
    }
    // A try must end before the deadline; cpprestsdk applies the timeout per stage, so the leader
    // does not rely on it: Run stops the work at the deadline whatever this thread is doing.
    auto left = duration_cast<milliseconds>(deadline - clock_.Now());
    if (left <= milliseconds(0)) {
      return;
    }
    TryAcquireOrRenew(left, callbacks);
  }
}

void LeaseElector::Release() {
  if (!last_lease_) {
    return;
  }
  Client client = client_.WithTimeout(config_.renew_deadline);
  auto released = client.Update(resources::Leases(), config_.lease_namespace,
                                ReleasedLease(*last_lease_, clock_.WallNow()));
  if (released) {
    Log("\"Released the lease\" lease=" + config_.lease_namespace + "/" + config_.lease_name);
  } else {
    // Conflict: the Lease changed since our last renewal, so it is no longer ours to release.
    Log("\"Releasing the lease failed\" lease=" + config_.lease_namespace + "/" +
        config_.lease_name + " err=\"" + released.error().message + "\"");
  }
}

ElectionEnd LeaseElector::Run(const std::stop_token& stop, const LeaderCallbacks& callbacks) {
  Log("\"Attempting to acquire the lease\" lease=" + config_.lease_namespace + "/" +
      config_.lease_name + " identity=" + config_.identity);
  const milliseconds read_timeout = config_.renew_deadline / 2;
  while (!TryAcquireOrRenew(read_timeout, callbacks)) {
    if (!WaitRetry(stop)) {
      return ElectionEnd::kStopped;
    }
  }
  if (stop.stop_requested()) {
    Release();
    return ElectionEnd::kStopped;
  }
  Log("\"Acquired the lease\" lease=" + config_.lease_namespace + "/" + config_.lease_name +
      " identity=" + config_.identity);
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading_ = true;
  }
  std::stop_source work_stop;
  std::jthread work([&callbacks, token = work_stop.get_token()] {
    if (callbacks.on_started_leading) {
      callbacks.on_started_leading(token);
    }
  });
  std::jthread renewer(
      [this, &callbacks](const std::stop_token& renew_stop) { RenewLoop(renew_stop, callbacks); });

  // Lead until shutdown or until the renew deadline passes without a successful renewal.
  ElectionEnd end = ElectionEnd::kStopped;
  {
    // Registered before taking mu_: when stop is already requested the callback runs at once.
    std::stop_callback wake(stop, [this] {
      std::lock_guard<std::mutex> guard(mu_);
      renewed_.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop.stop_requested()) {
      core::Clock::TimePoint deadline = last_renew_ + config_.renew_deadline;
      if (clock_.Now() >= deadline) {
        end = ElectionEnd::kLost;
        break;
      }
      clock_.WaitUntil(renewed_, lock, deadline);
    }
    leading_ = false;
  }
  if (end == ElectionEnd::kLost) {
    Log("\"Leader election lost: the lease was not renewed within the renew deadline\" lease=" +
        config_.lease_namespace + "/" + config_.lease_name);
  }
  work_stop.request_stop();
  work.join();
  renewer.request_stop();
  renewer.join();
  if (callbacks.on_stopped_leading) {
    callbacks.on_stopped_leading();
  }
  if (end == ElectionEnd::kStopped) {
    Release();
  }
  return end;
}

}  // namespace botsec::kube
