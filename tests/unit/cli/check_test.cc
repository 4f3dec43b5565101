// `botsec check` end to end through RunCheck, on files written to a temporary directory.
#include "check.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kGoodPod = R"(apiVersion: v1
kind: Pod
metadata: {name: good}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: bot
      image: ghcr.io/acme/bot
      resources: {limits: {cpu: 500m, memory: 256Mi}}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
)";

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("botsec-check-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  int Run(const std::vector<std::string>& args, const std::string& input = "") {
    std::istringstream in(input);
    out_.str("");
    err_.str("");
    return RunCheck(args, in, out_, err_);
  }

  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CheckTest, PassingManifestsExitZero) {
  std::string good = Write("good.yaml", kGoodPod);
  EXPECT_EQ(Run({good}), kExitPass) << out_.str() << err_.str();
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "1 judged under bot: 1 pass, 0 violate\n");
}

TEST_F(CheckTest, ViolationsPrintOneLineEachAndExitOne) {
  std::string bad = Write("bad.yaml", std::string(kGoodPod) + "  hostNetwork: true\n---\n" +
                                          "kind: Service\nmetadata: {name: skipped}\n");
  EXPECT_EQ(Run({bad}), kExitViolations);
  EXPECT_EQ(out_.str(), bad +
                            ":1 Pod/good: spec.hostNetwork: Forbidden: must not be true "
                            "(hostNamespaces)\n");
}

TEST_F(CheckTest, JudgesTemplatesInListsFromStandardInputAsJson) {
  std::string list = R"({"kind":"List","items":[{"kind":"Deployment","metadata":{"name":"d"},
    "spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}]})";
  EXPECT_EQ(Run({"-o", "json", "--profile", "pss-baseline", "-"}, list), kExitPass) << err_.str();
  auto report = nlohmann::json::parse(out_.str());
  ASSERT_EQ(report["results"].size(), 1U);
  EXPECT_EQ(report["results"][0]["kind"], "Deployment");
  EXPECT_EQ(report["results"][0]["item"], 0);
  EXPECT_EQ(report["results"][0]["allowed"], true);
  EXPECT_EQ(Run({"-ojson", "-"}, list), kExitViolations);
  report = nlohmann::json::parse(out_.str());
  EXPECT_EQ(report["results"][0]["allowed"], false);
  EXPECT_EQ(report["results"][0]["violations"][0]["field"],
            "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation");
}

TEST_F(CheckTest, DirectoriesAreReadRecursivelyInOrder) {
  Write("a/one.yaml", kGoodPod);
  Write("a/b/two.yml", std::string(kGoodPod) + "  hostPID: true\n");
  Write("a/notes.txt", "not a manifest");
  EXPECT_EQ(Run({(dir_ / "a").string()}), kExitViolations);
  EXPECT_EQ(err_.str(), "2 judged under bot: 1 pass, 1 violate\n");
  EXPECT_NE(out_.str().find("two.yml:1 Pod/good: spec.hostPID"), std::string::npos);
}

TEST_F(CheckTest, UnreadableInputAndBadPolicyExitTwoNamingTheFile) {
  std::string broken = Write("broken.yaml", "kind: Pod\nspec: [\n");
  EXPECT_EQ(Run({broken, (dir_ / "missing.yaml").string()}), kExitBadInput);
  EXPECT_NE(err_.str().find(broken + ": line 3, column 1:"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("missing.yaml: cannot read: No such file or directory"),
            std::string::npos)
      << err_.str();

  std::string policy = Write("policy.yaml", "checks:\n  nope: true\n");
  std::string good = Write("good.yaml", kGoodPod);
  EXPECT_EQ(Run({"--policy", policy, good}), kExitBadInput);
  EXPECT_EQ(err_.str(), "botsec check: --policy " + policy +
                            ": line 2, column 3: checks.nope: unknown key (known: "
                            "readOnlyRootFilesystem, serviceAccountToken, resources, "
                            "runtimeClasses, images)\n");
  EXPECT_EQ(Run({"--profile", "strict", good}), kExitBadInput);
  EXPECT_EQ(Run({"-o", "yaml", good}), kExitBadInput);
  EXPECT_EQ(Run({}), kExitBadInput);
  EXPECT_EQ(Run({"--nope"}), kExitBadInput);
}

TEST_F(CheckTest, APolicyFileSetsTheRules) {
  std::string policy = Write("policy.yaml", "profile: bot\nchecks:\n  runtimeClasses: [gvisor]\n");
  std::string good = Write("good.yaml", kGoodPod);
  EXPECT_EQ(Run({"--policy", policy, good}), kExitViolations);
  EXPECT_NE(out_.str().find("spec.runtimeClassName: Required value"), std::string::npos);
}

TEST_F(CheckTest, BytesThatAreNotUtf8NeverBreakTheJsonReport) {
  std::string pod = std::string(kGoodPod) + "        procMount: \"\xff\xfe\"\n";
  EXPECT_EQ(Run({"-o", "json", "-"}, pod), kExitViolations) << err_.str();
  auto report = nlohmann::json::parse(out_.str());
  EXPECT_EQ(report["results"][0]["violations"][0]["field"],
            "spec.containers[0].securityContext.procMount");
}

TEST_F(CheckTest, HelpShowsExamples) {
  EXPECT_EQ(Run({"--help"}), kExitPass);
  EXPECT_NE(out_.str().find("helm template charts/app | botsec check -"), std::string::npos);
}

}  // namespace
}  // namespace botsec::cli
