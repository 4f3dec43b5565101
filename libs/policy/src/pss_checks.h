// The Pod Security Standards checks of Kubernetes v1.37, one function each, over either JSON view.
#ifndef BOTSEC_POLICY_SRC_PSS_CHECKS_H_
#define BOTSEC_POLICY_SRC_PSS_CHECKS_H_

#include <vector>

#include "botsec/policy/engine.h"
#include "json_fields.h"

namespace botsec::policy::internal {

enum class Level { kBaseline, kRestricted };

struct PssOptions {
  Level level = Level::kRestricted;
  // Upstream exempts pods with spec.os.name "windows" from three restricted checks.
  bool windows_exemptions = true;
};

// Appends every violation of the level's checks (restricted includes baseline, with upstream's
// overrides) to `out`.
// `containers` are ContainersOf(ref).
template <typename View>
void CheckPodSecurity(const PodTemplateRef<View>& ref,
                      const std::vector<ContainerRef<View>>& containers, const PssOptions& options,
                      std::vector<Violation>& out);

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_PSS_CHECKS_H_
