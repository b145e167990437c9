#ifndef FERRY_CLIENT_STATUS_H_
#define FERRY_CLIENT_STATUS_H_

// Internal to the client library: absl::Status (from core and kernels) to ferry::Error.

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/error.h"

namespace ferry::detail {

// Throws `status` as a ferry::Error with the same code and message; does nothing if ok.
void ThrowIfError(const absl::Status& status);

// A failure a daemon reported inside one of its messages (a StepFailure, a BulkResponse) as a
// code and a message, as a status that is never OK: a code gRPC does not have (0 included)
// becomes UNKNOWN, and a failure with no message says so. `who` ("bulk channel: the daemon")
// begins those messages: "<who> answered code 99: ...".
absl::Status ReportedFailure(int code, const std::string& message, const std::string& who);

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  ThrowIfError(value.status());
  return *std::move(value);
}

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_STATUS_H_
