// Stable hashes for names and fingerprints: the same on every build and run, which std::hash does
// not promise. Not for security.
#ifndef BOTSEC_CORE_HASH_H_
#define BOTSEC_CORE_HASH_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace botsec::core {

// 64-bit FNV-1a.
std::uint64_t Fnv1a64(std::string_view text);

// `value` as 16 lower-case hex digits.
std::string Hex64(std::uint64_t value);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_HASH_H_
