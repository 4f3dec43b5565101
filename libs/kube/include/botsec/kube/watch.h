// Watching a collection: decoding watch events, one watch request, and the Reflector, which
// keeps a consumer level with the server across stream ends, dropped connections and 410 Gone.
#ifndef BOTSEC_KUBE_WATCH_H_
#define BOTSEC_KUBE_WATCH_H_

#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/clock.h"
#include "botsec/core/result.h"
#include "botsec/kube/client.h"
#include "botsec/kube/rate_limiter.h"
#include "botsec/kube/resource.h"

namespace botsec::kube {

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  EventType type = EventType::kError;
  Json object;  // the object, or for kError the metav1.Status
};

// Decodes one line of a watch stream: `{"type":"ADDED","object":{...}}`. Fails (kInternal) on
// anything else, naming what is wrong.
core::Result<WatchEvent> DecodeWatchEvent(std::string_view line);

// The resourceVersion of an object, or "" when it has none.
std::string ResourceVersionOf(const Json& object);

// What a Reflector reports to its consumer. Called on the Reflector's thread.
struct ReflectorHandlers {
  // After every (re)list: the complete current state, replacing whatever came before.
  std::function<void(std::vector<Json> items, const std::string& resource_version)> replace;
  // Optional. When set, a relist hands over each page as it arrives (`first` starts a new
  // relist: drop what an unfinished one staged), and `replace` then gets no items: the consumer
  // assembles the state itself, so the whole list is never held as JSON at once.
  std::function<void(std::vector<Json> page, bool first)> list_page;
  // Each change after that: kAdded, kModified or kDeleted, in order, never twice.
  std::function<void(const WatchEvent& event)> event;
};

struct ReflectorOptions {
  ListOptions selectors;            // label and field selectors for list and watch
  int watch_timeout_seconds = 300;  // the server ends each watch after this long
  Duration min_backoff = std::chrono::milliseconds(800);
  Duration max_backoff = std::chrono::seconds(30);
};

// List, then watch from the list's resourceVersion; on a stream end resume from the last version
// seen (bookmarks included); on 410 Gone, whether an HTTP 410 or an ERROR event, list again.
// Failures back off exponentially, never sooner than a Retry-After the server sent; a watch that
// ends at once without progress counts as one.
//
// Thread-safety: Run occupies the calling thread; last_resource_version may be read from any.
class Reflector {
 public:
  Reflector(const Client& client, Resource resource, std::string ns, ReflectorHandlers handlers,
            core::Clock& clock, ReflectorOptions options = {});

  // Runs until `stop` is requested.
  void Run(const std::stop_token& stop);

  [[nodiscard]] std::string last_resource_version() const;
  // How many times it listed (1 + relists): for tests and metrics.
  [[nodiscard]] int lists() const;

 private:
  core::Result<std::string> ListAndReplace();
  // Watches from `rv`; returns the last version seen, or the error that ended the watch.
  core::Result<std::string> WatchFrom(const std::string& rv, const std::stop_token& stop,
                                      bool& progressed);
  void Remember(const std::string& rv);

  const Client& client_;
  Resource resource_;
  std::string ns_;
  ReflectorHandlers handlers_;
  core::Clock& clock_;
  ReflectorOptions options_;
  mutable std::mutex mu_;
  std::string last_rv_;
  int lists_ = 0;
};

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_WATCH_H_
