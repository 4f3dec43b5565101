// The flags that make a SandboxSettings, declared and read the same way by botsec-operator, which
// renders sandboxes with them, and botsec-webhook, which judges the Pod a BotSandbox would render:
// the two must agree, or the webhook would admit a BotSandbox the operator then cannot run.
#ifndef BOTSEC_API_SETTINGS_FLAGS_H_
#define BOTSEC_API_SETTINGS_FLAGS_H_

#include "botsec/api/render.h"
#include "botsec/core/flags.h"
#include "botsec/core/result.h"

namespace botsec::api {

// Declares --namespace-prefix, --policy, --default-requests, --default-limits and
// --pod-security-version, with SandboxSettings' defaults.
void AddSandboxSettingsFlags(core::FlagSet& flags);

// Reads them. Errors (kInvalidArgument) name the flag and what is wrong:
// `--default-limits: memory: "lots" is not a positive quantity`.
core::Result<SandboxSettings> SandboxSettingsFromFlags(const core::ParsedFlags& flags);

}  // namespace botsec::api

#endif  // BOTSEC_API_SETTINGS_FLAGS_H_
