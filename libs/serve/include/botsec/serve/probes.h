// /healthz, /readyz and /metrics handlers for the Server, in the manner Kubernetes components
// answer them, so kubelet probes, `kubectl get --raw` habits and Prometheus scrapes just work.
#ifndef BOTSEC_SERVE_PROBES_H_
#define BOTSEC_SERVE_PROBES_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "botsec/core/result.h"
#include "botsec/serve/server.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace botsec::serve {

// One named check: ok, or an error saying why not.
struct HealthCheck {
  std::string name;
  std::function<core::Result<void>()> check;
};

// Answers GET like kube-apiserver's /healthz and /readyz: 200 "ok" when every check passes, else
// 500 with a line per check ("[+]ping ok", "[-]informers-synced failed: reason") and
// "<endpoint> check failed"; `?verbose` lists every check also when all pass. Other methods: 405.
Handler HealthHandler(std::string endpoint, std::vector<HealthCheck> checks);

// Answers GET with every metric of `registry` in Prometheus' text format 0.0.4.
Handler MetricsHandler(std::shared_ptr<prometheus::Registry> registry);

}  // namespace botsec::serve

#endif  // BOTSEC_SERVE_PROBES_H_
