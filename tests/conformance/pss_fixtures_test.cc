// Conformance with upstream: every Pod Security fixture of the pinned Kubernetes version
// (k8s.io/pod-security-admission's test/testdata/{baseline,restricted}/v1.N/{pass,fail}, read from
// the Go module cache by tools/pss-fixtures.sh) gets upstream's verdict from pss-baseline and
// pss-restricted, and the bot profile denies every restricted fail fixture.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "botsec/policy/engine.h"
#include "botsec/policy/yaml.h"
#include "support/command.h"
#include "support/judge_both_ways.h"

namespace botsec::policy {
namespace {

namespace fs = std::filesystem;

struct Fixtures {
  fs::path root;        // .../test/testdata
  std::string version;  // "v1.37"
};

Fixtures Locate() {
  auto run = testing::RunCommand({std::string(BOTSEC_SOURCE_DIR) + "/tools/pss-fixtures.sh"});
  EXPECT_TRUE(run && run->ok()) << (run ? run->err : run.error().message);
  Fixtures fixtures;
  if (run && run->ok()) {
    std::istringstream lines(run->out);
    std::string root;
    std::getline(lines, root);
    std::getline(lines, fixtures.version);
    fixtures.root = root;
  }
  return fixtures;
}

std::vector<fs::path> YamlFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

Json ReadPod(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto documents = ParseYamlStream(text.str());
  EXPECT_TRUE(documents) << file << ": " << documents.error().message;
  EXPECT_TRUE(documents && documents->size() == 1) << file;
  return documents && !documents->empty() ? (*documents)[0].value : Json();
}

// A fail fixture is named after the check it breaks ("runasnonroot0"): the denial must come from
// that check, or from the restricted check that replaces it at that level.
bool DeniedForTheRightReason(const fs::path& file, const std::string& level,
                             const std::vector<Violation>& violations) {
  std::string family = file.stem().string();
  while (!family.empty() && std::isdigit(static_cast<unsigned char>(family.back())) != 0) {
    family.pop_back();
  }
  if (level == "restricted") {
    static const std::map<std::string, std::string> kOverrides = {
        {"hostpathvolumes", "restrictedvolumes"},
        {"capabilities_baseline", "capabilities_restricted"},
        {"seccompprofile_baseline", "seccompprofile_restricted"},
        {"procmount", "procmount_restricted"}};
    if (auto it = kOverrides.find(family); it != kOverrides.end()) {
      family = it->second;
    }
  }
  return std::any_of(violations.begin(), violations.end(), [&](const Violation& v) {
    std::string check = v.check;
    std::transform(check.begin(), check.end(), check.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return check == family;
  });
}

std::string Describe(const std::vector<Violation>& violations) {
  std::string out;
  for (const Violation& v : violations) {
    out += "\n    " + v.check + " " + v.field + ": " + v.message;
  }
  return out;
}

class PssFixturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixtures_ = Locate();
    ASSERT_FALSE(fixtures_.root.empty());
    ASSERT_TRUE(fs::is_directory(fixtures_.root)) << fixtures_.root;
  }

  // Judges every file of level/version/{pass,fail} with `profile`; returns how many were judged.
  int JudgeLevel(const std::string& level, Profile profile) const {
    int judged = 0;
    int agreed = 0;
    for (const std::string verdict : {"pass", "fail"}) {
      fs::path dir = fixtures_.root / level / fixtures_.version / verdict;
      std::vector<fs::path> files = YamlFiles(dir);
      EXPECT_FALSE(files.empty()) << "no fixtures in " << dir;
      for (const fs::path& file : files) {
        auto violations = testing::JudgeBothWays(ReadPod(file), Policy::ForProfile(profile));
        ++judged;
        if (!violations) {
          ADD_FAILURE() << file << ": " << violations.error().message;
          continue;
        }
        bool allowed = violations->empty();
        if (!allowed && verdict == "fail" && !DeniedForTheRightReason(file, level, *violations)) {
          ADD_FAILURE() << level << "/fail/" << file.filename().string()
                        << ": denied, but not by the check it is named after"
                        << Describe(*violations);
        } else if (allowed == (verdict == "pass")) {
          ++agreed;
        } else {
          ADD_FAILURE() << level << "/" << verdict << "/" << file.filename().string() << ": "
                        << ProfileName(profile) << " " << (allowed ? "allowed" : "denied")
                        << Describe(*violations);
        }
      }
    }
    std::cout << "pss fixtures " << level << "/" << fixtures_.version << ": " << agreed << "/"
              << judged << " agree with upstream under " << ProfileName(profile) << "\n";
    return judged;
  }

  Fixtures fixtures_;
};

int CountFiles(const fs::path& root, const std::string& level, const std::string& version) {
  return static_cast<int>(YamlFiles(root / level / version / "pass").size() +
                          YamlFiles(root / level / version / "fail").size());
}

TEST_F(PssFixturesTest, BaselineGivesUpstreamsVerdictOnEveryFixture) {
  int judged = JudgeLevel("baseline", Profile::kPssBaseline);
  EXPECT_EQ(judged, CountFiles(fixtures_.root, "baseline", fixtures_.version));
  EXPECT_GT(judged, 0);
}

TEST_F(PssFixturesTest, RestrictedGivesUpstreamsVerdictOnEveryFixture) {
  int judged = JudgeLevel("restricted", Profile::kPssRestricted);
  EXPECT_EQ(judged, CountFiles(fixtures_.root, "restricted", fixtures_.version));
  EXPECT_GT(judged, 0);
}

TEST_F(PssFixturesTest, BotDeniesEveryRestrictedFailFixture) {
  std::vector<fs::path> files =
      YamlFiles(fixtures_.root / "restricted" / fixtures_.version / "fail");
  ASSERT_FALSE(files.empty());
  int denied = 0;
  for (const fs::path& file : files) {
    auto violations = testing::JudgeBothWays(ReadPod(file), Policy::ForProfile(Profile::kBot));
    ASSERT_TRUE(violations) << file << ": " << violations.error().message;
    if (!violations->empty()) {
      ++denied;
    } else {
      ADD_FAILURE() << file.filename().string() << ": bot allowed a restricted fail fixture";
    }
  }
  std::cout << "pss fixtures restricted/" << fixtures_.version << "/fail: " << denied << "/"
            << files.size() << " denied under bot\n";
  EXPECT_EQ(denied, static_cast<int>(files.size()));
}

}  // namespace
}  // namespace botsec::policy
