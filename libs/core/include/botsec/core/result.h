// Errors as values, shared by every BotSec library.
//
// A fallible function returns Result<T>: either a T or an Error whose code tells the caller what to
// do next (retry, relist, give up, report). Exceptions thrown by third-party libraries are caught
// in the adapter that calls them and turned into an Error; none crosses a module boundary.
#ifndef BOTSEC_CORE_RESULT_H_
#define BOTSEC_CORE_RESULT_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace botsec::core {

// What went wrong, in the vocabulary of the Kubernetes API (metav1.StatusReason) where one fits.
enum class ErrorCode {
  kInvalidArgument,  // the input is wrong; retrying the same input cannot help
  kNotFound,
  kAlreadyExists,
  kConflict,  // a precondition (resourceVersion, uid) no longer holds: re-read and retry
  kGone,      // the resourceVersion is too old: relist
  kForbidden,
  kUnauthorized,
  kTooManyRequests,  // back off, honouring any Retry-After
  kTimeout,
  kUnavailable,  // the peer could not be reached or is not ready: retry with backoff
  kInternal,     // a bug or an unexpected answer
};

// The stable lower-case name of a code, for logs and messages ("not_found").
std::string_view ErrorCodeName(ErrorCode code);

// One problem with one field, as metav1.StatusCause carries it: `field` is a path such as
// `spec.containers[0].image`, `reason` apimachinery's word ("FieldValueRequired").
struct Cause {
  std::string field;
  std::string reason;
  std::string message;
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // Set when the error came from an HTTP answer (the status code); 0 otherwise.
  int http_status = 0;
  // The server's Retry-After, when it sent one (TooManyRequests, some Unavailable).
  std::chrono::seconds retry_after{0};
  // Field-level details (Invalid).
  std::vector<Cause> causes;

  // Prefixes the message with context, keeping the code: "reading kubeconfig: <message>".
  [[nodiscard]] Error Wrap(std::string_view context) const;
};

template <typename T>
using Result = tl::expected<T, Error>;

// An Error with just a code and a message.
inline Error MakeError(ErrorCode code, std::string message) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  return error;
}

// Builds the error side of a Result: `return Fail(ErrorCode::kNotFound, "no such node");`.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(MakeError(code, std::move(message)));
}

inline tl::unexpected<Error> Fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

}  // namespace botsec::core

#endif  // BOTSEC_CORE_RESULT_H_
