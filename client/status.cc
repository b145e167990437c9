#include "client/status.h"

#include <string>

namespace ferry::detail {

void ThrowIfError(const absl::Status& status) {
  if (status.ok()) return;
  throw Error(static_cast<ErrorCode>(status.code()), std::string(status.message()));
}

}  // namespace ferry::detail
