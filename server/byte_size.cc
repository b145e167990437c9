#include "server/byte_size.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ferry::server {
namespace {

constexpr char kSuffixes[] = "KMGT";

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < rest.size() && absl::ascii_isdigit(rest[digits])) ++digits;
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a byte count (a whole number, optionally followed by K, M, G or T)"));
  };
  uint64_t number = 0;
  if (digits == 0 || !absl::SimpleAtoi(rest.substr(0, digits), &number)) return invalid();
  absl::string_view suffix = rest.substr(digits);
  int shift = 0;
  if (!suffix.empty()) {
    char unit = absl::ascii_toupper(suffix[0]);
    for (int i = 0; kSuffixes[i] != '\0'; ++i) {
      if (unit == kSuffixes[i]) shift = 10 * (i + 1);
    }
    if (shift == 0) return invalid();
    suffix.remove_prefix(1);
    if (suffix != "" && suffix != "B" && suffix != "iB" && suffix != "b" && suffix != "ib") {
      return invalid();
    }
  }
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (number > (kMax >> shift)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is too many bytes"));
  }
  return static_cast<int64_t>(number << shift);
}

std::string FormatByteSize(int64_t bytes) {
  for (int i = 3; i >= 0; --i) {
    int shift = 10 * (i + 1);
    if (bytes > 0 && bytes % (int64_t{1} << shift) == 0) {
      return absl::StrCat(bytes >> shift, std::string(1, kSuffixes[i]));
    }
  }
  return absl::StrCat(bytes);
}

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  absl::StatusOr<int64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) {
    *error = std::string(bytes.status().message());
    return false;
  }
  size->bytes = *bytes;
  return true;
}

std::string AbslUnparseFlag(ByteSize size) { return FormatByteSize(size.bytes); }

}  // namespace ferry::server
