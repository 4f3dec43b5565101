#include "botsec/kube/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "botsec/core/base64.h"
#include "botsec/core/result.h"

namespace botsec::kube {
namespace {

using core::Error;
using core::ErrorCode;
using core::Fail;
using core::Result;

Error Invalid(const std::string& where, const std::string& what) {
  return core::MakeError(ErrorCode::kInvalidArgument, where + ": " + what);
}

// Finds the entry of a named list (`clusters`, `users`, `contexts`) whose `name` is `name`.
Result<YAML::Node> FindNamed(const YAML::Node& root, const std::string& list,
                             const std::string& name) {
  const YAML::Node items = root[list];
  if (items && !items.IsSequence()) {
    return Fail(Invalid(list, "must be a list"));
  }
  if (items) {
    for (const YAML::Node& item : items) {
      if (item.IsMap() && item["name"] && item["name"].IsScalar() &&
          item["name"].Scalar() == name) {
        return item;
      }
    }
  }
  return Fail(Invalid(list + "[name=\"" + name + "\"]", "not found"));
}

// Reads a scalar string field; absent is "".
Result<std::string> Scalar(const YAML::Node& parent, const std::string& key,
                           const std::string& where) {
  const YAML::Node node = parent[key];
  if (!node || node.IsNull()) {
    return std::string();
  }
  if (!node.IsScalar()) {
    return Fail(Invalid(where + "." + key, "must be a string"));
  }
  return node.Scalar();
}

// PEM material given either inline as base64 (`<key>-data`) or as a file (`<key>`).
Result<std::string> Material(const YAML::Node& parent, const std::string& key,
                             const std::string& where, const std::filesystem::path& base_dir,
                             const FileReader& read) {
  auto data = Scalar(parent, key + "-data", where);
  if (!data) {
    return data;
  }
  if (!data->empty()) {
    auto decoded = core::Base64Decode(*data);
    if (!decoded) {
      return Fail(Invalid(where + "." + key + "-data", decoded.error().message));
    }
    return decoded;
  }
  auto file = Scalar(parent, key, where);
  if (!file || file->empty()) {
    return file;
  }
  std::filesystem::path path(*file);
  if (path.is_relative()) {
    path = base_dir / path;
  }
  auto content = read(path.string());
  if (!content) {
    return Fail(Invalid(where + "." + key, content.error().message));
  }
  return content;
}

Result<ClusterConfig> ParseCluster(const YAML::Node& root, const std::string& name,
                                   const std::filesystem::path& base_dir, const FileReader& read,
                                   ClusterConfig config) {
  auto entry = FindNamed(root, "clusters", name);
  if (!entry) {
    return Fail(entry.error());
  }
  const std::string where = "clusters[name=\"" + name + "\"].cluster";
  const YAML::Node cluster = (*entry)["cluster"];
  if (!cluster || !cluster.IsMap()) {
    return Fail(Invalid(where, "Required value"));
  }
  auto server = Scalar(cluster, "server", where);
  if (!server) {
    return Fail(server.error());
  }
  if (server->empty()) {
    return Fail(Invalid(where + ".server", "Required value"));
  }
  if (!server->starts_with("https://")) {
    return Fail(Invalid(where + ".server", "\"" + *server + "\": only https:// is supported"));
  }
  while (server->ends_with("/")) {
    server->pop_back();
  }
  config.server = *server;
  auto ca = Material(cluster, "certificate-authority", where, base_dir, read);
  if (!ca) {
    return Fail(ca.error());
  }
  config.ca_pem = *ca;
  auto name_override = Scalar(cluster, "tls-server-name", where);
  if (!name_override) {
    return Fail(name_override.error());
  }
  config.tls_server_name = *name_override;
  if (const YAML::Node insecure = cluster["insecure-skip-tls-verify"]; insecure) {
    if (!insecure.IsScalar() || (insecure.Scalar() != "true" && insecure.Scalar() != "false")) {
      return Fail(Invalid(where + ".insecure-skip-tls-verify", "must be true or false"));
    }
    config.insecure_skip_tls_verify = insecure.Scalar() == "true";
  }
  if (config.insecure_skip_tls_verify) {
    config.warnings.push_back(where +
                              ".insecure-skip-tls-verify is true: the API server's certificate is "
                              "not verified");
  }
  return config;
}

Result<ClusterConfig> ParseUser(const YAML::Node& root, const std::string& name,
                                const std::filesystem::path& base_dir, const FileReader& read,
                                ClusterConfig config) {
  auto entry = FindNamed(root, "users", name);
  if (!entry) {
    return Fail(entry.error());
  }
  const std::string where = "users[name=\"" + name + "\"].user";
  const YAML::Node user = (*entry)["user"];
  if (!user || user.IsNull()) {
    return config;  // no credentials: anonymous
  }
  if (!user.IsMap()) {
    return Fail(Invalid(where, "must be a map"));
  }
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (user[unsupported]) {
      return Fail(
          Invalid(where + "." + unsupported, "not supported: use a client certificate or a token"));
    }
  }
  auto cert = Material(user, "client-certificate", where, base_dir, read);
  if (!cert) {
    return Fail(cert.error());
  }
  auto key = Material(user, "client-key", where, base_dir, read);
  if (!key) {
    return Fail(key.error());
  }
  if (cert->empty() != key->empty()) {
    return Fail(Invalid(where, cert->empty() ? "client-key given without client-certificate"
                                             : "client-certificate given without client-key"));
  }
  config.client_cert_pem = *cert;
  config.client_key_pem = *key;
  auto token = Scalar(user, "token", where);
  if (!token) {
    return Fail(token.error());
  }
  config.token = *token;
  auto token_file = Scalar(user, "tokenFile", where);
  if (!token_file) {
    return Fail(token_file.error());
  }
  if (!token_file->empty()) {
    std::filesystem::path path(*token_file);
    config.token_file = path.is_relative() ? (base_dir / path).string() : path.string();
  }
  return config;
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Fail(ErrorCode::kNotFound, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

Result<ClusterConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                      const std::string& context, const FileReader& read) {
  auto fail = [&](const Error& e) { return Fail(e.Wrap("kubeconfig " + path)); };
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail(Invalid(
        "line " + std::to_string(e.mark.line + 1) + ", column " + std::to_string(e.mark.column + 1),
        e.msg));
  }
  if (!root.IsMap()) {
    return fail(Invalid("document", "must be a map (apiVersion: v1, kind: Config)"));
  }
  try {
    auto current = Scalar(root, "current-context", "");
    if (!current) {
      return fail(current.error());
    }
    std::string context_name = context.empty() ? *current : context;
    if (context_name.empty()) {
      return fail(Invalid("current-context", "Required value (or pass a context)"));
    }
    auto entry = FindNamed(root, "contexts", context_name);
    if (!entry) {
      return fail(entry.error());
    }
    const std::string where = "contexts[name=\"" + context_name + "\"].context";
    const YAML::Node ctx = (*entry)["context"];
    if (!ctx || !ctx.IsMap()) {
      return fail(Invalid(where, "Required value"));
    }
    auto cluster_name = Scalar(ctx, "cluster", where);
    auto user_name = Scalar(ctx, "user", where);
    auto ns = Scalar(ctx, "namespace", where);
    for (const auto* field : {&cluster_name, &user_name, &ns}) {
      if (!*field) {
        return fail(field->error());
      }
    }
    if (cluster_name->empty()) {
      return fail(Invalid(where + ".cluster", "Required value"));
    }
    ClusterConfig config;
    config.source = "kubeconfig " + path + ", context " + context_name;
    if (!ns->empty()) {
      config.default_namespace = *ns;
    }
    std::filesystem::path base_dir = std::filesystem::path(path).parent_path();
    auto with_cluster = ParseCluster(root, *cluster_name, base_dir, read, std::move(config));
    if (!with_cluster) {
      return fail(with_cluster.error());
    }
    if (user_name->empty()) {
      return with_cluster;
    }
    auto with_user = ParseUser(root, *user_name, base_dir, read, *std::move(with_cluster));
    if (!with_user) {
      return fail(with_user.error());
    }
    return with_user;
  } catch (const YAML::Exception& e) {
    return fail(Invalid("line " + std::to_string(e.mark.line + 1), e.msg));
  }
}

Result<ClusterConfig> InClusterConfig(const EnvLookup& env, const FileReader& read,
                                      const std::string& sa_dir) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  ClusterConfig config;
  config.source = "in-cluster";
  bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  auto ca = read(sa_dir + "/ca.crt");
  if (!ca) {
    return Fail(ca.error().Wrap("in-cluster"));
  }
  config.ca_pem = *ca;
  config.token_file = sa_dir + "/token";
  if (auto token = read(config.token_file); !token) {
    return Fail(token.error().Wrap("in-cluster"));
  }
  if (auto ns = read(sa_dir + "/namespace"); ns && !ns->empty()) {
    config.default_namespace = *ns;
    while (!config.default_namespace.empty() &&
           (config.default_namespace.back() == '\n' || config.default_namespace.back() == ' ')) {
      config.default_namespace.pop_back();
    }
  }
  return config;
}

Result<ClusterConfig> LoadConfig(const std::string& kubeconfig_path, const std::string& context,
                                 const EnvLookup& env, const FileReader& read) {
  std::string path = kubeconfig_path;
  if (path.empty()) {
    if (auto list = env("KUBECONFIG"); list && !list->empty()) {
      path = list->substr(0, list->find(':'));
    }
  }
  if (path.empty()) {
    if (auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
      return InClusterConfig(env, read);
    }
    auto home = env("HOME");
    if (!home) {
      return Fail(ErrorCode::kInvalidArgument,
                  "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster");
    }
    path = *home + "/.kube/config";
  }
  auto text = read(path);
  if (!text) {
    return Fail(text.error().Wrap("kubeconfig"));
  }
  return ParseKubeconfig(*text, path, context, read);
}

}  // namespace botsec::kube
