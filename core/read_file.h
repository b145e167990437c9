#ifndef FERRY_CORE_READ_FILE_H_
#define FERRY_CORE_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace ferry::core {

// The whole of the file at `path` (certificates, keys, token lists), or NOT_FOUND,
// PERMISSION_DENIED or INVALID_ARGUMENT "cannot read PATH: REASON".
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace ferry::core

#endif  // FERRY_CORE_READ_FILE_H_
