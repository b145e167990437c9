#ifndef FERRY_CORE_BYTES_FIELD_H_
#define FERRY_CORE_BYTES_FIELD_H_

// Bulk transfers move a serialized protobuf message whose one large `bytes` field is the
// payload. These split such a message (as gRPC hands it over, in pieces) into the payload's
// pieces and everything else, without copying the payload, and build the few bytes that
// put a payload behind a serialized message.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ferry::core {

struct ByteSpan {
  const char* data = nullptr;
  size_t size = 0;
};

struct SplitMessage {
  std::string rest;             // every other field, still a serialized message
  std::vector<ByteSpan> field;  // the field's bytes: pieces of the input, in order
  size_t field_bytes = 0;       // their total size
};

// Takes length-delimited field `field_number` out of the serialized message `pieces`.
// INVALID_ARGUMENT for malformed wire data, for a group, or when the field appears more
// than once (a sender sends it once; merging would cost the copy this avoids).
absl::StatusOr<SplitMessage> SplitBytesField(absl::Span<const ByteSpan> pieces, int field_number);

// The tag and length that, appended to a serialized message, start a `length`-byte value
// of length-delimited field `field_number`.
std::string BytesFieldPrefix(int field_number, size_t length);

}  // namespace ferry::core

#endif  // FERRY_CORE_BYTES_FIELD_H_
