#include "botsec/kube/client.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::kube {
namespace {

// Records each request and answers from a script: request building is tested without a network.
class RecordingTransport final : public HttpTransport {
 public:
  void Answer(int status, std::string body) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    answers_.push_back(std::move(response));
  }
  core::Result<HttpResponse> Send(const HttpRequest& request) override {
    requests.push_back(request);
    if (answers_.empty()) {
      return core::Fail(core::ErrorCode::kUnavailable, "connection refused");
    }
    HttpResponse next = answers_.front();
    answers_.pop_front();
    return next;
  }
  core::Result<HttpResponse> Stream(const HttpRequest& request,
                                    const std::function<bool(std::string_view)>& /*on_line*/,
                                    std::stop_token /*stop*/) override {
    return Send(request);
  }
  std::vector<HttpRequest> requests;

 private:
  std::deque<HttpResponse> answers_;
};

class ClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<RecordingTransport> transport_ = std::make_shared<RecordingTransport>();
  Client client_{transport_};
};

TEST_F(ClientTest, ApplySendsAnApplyPatchWithFieldManagerAndForce) {
  transport_->Answer(200, R"({"metadata":{"name":"c","resourceVersion":"5"}})");
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}};
  auto applied = client_.Apply(resources::ConfigMaps(), "ns", cm,
                               ApplyOptions{.field_manager = "botsec operator", .force = true});
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ((*applied)["metadata"]["resourceVersion"], "5");
  const HttpRequest& r = transport_->requests.at(0);
  EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(r.path, "/api/v1/namespaces/ns/configmaps/c?fieldManager=botsec%20operator&force=true");
  EXPECT_EQ(r.content_type, "application/apply-patch+yaml");
  EXPECT_EQ(Json::parse(r.body), cm);
}

TEST_F(ClientTest, ApplyRefusesAnUnnamedObjectOrMissingManager) {
  auto unnamed =
      client_.Apply(resources::ConfigMaps(), "ns", Json::object(), {.field_manager = "m"});
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().message, "apply: metadata.name: Required value");
  auto no_manager =
      client_.Apply(resources::ConfigMaps(), "ns", {{"metadata", {{"name", "c"}}}}, {});
  ASSERT_FALSE(no_manager);
  EXPECT_EQ(no_manager.error().message, "apply: fieldManager: Required value");
  EXPECT_TRUE(transport_->requests.empty()) << "nothing may be sent for bad input";
}

TEST_F(ClientTest, PatchTypesAndDeleteOptions) {
  transport_->Answer(200, "{}");
  transport_->Answer(200, "{}");
  transport_->Answer(200, "{}");
  ASSERT_TRUE(client_.Patch(resources::Pods(), "ns", "p", PatchType::kJson,
                            Json::array({{{"op", "remove"}, {"path", "/x"}}}), "status"));
  ASSERT_TRUE(client_.Patch(resources::Pods(), "ns", "p", PatchType::kStrategicMerge, {{"a", 1}}));
  ASSERT_TRUE(client_.Delete(
      resources::Pods(), "ns", "p",
      DeleteOptions{.propagation = Propagation::kForeground, .precondition_uid = "u-1"}));
  EXPECT_EQ(transport_->requests[0].path, "/api/v1/namespaces/ns/pods/p/status");
  EXPECT_EQ(transport_->requests[0].content_type, "application/json-patch+json");
  EXPECT_EQ(transport_->requests[1].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(transport_->requests[2].method, "DELETE");
  EXPECT_EQ(Json::parse(transport_->requests[2].body), (Json{{"apiVersion", "v1"},
                                                             {"kind", "DeleteOptions"},
                                                             {"propagationPolicy", "Foreground"},
                                                             {"preconditions", {{"uid", "u-1"}}}}));
}

TEST_F(ClientTest, ListAllFollowsContinueTokensAndDropsTheSnapshotVersion) {
  transport_->Answer(200, R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"9",)"
                          R"("continue":"t1"},"items":[{"n":1},{"n":2}]})");
  transport_->Answer(200, R"({"metadata":{"resourceVersion":"9"},"items":[{"n":3}]})");
  ListOptions options;
  options.limit = 2;
  options.resource_version = "9";
  auto all = client_.ListAll(resources::ConfigMaps(), "ns", options);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ((*all)["items"].size(), 3U);
  EXPECT_EQ((*all)["metadata"]["resourceVersion"], "9");
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
  ASSERT_EQ(transport_->requests.size(), 2U);
  EXPECT_EQ(transport_->requests[0].path,
            "/api/v1/namespaces/ns/configmaps?limit=2&resourceVersion=9");
  EXPECT_EQ(transport_->requests[1].path, "/api/v1/namespaces/ns/configmaps?limit=2&continue=t1");
}

TEST_F(ClientTest, ErrorsAreDecodedAndTransportFailuresNamed) {
  transport_->Answer(404, R"({"kind":"Status","reason":"NotFound","message":"gone"})");
  auto missing = client_.Get(resources::ConfigMaps(), "ns", "x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  auto refused = client_.Get(resources::ConfigMaps(), "ns", "x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().message, "GET /api/v1/namespaces/ns/configmaps/x: connection refused");
  transport_->Answer(200, "not json");
  auto garbage = client_.Get(resources::ConfigMaps(), "ns", "x");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, core::ErrorCode::kInternal);
}

}  // namespace
}  // namespace botsec::kube
