#include "tests/fuzz/fuzz_target.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace ferry::fuzz {

void Check(bool holds, const std::string& what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what.c_str());
  std::abort();
}

bool IsClientError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

void CheckClientError(const absl::Status& status, const std::string& stage) {
  Check(IsClientError(status), absl::StrCat(stage, " answered ", status.ToString()));
}

}  // namespace ferry::fuzz
