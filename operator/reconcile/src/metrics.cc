#include "botsec/operator/metrics.h"

#include <chrono>

namespace botsec::operator_reconcile {
namespace {

double Seconds(kube::Duration duration) { return std::chrono::duration<double>(duration).count(); }

// controller-runtime's buckets for reconcile_time_seconds.
prometheus::Histogram::BucketBoundaries ReconcileBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3,  0.35, 0.4,  0.45, 0.5, 0.6,
          0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5,  3.0,  3.5,  4.0,  4.5, 5.0,
          6.0,   7.0,  8.0,   9.0,  10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0};
}

// client-go's buckets for the work queue's durations: 1 ns to 1,000 s by powers of ten.
prometheus::Histogram::BucketBoundaries QueueBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  double bound = 1e-8;
  for (int i = 0; i < 12; ++i, bound *= 10) {
    buckets.push_back(bound);
  }
  return buckets;
}

}  // namespace

ControllerMetrics::ControllerMetrics(prometheus::Registry& registry, const std::string& controller)
    : reconcile_total_(prometheus::BuildCounter()
                           .Name("controller_runtime_reconcile_total")
                           .Help("Total number of reconciliations per controller")
                           .Register(registry)),
      reconcile_errors_(prometheus::BuildCounter()
                            .Name("controller_runtime_reconcile_errors_total")
                            .Help("Total number of reconciliation errors per controller")
                            .Register(registry)
                            .Add({{"controller", controller}})),
      reconcile_time_(prometheus::BuildHistogram()
                          .Name("controller_runtime_reconcile_time_seconds")
                          .Help("Length of time per reconciliation per controller")
                          .Register(registry)
                          .Add({{"controller", controller}}, ReconcileBuckets())),
      max_concurrent_(prometheus::BuildGauge()
                          .Name("controller_runtime_max_concurrent_reconciles")
                          .Help("Maximum number of concurrent reconciles per controller")
                          .Register(registry)
                          .Add({{"controller", controller}})),
      active_workers_(prometheus::BuildGauge()
                          .Name("controller_runtime_active_workers")
                          .Help("Number of currently used workers per controller")
                          .Register(registry)
                          .Add({{"controller", controller}})),
      depth_(prometheus::BuildGauge()
                 .Name("workqueue_depth")
                 .Help("Current depth of workqueue")
                 .Register(registry)
                 .Add({{"name", controller}})),
      adds_(prometheus::BuildCounter()
                .Name("workqueue_adds_total")
                .Help("Total number of adds handled by workqueue")
                .Register(registry)
                .Add({{"name", controller}})),
      retries_(prometheus::BuildCounter()
                   .Name("workqueue_retries_total")
                   .Help("Total number of retries handled by workqueue")
                   .Register(registry)
                   .Add({{"name", controller}})),
      queue_duration_(prometheus::BuildHistogram()
                          .Name("workqueue_queue_duration_seconds")
                          .Help("How long in seconds an item stays in workqueue before being "
                                "requested")
                          .Register(registry)
                          .Add({{"name", controller}}, QueueBuckets())),
      work_duration_(prometheus::BuildHistogram()
                         .Name("workqueue_work_duration_seconds")
                         .Help("How long in seconds processing an item from workqueue takes")
                         .Register(registry)
                         .Add({{"name", controller}}, QueueBuckets())),
      leader_(prometheus::BuildGauge()
                  .Name("leader_election_master_status")
                  .Help("Gauge of if the reporting system is master of the relevant lease, 0 "
                        "indicates backup, 1 indicates master")
                  .Register(registry)
                  .Add({{"name", "botsec-operator"}})),
      sandboxes_(prometheus::BuildGauge()
                     .Name("botsec_sandboxes")
                     .Help("BotSandboxes this operator reconciles, by status.phase")
                     .Register(registry)),
      controller_(controller) {
  for (const char* result : {"success", "error", "requeue_after"}) {
    reconcile_total_.Add({{"controller", controller_}, {"result", result}});
  }
}

void ControllerMetrics::Added() {
  adds_.Increment();
  depth_.Increment();
}

void ControllerMetrics::Started(kube::Duration queued) {
  depth_.Decrement();
  queue_duration_.Observe(Seconds(queued));
}

void ControllerMetrics::Finished(kube::Duration worked) { work_duration_.Observe(Seconds(worked)); }

void ControllerMetrics::Retried() { retries_.Increment(); }

void ControllerMetrics::SetMaxConcurrentReconciles(int workers) {
  max_concurrent_.Set(static_cast<double>(workers));
}

void ControllerMetrics::WorkerActive(int delta) {
  active_workers_.Increment(static_cast<double>(delta));
}

void ControllerMetrics::Reconciled(std::string_view result, kube::Duration took) {
  reconcile_total_.Add({{"controller", controller_}, {"result", std::string(result)}}).Increment();
  if (result == "error") {
    reconcile_errors_.Increment();
  }
  reconcile_time_.Observe(Seconds(took));
}

void ControllerMetrics::SetLeader(bool leading) { leader_.Set(leading ? 1 : 0); }

void ControllerMetrics::SandboxPhase(const std::string& key,
                                     std::optional<std::string_view> phase) {
  std::lock_guard lock(mu_);
  auto known = phase_of_.find(key);
  if (known != phase_of_.end()) {
    if (phase && *phase == known->second) {
      return;
    }
    sandboxes_.Add({{"phase", known->second}}).Decrement();
    phase_of_.erase(known);
  }
  if (phase) {
    sandboxes_.Add({{"phase", std::string(*phase)}}).Increment();
    phase_of_.emplace(key, std::string(*phase));
  }
}

}  // namespace botsec::operator_reconcile
