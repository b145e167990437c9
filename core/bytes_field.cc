#include "core/bytes_field.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

// Reads across the pieces of one message.
class Cursor {
 public:
  explicit Cursor(absl::Span<const ByteSpan> pieces) : pieces_(pieces) { SkipEmpty(); }

  bool done() const { return piece_ == pieces_.size(); }
  size_t position() const { return consumed_; }

  bool ReadByte(uint8_t* byte) {
    if (done()) return false;
    *byte = static_cast<uint8_t>(pieces_[piece_].data[at_]);
    Advance(1);
    return true;
  }

  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte;
      if (!ReadByte(&byte)) return false;
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Passes over `bytes` bytes, handing each piece of them to `take`.
  template <typename F>
  bool Take(uint64_t bytes, F take) {
    while (bytes > 0) {
      if (done()) return false;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes, pieces_[piece_].size - at_));
      take(ByteSpan{pieces_[piece_].data + at_, n});
      Advance(n);
      bytes -= n;
    }
    return true;
  }

 private:
  void Advance(size_t n) {
    at_ += n;
    consumed_ += n;
    if (at_ == pieces_[piece_].size) {
      ++piece_;
      at_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (piece_ < pieces_.size() && pieces_[piece_].size == 0) ++piece_;
  }

  absl::Span<const ByteSpan> pieces_;
  size_t piece_ = 0;
  size_t at_ = 0;
  size_t consumed_ = 0;
};

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

absl::Status Malformed(size_t position, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed message at byte ", position, ": ", what));
}

}  // namespace

absl::StatusOr<SplitMessage> SplitBytesField(absl::Span<const ByteSpan> pieces, int field_number) {
  SplitMessage split;
  bool seen = false;
  Cursor cursor(pieces);
  auto keep = [&split](ByteSpan span) { split.rest.append(span.data, span.size); };
  while (!cursor.done()) {
    const size_t start = cursor.position();
    uint64_t tag;
    if (!cursor.ReadVarint(&tag)) return Malformed(start, "truncated tag");
    const uint64_t number = tag >> 3;
    const int wire_type = static_cast<int>(tag & 7);
    if (number == 0) return Malformed(start, "field number 0");
    if (number == static_cast<uint64_t>(field_number)) {
      if (wire_type != 2) return Malformed(start, "the payload field is not length-delimited");
      if (seen) {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", field_number, " appears more than once in one message"));
      }
      seen = true;
      uint64_t length;
      if (!cursor.ReadVarint(&length)) return Malformed(start, "truncated length");
      split.field_bytes = static_cast<size_t>(length);
      if (!cursor.Take(length, [&split](ByteSpan span) { split.field.push_back(span); })) {
        return Malformed(start, "the payload runs past the message");
      }
      continue;
    }
    AppendVarint(tag, &split.rest);
    bool ok = true;
    switch (wire_type) {
      case 0: {
        uint64_t value;
        ok = cursor.ReadVarint(&value);
        if (ok) AppendVarint(value, &split.rest);
        break;
      }
      case 1:
        ok = cursor.Take(8, keep);
        break;
      case 2: {
        uint64_t length;
        ok = cursor.ReadVarint(&length);
        if (ok) {
          AppendVarint(length, &split.rest);
          ok = cursor.Take(length, keep);
        }
        break;
      }
      case 5:
        ok = cursor.Take(4, keep);
        break;
      default:
        return Malformed(start, absl::StrCat("wire type ", wire_type, " is not supported"));
    }
    if (!ok) return Malformed(start, "truncated field");
  }
  return split;
}

std::string BytesFieldPrefix(int field_number, size_t length) {
  std::string prefix;
  AppendVarint((static_cast<uint64_t>(field_number) << 3) | 2, &prefix);
  AppendVarint(length, &prefix);
  return prefix;
}

}  // namespace ferry::core
