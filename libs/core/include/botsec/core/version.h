// The build's identity, printed by every binary's `--version`.
#ifndef BOTSEC_CORE_VERSION_H_
#define BOTSEC_CORE_VERSION_H_

#include <string>
#include <string_view>

namespace botsec::core {

// The release version, e.g. "0.1.0".
std::string_view Version();
// The git commit the build came from, or "unknown" outside a checkout.
std::string_view GitCommit();
// "<program> <version> (commit <sha>)".
std::string VersionLine(std::string_view program);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_VERSION_H_
