// Base64 (RFC 4648, standard alphabet) as used in kubeconfig `*-data` fields and Secrets.
#ifndef BOTSEC_CORE_BASE64_H_
#define BOTSEC_CORE_BASE64_H_

#include <string>
#include <string_view>

#include "botsec/core/result.h"

namespace botsec::core {

std::string Base64Encode(std::string_view bytes);
// Decodes padded or unpadded base64; ASCII whitespace is skipped. Anything else is an error
// naming the offending position.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_BASE64_H_
