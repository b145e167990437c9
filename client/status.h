#ifndef FERRY_CLIENT_STATUS_H_
#define FERRY_CLIENT_STATUS_H_

// Internal to the client library: absl::Status (from core and kernels) to ferry::Error.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/error.h"

namespace ferry::detail {

// Throws `status` as a ferry::Error with the same code and message; does nothing if ok.
void ThrowIfError(const absl::Status& status);

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  ThrowIfError(value.status());
  return *std::move(value);
}

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_STATUS_H_
