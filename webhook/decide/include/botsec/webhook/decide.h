// The webhook's decision, as one pure function: Decide(request, settings, facts) says whether to
// admit an AdmissionRequest and why not, dispatching on its resource and subresource. No I/O:
// what needs the API server (is the namespace terminating? may this user read that Secret?) is
// looked up by the shell and passed in as facts, or asked for in the Decision.
//
// Concerns, each registered by its own webhook entry (docs/webhook.md):
//  - pod: pods CREATE/UPDATE, pods/ephemeralcontainers, pods/resize, judged in full with the
//    policy (also with deletionTimestamp set), except an UPDATE that only removes finalizers or
//    owner references. pods/status and pods/binding pass; any other subresource is refused (the
//    configuration names exactly those that change a pod's spec: one it does not know is a
//    mistake, and refusing it is the safe side).
//  - workload: Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
//    ReplicationControllers and PodTemplates, by their pod template.
//  - botsandbox: the Pod it would render is judged, its requests held to the administrator's
//    bounds, and every Secret it names listed for a SubjectAccessReview as the requesting user.
//  - fence: NetworkPolicies, ResourceQuotas, LimitRanges, Roles, RoleBindings and Services in
//    sandbox namespaces are the operator's alone; deletions pass while the namespace terminates.
//  - namespace: only the operator sets or changes botsec.io/* labels and annotations and the Pod
//    Security labels of a sandbox namespace.
// A refusal lists every violation, one per line, `field.path: reason`; in warn mode the same
// lines come back as warnings and the request is admitted.
#ifndef BOTSEC_WEBHOOK_DECIDE_H_
#define BOTSEC_WEBHOOK_DECIDE_H_

#include <string>
#include <string_view>
#include <vector>

#include "botsec/api/render.h"
#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "botsec/webhook/review.h"

namespace botsec::webhook {

struct WebhookSettings {
  // The administrator's policy (profile, checks, exemptions, sandbox bounds) and how the operator
  // renders sandboxes; settings.sandbox.policy is the policy judged with.
  api::SandboxSettings sandbox;
  // The operator's identity: the only user that may touch a sandbox's fences.
  std::string operator_username = "system:serviceaccount:botsec-system:botsec-operator";
  bool warn_only = false;  // admit with warnings instead of refusing
};

// What the shell looked up for this request.
struct RequestFacts {
  bool namespace_terminating = false;
};

struct Decision {
  AdmissionVerdict verdict;
  std::string concern;  // "pod", "workload", "botsandbox", "fence", "namespace", "other"
  std::vector<policy::Violation> violations;
  // BotSandbox: Secrets (in the request's namespace) the requesting user must be allowed to `get`;
  // the shell asks, then calls DenyUnreadableSecrets.
  std::vector<std::string> secrets_to_authorize;
};

Decision Decide(const AdmissionRequest& request, const WebhookSettings& settings,
                const RequestFacts& facts);

// Adds a violation for each Secret in `unreadable` (the user may not get it) and recomputes the
// verdict.
void DenyUnreadableSecrets(Decision& decision, const std::vector<std::string>& unreadable,
                           const AdmissionRequest& request, const WebhookSettings& settings);

// Whether `updated` differs from `old` only by finalizers or owner references it dropped (and
// the bookkeeping the server changes on every write).
bool OnlyDropsFinalizersOrOwners(const Json& old, const Json& updated);

}  // namespace botsec::webhook

#endif  // BOTSEC_WEBHOOK_DECIDE_H_
