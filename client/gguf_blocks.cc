#include "client/gguf_blocks.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/ops.h"
#include "client/quantized_codes.h"
#include "client/status.h"
#include "core/gguf_tensors.h"

namespace ferry::detail {
namespace {

// The blocks' bytes [from, to) of every block: uint8 [blocks, to - from].
Array Bytes(const Array& blocks, int64_t from, int64_t to) {
  return slice(blocks, {0, from}, {blocks.shape()[0], to});
}

// The float16 at byte `at` of every block, as float32 [blocks, 1].
Array Half(const Array& blocks, int64_t at) {
  return astype(view(Bytes(blocks, at, at + 2), float16), float32);
}

Array F32(const Array& a) { return astype(a, float32); }

// low | high << 4 (6 bits), less 32, in float32: the K- and i-quants' signed scales and
// Q6_K's codes.
Array SixBitsLess32(const Array& low, const Array& high) {
  return subtract(F32(bitwise_or(low, left_shift(high, 4))), 32.0f);
}

template <typename T>
std::vector<T> Range(int n, int step) {
  std::vector<T> values;
  for (int i = 0; i < n; ++i) values.push_back(static_cast<T>(i * step));
  return values;
}

// Fields packed in each byte, spread out: the bytes (uint8 [blocks, groups * width])
// regrouped as [blocks, groups, 1, width], shifted right by each of `shifts` along the 1 (a
// copy per shift), masked with `mask`, and reshaped to `to`.
Array Unpack(const Array& bytes, int64_t groups, int64_t width, const std::vector<uint8_t>& shifts,
             int mask, const Shape& to) {
  const int64_t b = bytes.shape()[0];
  const Array spread = right_shift(
      reshape(bytes, {b, groups, 1, width}),
      from_host(shifts, {1, 1, static_cast<int64_t>(shifts.size()), 1}, bytes.device()));
  return reshape(bitwise_and(spread, mask), to);
}

// 4-bit codes of 8 sub-blocks of 32 from 128 bytes: the first of each pair in the low
// nibbles, the second in the high ones. uint8 [blocks, 8, 32].
Array Nibbles(const Array& codes) {
  return Unpack(codes, 4, 32, {0, 4}, 0x0F, {codes.shape()[0], 8, 32});
}

// Bits 0-7 of 32 bytes, one sub-block each: uint8 [blocks, 8, 32] of 0 and 1.
Array BitPlanes(const Array& bytes) {
  return Unpack(bytes, 1, 32, Range<uint8_t>(8, 1), 1, {bytes.shape()[0], 8, 32});
}

// 2-bit codes from 64 bytes: element 128 h + 32 k + j is bits 2k of byte 32 h + j.
// uint8 [blocks, 16, 16].
Array TwoBitCodes(const Array& codes) {
  return Unpack(codes, 2, 32, Range<uint8_t>(4, 2), 3, {codes.shape()[0], 16, 16});
}

// Q4_K's and Q5_K's 8 6-bit scales and mins from their 12 bytes, each uint8 [blocks, 8].
std::pair<Array, Array> ScalesAndMins(const Array& packed) {
  const Array d = Bytes(packed, 0, 4);
  const Array m = Bytes(packed, 4, 8);
  const Array both = Bytes(packed, 8, 12);
  Array scales =
      concatenate({bitwise_and(d, 0x3F),
                   bitwise_or(bitwise_and(both, 0x0F), bitwise_and(right_shift(d, 2), 0x30))},
                  1);
  Array mins = concatenate({bitwise_and(m, 0x3F),
                            bitwise_or(right_shift(both, 4), bitwise_and(right_shift(m, 2), 0x30))},
                           1);
  return {scales, mins};
}

// Q5_0 and Q5_1: d * (code - 16), or d * code + m; the fifth bits in a uint32.
Array Q5(const Array& blocks, bool with_min) {
  const int64_t b = blocks.shape()[0];
  const int64_t at = with_min ? 4 : 2;
  const Array fifth = view(Bytes(blocks, at, at + 4), uint32);  // [b, 1]
  const Array high = astype(
      bitwise_and(right_shift(fifth, from_host(Range<uint32_t>(32, 1), {1, 32}, blocks.device())),
                  1),
      uint8);
  const Array low = Unpack(Bytes(blocks, at + 4, at + 20), 1, 16, {0, 4}, 0x0F, {b, 32});
  const Array code = F32(bitwise_or(low, left_shift(high, 4)));
  const Array d = Half(blocks, 0);
  if (with_min) return add(multiply(d, code), Half(blocks, 2));
  return multiply(d, subtract(code, 16.0f));
}

// Q2_K: per 16 elements, (d * low nibble) * code - dmin * high nibble.
Array Q2K(const Array& blocks) {
  const int64_t b = blocks.shape()[0];
  const Array scales = Bytes(blocks, 0, 16);
  const Array step =
      reshape(multiply(Half(blocks, 80), F32(bitwise_and(scales, 0x0F))), {b, 16, 1});
  const Array offset = reshape(multiply(Half(blocks, 82), F32(right_shift(scales, 4))), {b, 16, 1});
  return subtract(multiply(step, F32(TwoBitCodes(Bytes(blocks, 16, 80)))), offset);
}

// Q3_K: per 16 elements, d * (6-bit scale - 32) * code, a code being its 2 bits less 4 where
// its high bit is clear.
Array Q3K(const Array& blocks) {
  const int64_t b = blocks.shape()[0];
  const Array low = Unpack(Bytes(blocks, 96, 104), 1, 8, {0, 4}, 0x0F, {b, 16});
  const Array high = Unpack(Bytes(blocks, 104, 108), 1, 4, Range<uint8_t>(4, 2), 3, {b, 16});
  const Array scale = SixBitsLess32(low, high);
  const Array step = reshape(multiply(Half(blocks, 108), scale), {b, 16, 1});
  const Array clear = subtract(1, reshape(BitPlanes(Bytes(blocks, 0, 32)), {b, 16, 16}));
  const Array code = subtract(F32(TwoBitCodes(Bytes(blocks, 32, 96))), F32(left_shift(clear, 2)));
  return multiply(step, code);
}

// A Q4_K or Q5_K block's sub-blocks of 32: each value is step * code - offset.
struct KQuantParts {
  Array step;    // d * scale, float32 [blocks, 8, 1]
  Array offset;  // dmin * min, float32 [blocks, 8, 1]
  Array code;    // uint8 [blocks, 8, 32]
};

KQuantParts Q45KParts(const Array& blocks, bool five) {
  const int64_t b = blocks.shape()[0];
  const auto [scales, mins] = ScalesAndMins(Bytes(blocks, 4, 16));
  Array code = Nibbles(Bytes(blocks, five ? 48 : 16, five ? 176 : 144));
  if (five) code = bitwise_or(code, left_shift(BitPlanes(Bytes(blocks, 16, 48)), 4));
  return {reshape(multiply(Half(blocks, 0), F32(scales)), {b, 8, 1}),
          reshape(multiply(Half(blocks, 2), F32(mins)), {b, 8, 1}), code};
}

// Q4_K and Q5_K: per sub-block of 32, (d * scale) * code - dmin * min.
Array Q45K(const Array& blocks, bool five) {
  const KQuantParts parts = Q45KParts(blocks, five);
  return subtract(multiply(parts.step, F32(parts.code)), parts.offset);
}

// Q6_K: per 16 elements, (d * int8 scale) * (6-bit code - 32).
Array Q6K(const Array& blocks) {
  const int64_t b = blocks.shape()[0];
  const Array step =
      reshape(multiply(Half(blocks, 208), F32(view(Bytes(blocks, 192, 208), int8))), {b, 16, 1});
  const Array low = Unpack(Bytes(blocks, 0, 128), 2, 64, {0, 4}, 0x0F, {b, 8, 32});
  const Array high = Unpack(Bytes(blocks, 128, 192), 2, 32, Range<uint8_t>(4, 2), 3, {b, 8, 32});
  const Array code = SixBitsLess32(low, high);
  return multiply(step, reshape(code, {b, 16, 16}));
}

// The i-quants' 16 non-linear levels (llama.cpp's kvalues_iq4nl), indexed by `codes`:
// float32 of codes' shape.
Array NonLinearLevels(const Array& codes) {
  static const std::vector<float> kLevels = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};
  return take(from_host(kLevels, {16}, codes.device()), codes);
}

// IQ4_NL: per block of 32, d * level.
Array IQ4NL(const Array& blocks) {
  const int64_t b = blocks.shape()[0];
  const Array codes = Unpack(Bytes(blocks, 2, 18), 1, 16, {0, 4}, 0x0F, {b, 32});
  return multiply(Half(blocks, 0), NonLinearLevels(codes));
}

// IQ4_XS: per sub-block of 32, (d * (6-bit scale - 32)) * level; the scales' low 4 bits
// in nibbles, their high 2 in a uint16.
Array IQ4XS(const Array& blocks) {
  const int64_t b = blocks.shape()[0];
  const Array low = Unpack(Bytes(blocks, 4, 8), 4, 1, {0, 4}, 0x0F, {b, 8});
  const Array high = Unpack(Bytes(blocks, 2, 4), 2, 1, Range<uint8_t>(4, 2), 3, {b, 8});
  const Array scale = SixBitsLess32(low, high);
  const Array step = reshape(multiply(Half(blocks, 0), scale), {b, 8, 1});
  const Array codes = Unpack(Bytes(blocks, 8, 136), 8, 16, {0, 4}, 0x0F, {b, 8, 32});
  return multiply(step, NonLinearLevels(codes));
}

}  // namespace

