// The imperative shell around operator/plan: informers for BotSandboxes and everything a sandbox
// is made of, a work queue of BotSandbox keys, and Reconcile(key), which gathers what the caches
// hold into `Observed`, asks Plan what to do, and does it with server-side apply under the field
// manager botsec-operator.
//
// Children are watched, not polled: an edit or delete of any of them maps back, through the
// sandbox namespace's owner annotation, to its BotSandbox's key. What a write returned counts as
// current until the caches show it (RecentWrites), so no write is sent twice.
//
// Thread-safety: Run starts and owns every thread; Reconcile may run on several workers at once,
// never for the same key (the work queue guarantees it).
#ifndef BOTSEC_OPERATOR_RECONCILER_H_
#define BOTSEC_OPERATOR_RECONCILER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "botsec/api/render.h"
#include "botsec/core/clock.h"
#include "botsec/core/result.h"
#include "botsec/kube/client.h"
#include "botsec/kube/events.h"
#include "botsec/kube/informer.h"
#include "botsec/kube/work_queue.h"
#include "botsec/operator/metrics.h"
#include "botsec/operator/plan.h"
#include "botsec/operator/recent_writes.h"

namespace botsec::operator_reconcile {

using api::Json;

inline constexpr std::string_view kFieldManager = "botsec-operator";

struct ReconcilerOptions {
  api::SandboxSettings settings;
  int workers = 2;
  // Every BotSandbox is reconciled again this often even when nothing changed.
  std::chrono::seconds resync_period{600};
  // Only BotSandboxes of this namespace; "" for every namespace.
  std::string watch_namespace;
  // Where to report (controller-runtime's metrics); none when null. Must outlive the Reconciler.
  ControllerMetrics* metrics = nullptr;
};

class Reconciler {
 public:
  Reconciler(kube::Client client, core::Clock& clock, ReconcilerOptions options);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Starts the informers and, once every cache has synced, the workers; returns when `stop` is
  // requested and every thread has been joined.
  void Run(const std::stop_token& stop);

  // True once every informer has listed.
  [[nodiscard]] bool Synced() const;
  // Reconciles one BotSandbox ("namespace/name"). On success, when to look again (if ever).
  core::Result<std::optional<std::chrono::seconds>> Reconcile(const std::string& key);

  // Renders and judges with `policy` from now on (a reloaded --policy), and reconciles every
  // BotSandbox again under it. Safe to call from any thread.
  void SetPolicy(policy::Policy policy);

  // Reconciles so far, and those that failed.
  [[nodiscard]] std::uint64_t reconciles() const { return reconciles_.load(); }
  [[nodiscard]] std::uint64_t failures() const { return failures_.load(); }

 private:
  struct Informers;

  operator_plan::Observed Gather(const api::BotSandbox& sandbox) const;
  core::Result<void> Execute(const Json& object, const api::BotSandbox& sandbox,
                             const operator_plan::ReconcilePlan& plan);
  void Work(const std::stop_token& stop);
  std::vector<std::string> OwnersOfChild(const Json& child) const;
  std::vector<std::string> OwnersOfSecret(const Json& secret) const;

  kube::Client client_;
  core::Clock& clock_;
  // The settings as they are now: options_.settings with the policy last set.
  [[nodiscard]] api::SandboxSettings Settings() const;

  ReconcilerOptions options_;
  mutable std::mutex policy_mu_;  // guards options_.settings.policy
  std::unique_ptr<Informers> informers_;
  kube::WorkQueue queue_;
  kube::EventRecorder events_;
  mutable RecentWrites recent_;  // locks inside; Gather drops what the caches caught up with
  std::atomic<std::uint64_t> reconciles_{0};
  std::atomic<std::uint64_t> failures_{0};
};

// Where a kind the operator writes lives in the API.
core::Result<kube::Resource> ResourceOfKind(std::string_view kind);

}  // namespace botsec::operator_reconcile

#endif  // BOTSEC_OPERATOR_RECONCILER_H_
