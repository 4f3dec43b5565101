// Where the API server is and how to prove who we are: from a kubeconfig file or, inside a pod,
// from the ServiceAccount mount. The parsers are pure: file reads and the environment come in
// through function parameters, so broken files are tested without touching the disk.
#ifndef BOTSEC_KUBE_CONFIG_H_
#define BOTSEC_KUBE_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/result.h"

namespace botsec::kube {

struct ClusterConfig {
  std::string server;  // "https://127.0.0.1:16443", without a trailing slash
  std::string ca_pem;  // empty: the system's trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;       // bearer token, when given inline
  std::string token_file;  // bearer token file, re-read when it changes (rotation)
  std::string default_namespace = "default";
  std::string source;                 // "kubeconfig /path, context ctx" or "in-cluster"
  std::vector<std::string> warnings;  // for the caller to log, e.g. TLS verification off
};

// Reads a whole file; the seam the parsers read through.
using FileReader = std::function<core::Result<std::string>(const std::string& path)>;
// Looks up an environment variable.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

core::Result<std::string> ReadFile(const std::string& path);
std::optional<std::string> GetEnv(const std::string& name);

// Parses kubeconfig `text` read from `path` (named in errors; relative file references resolve
// against its directory). `context` overrides current-context when not empty. Errors name the
// file and the field: `kubeconfig /p: users[name="u"].user.client-key: ...`.
core::Result<ClusterConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                            const std::string& context, const FileReader& read);

// The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT, and token, ca.crt and namespace
// under `sa_dir`.
core::Result<ClusterConfig> InClusterConfig(
    const EnvLookup& env, const FileReader& read,
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// client-go's order: `kubeconfig_path` when given, else the first file in $KUBECONFIG, else
// in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
core::Result<ClusterConfig> LoadConfig(const std::string& kubeconfig_path,
                                       const std::string& context, const EnvLookup& env,
                                       const FileReader& read);

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_CONFIG_H_
