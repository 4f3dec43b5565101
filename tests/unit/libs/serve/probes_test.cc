#include "botsec/serve/probes.h"

#include <memory>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

namespace botsec::serve {
namespace {

Request Get(const std::string& query = "") { return {.method = "GET", .query = query}; }

TEST(HealthHandlerTest, AnswersOkWhenEveryCheckPasses) {
  Handler handler = HealthHandler("readyz", {{"ping", [] { return core::Result<void>{}; }}});
  Response response = handler(Get());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok");
  Response verbose = handler(Get("verbose"));
  EXPECT_EQ(verbose.status, 200);
  EXPECT_EQ(verbose.body, "[+]ping ok\nreadyz check passed\n");
}

TEST(HealthHandlerTest, ListsEachCheckWhenOneFails) {
  Handler handler = HealthHandler(
      "readyz", {{"ping", [] { return core::Result<void>{}; }},
                 {"informers-synced", [] {
                    return core::Result<void>(
                        core::Fail(core::ErrorCode::kUnavailable, "botsandboxes not listed yet"));
                  }}});
  Response response = handler(Get());
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body,
            "[+]ping ok\n[-]informers-synced failed: botsandboxes not listed yet\n"
            "readyz check failed\n");
  EXPECT_EQ(handler({.method = "POST"}).status, 405);
}

TEST(MetricsHandlerTest, WritesTheRegistryInTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter()
                     .Name("controller_runtime_reconcile_total")
                     .Help("Total number of reconciliations per controller")
                     .Register(*registry);
  family.Add({{"controller", "botsandbox"}, {"result", "success"}}).Increment(3);
  Response response = MetricsHandler(registry)(Get());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("# TYPE controller_runtime_reconcile_total counter\n"
                               "controller_runtime_reconcile_total{controller=\"botsandbox\","
                               "result=\"success\"} 3"),
            std::string::npos)
      << response.body;
}

}  // namespace
}  // namespace botsec::serve
