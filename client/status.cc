#include "client/status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::detail {

void ThrowIfError(const absl::Status& status) {
  if (status.ok()) return;
  throw Error(static_cast<ErrorCode>(status.code()), std::string(status.message()));
}

absl::Status ReportedFailure(int code, const std::string& message, const std::string& who) {
  if (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(absl::StrCat(who, " answered code ", code, ": ", message));
  }
  const auto status_code = static_cast<absl::StatusCode>(code);
  if (message.empty()) {
    return absl::Status(
        status_code,
        absl::StrCat(who, " answered ", absl::StatusCodeToString(status_code), " with no message"));
  }
  return absl::Status(status_code, message);
}

}  // namespace ferry::detail
