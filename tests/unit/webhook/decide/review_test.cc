#include "botsec/webhook/review.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace botsec::webhook {
namespace {

std::string Corpus(const std::string& name) {
  std::ifstream file(std::string(BOTSEC_SOURCE_DIR) + "/tests/fuzz/corpus/admission_review/" + name,
                     std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Each malformed case of the fuzz corpus, and the start of the message it must be refused with.
struct MalformedCase {
  const char* file;
  const char* message;
};

class MalformedReviewTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedReviewTest, IsRefusedNamingWhatIsWrong) {
  auto request = DecodeReview(Corpus(GetParam().file));
  ASSERT_FALSE(request) << GetParam().file << " decoded";
  EXPECT_EQ(request.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(request.error().message.starts_with(GetParam().message))
      << GetParam().file << ": " << request.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, MalformedReviewTest,
    ::testing::Values(
        MalformedCase{"malformed-empty-body", "empty body: want an AdmissionReview"},
        MalformedCase{"malformed-truncated-json",
                      "not JSON: parse error at line 1, column 62: syntax error"},
        MalformedCase{"malformed-not-an-object",
                      "not an AdmissionReview: the body is not a JSON object"},
        MalformedCase{"malformed-v1beta1",
                      "apiVersion: must be admission.k8s.io/v1, not \"admission.k8s.io/v1beta1\""},
        MalformedCase{"malformed-wrong-kind", "kind: must be AdmissionReview, not \"Pod\""},
        MalformedCase{"malformed-no-request", "request: required"},
        MalformedCase{"malformed-no-uid", "request.uid: required"},
        MalformedCase{"malformed-uid-not-a-string", "request.uid: must be a string"},
        MalformedCase{"malformed-object-not-an-object", "request.object: must be an object"},
        MalformedCase{"malformed-groups-not-a-list",
                      "request.userInfo.groups: must be a list of strings"},
        MalformedCase{"malformed-dry-run-not-a-bool", "request.dryRun: must be true or false"},
        MalformedCase{"malformed-nested-10000-deep",
                      "not an AdmissionReview: nested deeper than 256 levels"},
        MalformedCase{"malformed-invalid-utf8-name", "not JSON: "}),
    [](const auto& test) {
      std::string name = test.param.file;
      std::erase(name, '-');
      return name;
    });

TEST(DecodeReviewTest, ReadsEveryFieldTheDecisionUses) {
  auto request = DecodeReview(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "uid": "705ab4f5", "operation": "UPDATE", "subResource": "ephemeralcontainers",
      "kind": {"group": "", "version": "v1", "kind": "Pod"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "name": "bot", "namespace": "bsb-a",
      "userInfo": {"username": "alice", "uid": "u-1", "groups": ["dev", "system:authenticated"],
                   "extra": {"scopes": ["x"]}},
      "object": {"kind": "Pod"}, "oldObject": {"kind": "Pod", "old": true}, "dryRun": true}})");
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->uid, "705ab4f5");
  EXPECT_EQ(request->operation, "UPDATE");
  EXPECT_EQ(request->sub_resource, "ephemeralcontainers");
  EXPECT_EQ(request->kind.kind, "Pod");
  EXPECT_EQ(request->resource.resource, "pods");
  EXPECT_EQ(request->namespace_, "bsb-a");
  EXPECT_EQ(request->user.username, "alice");
  EXPECT_EQ(request->user.groups, (std::vector<std::string>{"dev", "system:authenticated"}));
  EXPECT_EQ(request->user.extra["scopes"][0], "x");
  EXPECT_TRUE(request->old_object.json()["old"].get<bool>());
  EXPECT_TRUE(request->dry_run);
}

TEST(DecodeReviewTest, KeepsTheLastOfDuplicateKeysAsTheApiServerWouldNotSendThem) {
  auto request = DecodeReview(Corpus("duplicate-keys"));
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->uid, "u2");
}

TEST(EncodeReviewTest, EchoesTheUidAndCarriesTheRefusal) {
  AdmissionRequest request;
  request.uid = "705ab4f5";
  Json allowed = Json::parse(EncodeReview(request, {}));
  EXPECT_EQ(allowed, Json::parse(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
                                     "response":{"uid":"705ab4f5","allowed":true}})"));
  Json refused = Json::parse(EncodeReview(request, {.allowed = false,
                                                    .code = 403,
                                                    .reason = "Forbidden",
                                                    .message = "a\nb",
                                                    .warnings = {"w"}}));
  EXPECT_EQ(refused["response"], Json::parse(R"({"uid":"705ab4f5","allowed":false,
      "status":{"code":403,"reason":"Forbidden","message":"a\nb"},"warnings":["w"]})"));
}

// Written straight into a string: still valid JSON where the request's uid or a message holds
// bytes that are not UTF-8 (replaced, as nlohmann's dump(replace) did), and without a status
// when admitted.
TEST(EncodeReviewTest, WritesValidJsonWhateverTheBytes) {
  AdmissionRequest request;
  request.uid = "uid-\xff\"-\n";
  std::string refused = EncodeReview(
      request, {.allowed = false, .code = 403, .message = "bad \xC3( name", .warnings = {"w\x01"}});
  ASSERT_TRUE(Json::accept(refused)) << refused;
  Json parsed = Json::parse(refused);
  EXPECT_EQ(parsed["response"]["uid"], "uid-\xEF\xBF\xBD\"-\n");
  EXPECT_EQ(parsed["response"]["status"]["message"], "bad \xEF\xBF\xBD( name");
  EXPECT_EQ(parsed["response"]["status"]["reason"], "Forbidden");
  EXPECT_EQ(parsed["response"]["warnings"], Json::array({"w\x01"}));
  Json admitted = Json::parse(EncodeReview(request, {}));
  EXPECT_FALSE(admitted["response"].contains("status"));
  EXPECT_FALSE(admitted["response"].contains("warnings"));
}

}  // namespace
}  // namespace botsec::webhook