Array DequantizeGgufBlocks(const Array& blocks, uint32_t type, const Shape& shape) {
  Array values = [&] {
    switch (type) {
      case core::kGgmlQ5_0:
        return Q5(blocks, false);
      case core::kGgmlQ5_1:
        return Q5(blocks, true);
      case core::kGgmlQ2_K:
        return Q2K(blocks);
      case core::kGgmlQ3_K:
        return Q3K(blocks);
      case core::kGgmlQ4_K:
        return Q45K(blocks, false);
      case core::kGgmlQ5_K:
        return Q45K(blocks, true);
      case core::kGgmlQ6_K:
        return Q6K(blocks);
      case core::kGgmlIQ4_NL:
        return IQ4NL(blocks);
      case core::kGgmlIQ4_XS:
        return IQ4XS(blocks);
      default:
        ThrowIfError(absl::InvalidArgumentError(
            absl::StrCat("[load_gguf] ", core::GgmlTypeName(type), " is not dequantized here")));
        return blocks;
    }
  }();
  return reshape(astype(values, float16), shape);
}

std::vector<Array> AffineFromGgufBlocks(const Array& blocks, uint32_t type, const Shape& shape) {
  if (type != core::kGgmlQ4_K && type != core::kGgmlQ5_K) {
    ThrowIfError(absl::InvalidArgumentError(
        absl::StrCat("[load_gguf] ", core::GgmlTypeName(type), " is not made affine here")));
  }
  const bool five = type == core::kGgmlQ5_K;
  const KQuantParts parts = Q45KParts(blocks, five);
  Shape groups = shape;
  groups.back() /= 32;
  return {PackCodes(reshape(astype(parts.code, uint32), shape), five ? 5 : 4),
          reshape(parts.step, groups), reshape(negative(parts.offset), groups)};
}

}  // namespace ferry::detail
