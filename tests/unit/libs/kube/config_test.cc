#include "botsec/kube/config.h"

#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "botsec/core/base64.h"

namespace botsec::kube {
namespace {

// Files the parser may read, keyed by path.
class FakeFiles {
 public:
  void Put(const std::string& path, const std::string& content) { files_[path] = content; }
  [[nodiscard]] FileReader Reader() const {
    return [this](const std::string& path) -> core::Result<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) {
        return core::Fail(core::ErrorCode::kNotFound, "cannot read " + path);
      }
      return it->second;
    };
  }

 private:
  std::map<std::string, std::string> files_;
};

const std::string kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

std::string Kubeconfig(const std::string& user_block, const std::string& cluster_extra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
         "clusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:6443/\n"
         "    certificate-authority-data: " +
         core::Base64Encode(kCa) + "\n" + cluster_extra +
         "contexts:\n- name: dev\n  context: {cluster: local, user: me, namespace: bots}\n"
         "- name: other\n  context: {cluster: local, user: nobody}\n"
         "users:\n- name: me\n  user:\n" +
         user_block;
}

TEST(ParseKubeconfigTest, ReadsInlineCertificates) {
  FakeFiles files;
  std::string text = Kubeconfig("    client-certificate-data: " + core::Base64Encode("CERT") +
                                "\n    client-key-data: " + core::Base64Encode("KEY") + "\n");
  auto config = ParseKubeconfig(text, "/home/u/.kube/config", "", files.Reader());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->default_namespace, "bots");
  EXPECT_EQ(config->source, "kubeconfig /home/u/.kube/config, context dev");
  EXPECT_TRUE(config->warnings.empty());
}

TEST(ParseKubeconfigTest, ResolvesRelativeFilesAgainstTheKubeconfigDirectory) {
  FakeFiles files;
  files.Put("/etc/k/pki/me.crt", "CERT");
  files.Put("/abs/me.key", "KEY");
  std::string text =
      Kubeconfig("    client-certificate: pki/me.crt\n    client-key: /abs/me.key\n");
  auto config = ParseKubeconfig(text, "/etc/k/config", "", files.Reader());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
}

TEST(ParseKubeconfigTest, TokenFileAndContextOverride) {
  FakeFiles files;
  std::string text = Kubeconfig("    tokenFile: token\n") + "- name: nobody\n";
  auto config = ParseKubeconfig(text, "/k/config", "", files.Reader());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->token_file, "/k/token");
  auto other = ParseKubeconfig(text, "/k/config", "other", files.Reader());
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->default_namespace, "default");
  EXPECT_TRUE(other->token_file.empty());
}

TEST(ParseKubeconfigTest, InsecureSkipVerifyIsHonouredWithAWarning) {
  FakeFiles files;
  auto config =
      ParseKubeconfig(Kubeconfig("    token: t\n", "    insecure-skip-tls-verify: true\n"), "/k",
                      "", files.Reader());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  ASSERT_EQ(config->warnings.size(), 1U);
  EXPECT_NE(config->warnings[0].find("not verified"), std::string::npos);
  EXPECT_EQ(config->token, "t");
}

struct BrokenCase {
  std::string name;
  std::string text;
  std::string context;
  std::string error;
  friend void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }
};

class BrokenKubeconfigTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenKubeconfigTest, NamesTheFileAndTheField) {
  FakeFiles files;
  auto config = ParseKubeconfig(GetParam().text, "/k/config", GetParam().context, files.Reader());
  ASSERT_FALSE(config) << "parsed: " << config->server;
  EXPECT_EQ(config.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(config.error().message, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenKubeconfigTest,
    ::testing::Values(
        BrokenCase{"YamlSyntax", "clusters: [\n", "",
                   "kubeconfig /k/config: line 2, column 1: end of sequence flow not found"},
        BrokenCase{"NotAMap", "- a\n", "",
                   "kubeconfig /k/config: document: must be a map (apiVersion: v1, kind: Config)"},
        BrokenCase{"NoContext", "apiVersion: v1\n", "",
                   "kubeconfig /k/config: current-context: Required value (or pass a context)"},
        BrokenCase{"UnknownContext", Kubeconfig("    token: t\n"), "prod",
                   "kubeconfig /k/config: contexts[name=\"prod\"]: not found"},
        BrokenCase{"MissingUser", Kubeconfig("    token: t\n"), "other",
                   "kubeconfig /k/config: users[name=\"nobody\"]: not found"},
        BrokenCase{"BadBase64",
                   Kubeconfig("    client-certificate-data: '!!!'\n    client-key-data: a2V5\n"),
                   "",
                   "kubeconfig /k/config: users[name=\"me\"].user.client-certificate-data: not "
                   "valid base64: unexpected character at offset 0"},
        BrokenCase{"MissingFile", Kubeconfig("    client-certificate: c.crt\n    client-key: k\n"),
                   "",
                   "kubeconfig /k/config: users[name=\"me\"].user.client-certificate: cannot read "
                   "/k/c.crt"},
        BrokenCase{"CertWithoutKey",
                   Kubeconfig("    client-certificate-data: " + core::Base64Encode("C") + "\n"), "",
                   "kubeconfig /k/config: users[name=\"me\"].user: client-certificate given "
                   "without client-key"},
        BrokenCase{
            "ExecPlugin", Kubeconfig("    exec: {command: aws}\n"), "",
            "kubeconfig /k/config: users[name=\"me\"].user.exec: not supported: use a client "
            "certificate or a token"},
        BrokenCase{
            "PlainHttp",
            "current-context: c\ncontexts: [{name: c, context: {cluster: x}}]\n"
            "clusters: [{name: x, cluster: {server: 'http://a:80'}}]\n",
            "",
            "kubeconfig /k/config: clusters[name=\"x\"].cluster.server: \"http://a:80\": only "
            "https:// is supported"},
        BrokenCase{
            "BadInsecureFlag",
            Kubeconfig("    token: t\n", "    insecure-skip-tls-verify: yes please\n"), "",
            "kubeconfig /k/config: clusters[name=\"local\"].cluster.insecure-skip-tls-verify: "
            "must be true or false"},
        BrokenCase{"ServerIsAList",
                   "current-context: c\ncontexts: [{name: c, context: {cluster: x}}]\n"
                   "clusters: [{name: x, cluster: {server: [1]}}]\n",
                   "",
                   "kubeconfig /k/config: clusters[name=\"x\"].cluster.server: must be a string"}),
    [](const ::testing::TestParamInfo<BrokenCase>& param) { return param.param.name; });

TEST(InClusterConfigTest, ReadsTheServiceAccountMount) {
  FakeFiles files;
  files.Put("/sa/ca.crt", kCa);
  files.Put("/sa/token", "tok");
  files.Put("/sa/namespace", "botsec-system\n");
  EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") {
      return "fd00::1";
    }
    if (name == "KUBERNETES_SERVICE_PORT") {
      return "443";
    }
    return std::nullopt;
  };
  auto config = InClusterConfig(env, files.Reader(), "/sa");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->token_file, "/sa/token");
  EXPECT_EQ(config->default_namespace, "botsec-system");
  EXPECT_EQ(config->ca_pem, kCa);
}

TEST(LoadConfigTest, PrefersTheFlagThenKubeconfigEnvThenInCluster) {
  FakeFiles files;
  files.Put("/flag", Kubeconfig("    token: from-flag\n"));
  files.Put("/env1", Kubeconfig("    token: from-env\n"));
  std::map<std::string, std::string> vars = {{"KUBECONFIG", "/env1:/env2"},
                                             {"KUBERNETES_SERVICE_HOST", "10.0.0.1"}};
  EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto flag = LoadConfig("/flag", "", env, files.Reader());
  ASSERT_TRUE(flag) << flag.error().message;
  EXPECT_EQ(flag->token, "from-flag");
  auto from_env = LoadConfig("", "", env, files.Reader());
  ASSERT_TRUE(from_env) << from_env.error().message;
  EXPECT_EQ(from_env->token, "from-env");
  vars.erase("KUBECONFIG");
  auto in_cluster = LoadConfig("", "", env, files.Reader());
  ASSERT_FALSE(in_cluster);  // KUBERNETES_SERVICE_PORT is missing
  EXPECT_NE(in_cluster.error().message.find("in-cluster"), std::string::npos);
}

}  // namespace
}  // namespace botsec::kube
