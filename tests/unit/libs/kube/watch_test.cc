#include "botsec/kube/watch.h"

#include <deque>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/core/clock.h"

namespace botsec::kube {
namespace {

using core::ErrorCode;

TEST(DecodeWatchEventTest, DecodesEachType) {
  auto added =
      DecodeWatchEvent(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"7"}}})");
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->type, EventType::kAdded);
  EXPECT_EQ(ResourceVersionOf(added->object), "7");
  auto bookmark = DecodeWatchEvent(R"({"type":"BOOKMARK","object":{"metadata":{}}})");
  ASSERT_TRUE(bookmark);
  EXPECT_EQ(bookmark->type, EventType::kBookmark);
  EXPECT_EQ(ResourceVersionOf(bookmark->object), "");
  auto error = DecodeWatchEvent(R"({"type":"ERROR","object":{"kind":"Status","code":410}})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->type, EventType::kError);
}

TEST(DecodeWatchEventTest, RejectsMalformedLinesByName) {
  EXPECT_EQ(DecodeWatchEvent("{").error().message, "watch event: not a JSON object");
  EXPECT_EQ(DecodeWatchEvent(R"({"object":{}})").error().message,
            "watch event: type: Required value");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"RENAMED","object":{}})").error().message,
            "watch event: type: Unsupported value: \"RENAMED\"");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"ADDED","object":[]})").error().message,
            "watch event: object: Required value");
}

// Answers lists and watches from a script, recording each request path; when the script runs out
// it stops the reflector.
class ScriptedTransport final : public HttpTransport {
 public:
  struct Step {
    int status = 200;
    std::string body;                // for Send, or a non-2xx Stream answer
    std::vector<std::string> lines;  // for Stream
  };
  explicit ScriptedTransport(std::stop_source stop) : stop_(std::move(stop)) {}
  void Then(Step step) { steps_.push_back(std::move(step)); }

  core::Result<HttpResponse> Send(const HttpRequest& request) override {
    paths.push_back(request.path);
    return Next();
  }
  core::Result<HttpResponse> Stream(const HttpRequest& request,
                                    const std::function<bool(std::string_view)>& on_line,
                                    std::stop_token /*stop*/) override {
    paths.push_back(request.path);
    if (steps_.empty() || steps_.front().status != 200) {
      return Next();
    }
    Step step = steps_.front();
    steps_.pop_front();
    for (const std::string& line : step.lines) {
      if (!on_line(line)) {
        break;
      }
    }
    HttpResponse ok;
    ok.status = 200;
    return ok;
  }
  std::vector<std::string> paths;

 private:
  core::Result<HttpResponse> Next() {
    if (steps_.empty()) {
      stop_.request_stop();
      return core::Fail(ErrorCode::kUnavailable, "script finished");
    }
    Step step = steps_.front();
    steps_.pop_front();
    HttpResponse response;
    response.status = step.status;
    response.body = step.body;
    return response;
  }
  std::stop_source stop_;
  std::deque<Step> steps_;
};

std::string Cm(const std::string& name, const std::string& rv) {
  return R"({"metadata":{"name":")" + name + R"(","resourceVersion":")" + rv + R"("}})";
}

std::string Event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}";
}

TEST(ReflectorTest, ResumesFromTheLastVersionAndRelistsOnGone) {
  std::stop_source stop;
  auto transport = std::make_shared<ScriptedTransport>(stop);
  // 1: list at rv 10. 2: watch: one add and a bookmark, then the stream ends.
  // 3: resumed watch answers ERROR 410. 4: relist at rv 20. 5: watch: a delete.
  transport->Then(
      {.body = R"({"metadata":{"resourceVersion":"10"},"items":[)" + Cm("a", "9") + "]}"});
  transport->Then({.lines = {Event("ADDED", Cm("b", "11")),
                             Event("BOOKMARK", R"({"metadata":{"resourceVersion":"12"}})")}});
  transport->Then(
      {.lines = {Event("ERROR", R"({"kind":"Status","code":410,"reason":"Expired"})")}});
  transport->Then(
      {.body = R"({"metadata":{"resourceVersion":"20"},"items":[)" + Cm("b", "11") + "]}"});
  transport->Then({.lines = {Event("DELETED", Cm("b", "21"))}});

  Client client(transport);
  core::FakeClock clock;
  std::map<std::string, std::string> state;
  std::vector<std::string> log;
  ReflectorHandlers handlers{.replace =
                                 [&](const std::vector<Json>& items, const std::string& rv) {
                                   state.clear();
                                   for (const Json& item : items) {
                                     state[item["metadata"]["name"]] = ResourceVersionOf(item);
                                   }
                                   log.push_back("replace@" + rv);
                                 },
                             .event =
                                 [&](const WatchEvent& event) {
                                   std::string name = event.object["metadata"]["name"];
                                   if (event.type == EventType::kDeleted) {
                                     state.erase(name);
                                     log.push_back("delete " + name);
                                   } else {
                                     state[name] = ResourceVersionOf(event.object);
                                     log.push_back("upsert " + name);
                                   }
                                 }};
  Reflector reflector(client, resources::ConfigMaps(), "ns", handlers, clock);
  std::thread runner([&] { reflector.Run(stop.get_token()); });
  // Backoff sleeps run on the fake clock: keep it moving until the script is done.
  while (!stop.stop_requested()) {
    clock.Advance(std::chrono::seconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  runner.join();

  EXPECT_EQ(log, (std::vector<std::string>{"replace@10", "upsert b", "replace@20", "delete b"}));
  EXPECT_EQ(state, (std::map<std::string, std::string>{}));
  EXPECT_EQ(reflector.lists(), 2);
  ASSERT_GE(transport->paths.size(), 5U);
  EXPECT_EQ(transport->paths[0], "/api/v1/namespaces/ns/configmaps?limit=500");
  EXPECT_NE(transport->paths[1].find("watch=true&resourceVersion=10&"), std::string::npos);
  EXPECT_NE(transport->paths[2].find("resourceVersion=12&"), std::string::npos)
      << "resumes from the bookmark";
  EXPECT_EQ(transport->paths[3], "/api/v1/namespaces/ns/configmaps?limit=500")
      << "relists from scratch after 410";
  EXPECT_NE(transport->paths[4].find("resourceVersion=20&"), std::string::npos);
}

TEST(ReflectorTest, BacksOffWhenTheListFails) {
  std::stop_source stop;
  auto transport = std::make_shared<ScriptedTransport>(stop);
  transport->Then({.status = 500, .body = "boom"});
  transport->Then({.status = 500, .body = "boom"});
  transport->Then({.status = 500, .body = "boom"});
  Client client(transport);
  core::FakeClock clock;
  ReflectorHandlers handlers{.replace = [](const std::vector<Json>&, const std::string&) {},
                             .event = [](const WatchEvent&) {}};
  Reflector reflector(
      client, resources::ConfigMaps(), "ns", handlers, clock,
      {.min_backoff = std::chrono::seconds(1), .max_backoff = std::chrono::seconds(4)});
  std::thread runner([&] { reflector.Run(stop.get_token()); });
  // Without time passing, the second list must not happen: the reflector waits 1 s first.
  for (int i = 0; i < 200 && clock.Waiters() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(transport->paths.size(), 1U);
  while (!stop.stop_requested()) {
    clock.Advance(std::chrono::milliseconds(500));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  runner.join();
  EXPECT_EQ(reflector.lists(), 0);
  EXPECT_EQ(transport->paths.size(), 4U);
}

}  // namespace
}  // namespace botsec::kube
