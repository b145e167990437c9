#ifndef FERRY_SERVER_BYTE_SIZE_H_
#define FERRY_SERVER_BYTE_SIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::server {

// A byte count as flags take it: "1048576", "512K", "64M", "8G", "1T" (binary multiples;
// "64MiB" and "64MB" mean the same as "64M").
struct ByteSize {
  int64_t bytes = 0;
};

// The count `text` names, or INVALID_ARGUMENT for anything else (negative, unknown
// suffix, or past 2^63 - 1 bytes).
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// "64M" when the count is a whole multiple, else the plain number.
std::string FormatByteSize(int64_t bytes);

// Abseil flag support, so flags can be declared as ABSL_FLAG(ByteSize, ...).
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

}  // namespace ferry::server

#endif  // FERRY_SERVER_BYTE_SIZE_H_
