// Turns an API server's error answer (a metav1.Status, or whatever a proxy sent) into an Error
// whose code says what to do: retry, relist, re-read, give up.
#ifndef BOTSEC_KUBE_STATUS_H_
#define BOTSEC_KUBE_STATUS_H_

#include <string_view>

#include "botsec/core/result.h"

namespace botsec::kube {

// `http_status` and `body` of a non-2xx answer; `retry_after` is the Retry-After header (seconds)
// or empty. The message is the Status' own, or the body's first line when it is not a Status.
// Invalid answers keep each cause with its field path.
core::Error DecodeStatus(int http_status, std::string_view body, std::string_view retry_after);

}  // namespace botsec::kube

#endif  // BOTSEC_KUBE_STATUS_H_
