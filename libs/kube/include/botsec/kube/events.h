// Kubernetes Events (core/v1) about the objects a controller manages, aggregated so that a hot
// loop cannot flood the API server, in the manner of client-go's EventCorrelator:
//  - a repeat of the same event (object, type, reason, message) within the window updates one
//    Event's count and lastTimestamp instead of creating another;
//  - when an object collects `similar_threshold` distinct messages for one type and reason
//    within the window, further ones fold into a single "(combined from similar events)" Event;
//  - each object has a token bucket (burst 25, one token per 5 minutes by default); events
//    beyond it are dropped and counted.
// Event names are derived from what the event says, so a restarted recorder finds its own Event
// again (AlreadyExists) and counts on from the server's count.
//
// EventCorrelator is pure (time passed in) and not thread-safe. EventRecorder is thread-safe:
// Record never blocks on the network; one thread of its own writes, in order.
#ifndef BOTSEC_KUBE_EVENTS_H_
#define BOTSEC_KUBE_EVENTS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>

#include "botsec/core/clock.h"
#include "botsec/kube/client.h"

namespace botsec::kube {

// What an Event points at (involvedObject).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string ns;
  std::string name;
  std::string uid;

  // From an object's apiVersion, kind and metadata.
  static ObjectReference Of(const Json& object);
  [[nodiscard]] Json ToJson() const;
};

enum class EventKind { kNormal, kWarning };

struct EventRecord {
  ObjectReference object;
  EventKind kind = EventKind::kNormal;
  std::string reason;   // UpperCamelCase, e.g. "Reconciled"
  std::string message;  // one sentence for humans
};

struct EventCorrelatorOptions {
  std::string component;  // source.component and reportingComponent, e.g. "botsec-operator"
  std::string instance;   // reportingInstance, e.g. the pod name
  std::chrono::seconds window{600};
  int similar_threshold = 10;
  int burst = 25;
  std::chrono::seconds refill{300};  // one token back per this long
  std::size_t max_tracked = 4096;    // entries kept before old ones are forgotten
};

enum class EventAction {
  kCreate,  // create `event`
  kUpdate,  // a repeat: merge-patch `patch` onto the Event `name` in `ns`
  kDrop,    // over the object's budget
};

struct EventDecision {
  EventAction action = EventAction::kDrop;
  std::string ns;
  std::string name;
  Json event;  // kCreate: the whole Event
  Json patch;  // kUpdate: {"count": n, "lastTimestamp": ..., "message": ...}
};

class EventCorrelator {
 public:
  explicit EventCorrelator(EventCorrelatorOptions options);

  // Decides what to write for `record` at `now` (monotonic, for windows and buckets) and `wall`
  // (for timestamps), and remembers it.
  EventDecision Correlate(const EventRecord& record, core::Clock::TimePoint now,
                          std::chrono::system_clock::time_point wall);
  // Learns the server's count for an Event that already existed when created (a restart).
  void Adopt(const std::string& name, int count, const std::string& first_timestamp);

 private:
  struct Seen {
    std::string name;
    int count = 0;
    std::string first_timestamp;
    core::Clock::TimePoint last{};
  };
  struct Similar {
    std::unordered_map<std::string, core::Clock::TimePoint> messages;
  };
  struct Bucket {
    double tokens = 0;
    core::Clock::TimePoint last{};
  };
  bool TakeToken(const std::string& object_key, core::Clock::TimePoint now);
  void Forget(core::Clock::TimePoint now);

  EventCorrelatorOptions options_;
  std::unordered_map<std::string, Seen> seen_;        // dedupe key -> Event
  std::unordered_map<std::string, Similar> similar_;  // object+type+reason -> messages
  std::unordered_map<std::string, Bucket> buckets_;   // object -> tokens
};

class EventRecorder {
 public:
  // `queue_limit` events may wait to be written; more are dropped (and counted).
  EventRecorder(Client client, EventCorrelatorOptions options, core::Clock& clock,
                std::size_t queue_limit = 1000);
  // Writes what is queued, then stops.
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an event about `object` (a full object, or anything with apiVersion, kind, metadata).
  void Record(const Json& object, EventKind kind, std::string reason, std::string message);

  // Blocks until everything queued so far has been written or dropped.
  void Flush();
  // Events written to the API (creates and updates), and dropped (budget, full queue, errors).
  [[nodiscard]] std::uint64_t written() const;
  [[nodiscard]] std::uint64_t dropped() const;

 private:
  void Loop(const std::stop_token& stop);
  void Write(const EventRecord& record);

  Client client_;
  core::Clock& clock_;
  EventCorrelator correlator_;  // used by the writer thread only
  std::size_t queue_limit_;

  mutable std::mutex mu_;
  std::condition_variable_any changed_;
  std::deque<EventRecord> queue_;
  bool busy_ = false;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;
  std::jthread writer_;  // last: started after everything it uses
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_EVENTS_H_
