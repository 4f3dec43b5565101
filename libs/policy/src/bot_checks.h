// The checks the bot profile adds to Pod Security's restricted level: what PSA does not look at
// but a sandbox for untrusted code needs.
#ifndef BOTSEC_POLICY_SRC_BOT_CHECKS_H_
#define BOTSEC_POLICY_SRC_BOT_CHECKS_H_

#include <vector>

#include "botsec/policy/engine.h"
#include "botsec/policy/policy.h"
#include "json_fields.h"

namespace botsec::policy::internal {

// Appends every violation of the bot checks configured in `checks` to `out`.
// `containers` are ContainersOf(ref).
template <typename View>
void CheckBot(const PodTemplateRef<View>& ref, const std::vector<ContainerRef<View>>& containers,
              const BotChecks& checks, std::vector<Violation>& out);

// The image reference with its registry and, for Docker Hub, "library/" spelled out:
// "nginx" -> "docker.io/library/nginx".
std::string NormalizeImage(std::string_view image);

}  // namespace botsec::policy::internal

#endif  // BOTSEC_POLICY_SRC_BOT_CHECKS_H_
