// The webhook's imperative shell around Decide, apart from the HTTP server: from a request body
// to the answer's body, with the facts looked up from the cluster, the decision counted, and one
// JSON audit line written. botsec-webhook serves it with libs/serve; the bench serves the same
// handler behind cpprestsdk to show what the HTTP layer costs.
#ifndef BOTSEC_WEBHOOK_ADMISSION_H_
#define BOTSEC_WEBHOOK_ADMISSION_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "botsec/kube/client.h"
#include "botsec/policy/policy.h"
#include "botsec/webhook/decide.h"
#include "botsec/webhook/review.h"

namespace botsec::webhook {

// What a decision needs from the cluster: the one seam to the API server.
class ClusterFacts {
 public:
  virtual ~ClusterFacts() = default;
  // Whether namespace `ns` is being deleted; false when it cannot be read (fail closed: the
  // exception for terminating namespaces does not apply).
  [[nodiscard]] virtual bool NamespaceTerminating(const std::string& ns) const = 0;
  // Those of `names` (Secrets in the request's namespace) the requesting user may not `get`, or
  // that could not be checked (fail closed).
  [[nodiscard]] virtual std::vector<std::string> UnreadableSecrets(
      const AdmissionRequest& request, const std::vector<std::string>& names) const = 0;
};

// ClusterFacts from the API server: a namespace GET, one SubjectAccessReview per Secret.
class ApiServerFacts : public ClusterFacts {
 public:
  explicit ApiServerFacts(kube::Client client) : client_(std::move(client)) {}
  [[nodiscard]] bool NamespaceTerminating(const std::string& ns) const override;
  [[nodiscard]] std::vector<std::string> UnreadableSecrets(
      const AdmissionRequest& request, const std::vector<std::string>& names) const override;

 private:
  kube::Client client_;
};

// botsec_webhook_requests_total{concern,verdict}, botsec_webhook_violations_total{concern,check}
// and botsec_webhook_request_duration_seconds{concern}; no label names an object.
class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry);
  // `verdict`: allowed, denied, warned or invalid (a body that is no AdmissionReview).
  void Count(const std::string& concern, const std::string& verdict,
             std::chrono::steady_clock::duration took);
  void Violation(const std::string& concern, const std::string& check);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& violations_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

// Each review builds and frees a few hundred KiB of JSON; with glibc's default trim threshold
// (128 KiB) the freed top of the heap goes back to the kernel after nearly every request, and the
// next one faults it in again, zeroed. Call once at start-up in a process serving Admission: the
// heap keeps up to 8 MiB free for reuse (measured: a quarter less CPU per review).
void KeepFreedHeapForReuse();

class Admission {
 public:
  // `facts` and `metrics` outlive the Admission; audit lines go to `audit`, one per decision.
  Admission(WebhookSettings settings, const ClusterFacts& facts, WebhookMetrics& metrics,
            std::ostream& audit)
      : settings_(std::make_shared<const WebhookSettings>(std::move(settings))),
        facts_(facts),
        metrics_(metrics),
        audit_(audit) {}

  // Judges with `policy` from now on (a reloaded --policy); requests under way finish with the
  // policy they started with.
  void SetPolicy(policy::Policy policy);

  // A POSTed body: 200 with the AdmissionReview answering it, or 400 saying what is wrong with
  // it (not JSON, not an AdmissionReview, a Content-Type other than JSON). Safe to call from
  // several threads at once.
  HttpAnswer Validate(std::string_view content_type, std::string_view body);

 private:
  void Audit(const AdmissionRequest& request, const Decision& decision, std::string_view verdict);

  [[nodiscard]] std::shared_ptr<const WebhookSettings> Settings() const;

  mutable std::mutex settings_mu_;
  std::shared_ptr<const WebhookSettings> settings_;  // guarded by settings_mu_
  const ClusterFacts& facts_;
  WebhookMetrics& metrics_;
  std::ostream& audit_;
  std::mutex audit_mu_;
};

}  // namespace botsec::webhook

#endif  // BOTSEC_WEBHOOK_ADMISSION_H_
