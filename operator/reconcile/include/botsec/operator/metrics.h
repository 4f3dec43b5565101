// The operator's metrics, under controller-runtime's and client-go's names so that dashboards
// made for Kubebuilder operators work unchanged, plus botsec_sandboxes{phase}:
//   controller_runtime_reconcile_total{controller,result}   success | error | requeue_after
//   controller_runtime_reconcile_errors_total{controller}
//   controller_runtime_reconcile_time_seconds{controller}   histogram
//   controller_runtime_max_concurrent_reconciles{controller}
//   controller_runtime_active_workers{controller}
//   workqueue_{depth,adds_total,retries_total}{name}
//   workqueue_{queue,work}_duration_seconds{name}           histograms
//   leader_election_master_status{name}
//   botsec_sandboxes{phase}                                 BotSandboxes by status.phase
// No label carries an object's name.
//
// Thread-safety: every method may be called from any thread.
#ifndef BOTSEC_OPERATOR_METRICS_H_
#define BOTSEC_OPERATOR_METRICS_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "botsec/kube/work_queue.h"

namespace botsec::operator_reconcile {

class ControllerMetrics final : public kube::WorkQueueObserver {
 public:
  explicit ControllerMetrics(prometheus::Registry& registry,
                             const std::string& controller = "botsandbox");

  // kube::WorkQueueObserver
  void Added() override;
  void Started(kube::Duration queued) override;
  void Finished(kube::Duration worked) override;
  void Retried() override;

  void SetMaxConcurrentReconciles(int workers);
  // One reconcile began (+1) or ended (-1).
  void WorkerActive(int delta);
  // One reconcile ended with `result` ("success", "error" or "requeue_after") after `took`.
  void Reconciled(std::string_view result, kube::Duration took);
  void SetLeader(bool leading);
  // The BotSandbox `key` is now in `phase` ("Running", ...); nullopt when it is gone.
  void SandboxPhase(const std::string& key, std::optional<std::string_view> phase);

 private:
  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Counter& reconcile_errors_;
  prometheus::Histogram& reconcile_time_;
  prometheus::Gauge& max_concurrent_;
  prometheus::Gauge& active_workers_;
  prometheus::Gauge& depth_;
  prometheus::Counter& adds_;
  prometheus::Counter& retries_;
  prometheus::Histogram& queue_duration_;
  prometheus::Histogram& work_duration_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Gauge>& sandboxes_;
  std::string controller_;
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> phase_of_;  // by BotSandbox key
};

}  // namespace botsec::operator_reconcile

#endif  // BOTSEC_OPERATOR_METRICS_H_
