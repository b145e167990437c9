#include "core/gguf_tensors.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/half.h"

namespace ferry::core {
namespace {

// A type ferry loads: its blocks (elements and bytes) and, for those that load as they
// are, the dtype.
struct Layout {
  int64_t block_elements;
  int64_t block_bytes;
  bool as_is;
  DType dtype;
};

bool LayoutOf(uint32_t type, Layout* layout) {
  switch (type) {
    case kGgmlF32:
      *layout = {1, 4, true, DType::kFloat32};
      return true;
    case kGgmlF16:
      *layout = {1, 2, true, DType::kFloat16};
      return true;
    case kGgmlBF16:
      *layout = {1, 2, true, DType::kBFloat16};
      return true;
    case kGgmlF64:
      *layout = {1, 8, true, DType::kFloat64};
      return true;
    case kGgmlI8:
      *layout = {1, 1, true, DType::kInt8};
      return true;
    case kGgmlI16:
      *layout = {1, 2, true, DType::kInt16};
      return true;
    case kGgmlI32:
      *layout = {1, 4, true, DType::kInt32};
      return true;
    case kGgmlI64:
      *layout = {1, 8, true, DType::kInt64};
      return true;
    case kGgmlQ4_0:
      *layout = {32, 18, false, DType::kUInt32};
      return true;
    case kGgmlQ4_1:
      *layout = {32, 20, false, DType::kUInt32};
      return true;
    case kGgmlQ8_0:
      *layout = {32, 34, false, DType::kUInt32};
      return true;
    case kGgmlQ4_K:
      *layout = {256, 144, false, DType::kFloat16};
      return true;
    case kGgmlQ5_0:
      *layout = {32, 22, false, DType::kFloat16};
      return true;
    case kGgmlQ5_1:
      *layout = {32, 24, false, DType::kFloat16};
      return true;
    case kGgmlQ2_K:
      *layout = {256, 84, false, DType::kFloat16};
      return true;
    case kGgmlQ3_K:
      *layout = {256, 110, false, DType::kFloat16};
      return true;
    case kGgmlQ5_K:
      *layout = {256, 176, false, DType::kFloat16};
      return true;
    case kGgmlQ6_K:
      *layout = {256, 210, false, DType::kFloat16};
      return true;
    default:
      return false;
  }
}

// The elements of `shape`, or -1 past 2^56 (no file holds that many).
int64_t Elements(const std::vector<int64_t>& shape) {
  constexpr int64_t kLimit = int64_t{1} << 56;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && n > kLimit / d)) return -1;
    n *= d;
  }
  return n;
}

float HalfAt(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return Float16::ToFloat(bits);
}
void PutHalf(float value, char* dst) {
  const uint16_t bits = Float16::FromFloat(value);
  std::memcpy(dst, &bits, 2);
}

// A Q4_0 or Q4_1 block's 32 4-bit codes (codes 0-15 in the low nibbles of src[0..15],
// 16-31 in the high ones) in MLX's packing: code k in the low (even k) or high (odd k)
// nibble of byte k / 2.
void PackNibbles(const uint8_t* src, uint8_t* dst) {
  for (int k = 0; k < 8; ++k) {
    dst[k] = static_cast<uint8_t>((src[2 * k] & 0x0F) | (src[2 * k + 1] & 0x0F) << 4);
    dst[8 + k] = static_cast<uint8_t>((src[2 * k] >> 4) | (src[2 * k + 1] >> 4) << 4);
  }
}

}  // namespace

std::string GgmlTypeName(uint32_t type) {
  switch (type) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 6:
      return "Q5_0";
    case 7:
      return "Q5_1";
    case 8:
      return "Q8_0";
    case 9:
      return "Q8_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case 14:
      return "Q6_K";
    case 15:
      return "Q8_K";
    case 16:
      return "IQ2_XXS";
    case 17:
      return "IQ2_XS";
    case 18:
      return "IQ3_XXS";
    case 19:
      return "IQ1_S";
    case 20:
      return "IQ4_NL";
    case 21:
      return "IQ3_S";
    case 22:
      return "IQ2_S";
    case 23:
      return "IQ4_XS";
    case 24:
      return "I8";
    case 25:
      return "I16";
    case 26:
      return "I32";
    case 27:
      return "I64";
    case 28:
      return "F64";
    case 29:
      return "IQ1_M";
    case 30:
      return "BF16";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 39:
      return "MXFP4";
    default:
      return absl::StrCat("type ", type);
  }
}

absl::StatusOr<uint64_t> GgmlBytes(uint32_t type, const std::vector<int64_t>& shape) {
  Layout layout;
  if (!LayoutOf(type, &layout)) {
    return absl::InvalidArgumentError(absl::StrCat(
        GgmlTypeName(type),
        " is not a type ferry reads (F32, F16, BF16, F64, I8, I16, I32, I64, Q4_0, Q4_1, Q5_0, "
        "Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"));
  }
  const int64_t last = shape.empty() ? 1 : shape.back();
  if (last % layout.block_elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(GgmlTypeName(type), " blocks of ", layout.block_elements,
                     " elements do not divide its last dimension, ", last));
  }
  const int64_t elements = Elements(shape);
  if (elements < 0) {
    return absl::InvalidArgumentError("it has more than 2^56 elements");
  }
  return static_cast<uint64_t>(elements / layout.block_elements * layout.block_bytes);
}

bool GgmlLoadsAsIs(uint32_t type) {
  Layout layout;
  return LayoutOf(type, &layout) && (layout.as_is || layout.dtype == DType::kFloat16);
}

absl::StatusOr<uint32_t> GgmlTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return kGgmlF32;
    case DType::kFloat16:
      return kGgmlF16;
    case DType::kBFloat16:
      return kGgmlBF16;
    case DType::kFloat64:
      return kGgmlF64;
    case DType::kInt8:
      return kGgmlI8;
    case DType::kInt16:
      return kGgmlI16;
    case DType::kInt32:
      return kGgmlI32;
    case DType::kInt64:
      return kGgmlI64;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF has no tensor type for ", DTypeName(dtype),
          " (float32, float16, bfloat16, float64, int8, int16, int32 and int64 are written)"));
  }
}

absl::StatusOr<std::vector<GgufArray>> GgufArraysOf(const GgufTensor& tensor) {
  Layout layout;
  absl::StatusOr<uint64_t> nbytes = GgmlBytes(tensor.type, tensor.shape);
  if (!nbytes.ok() || !LayoutOf(tensor.type, &layout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", tensor.name, ": ", nbytes.status().message()));
  }
  if (layout.as_is) return std::vector<GgufArray>{{tensor.name, layout.dtype, tensor.shape}};
  if (layout.dtype == DType::kFloat16) {  // the blocks, dequantized on the device
    const int64_t blocks = static_cast<int64_t>(*nbytes) / layout.block_bytes;
    return std::vector<GgufArray>{
        {tensor.name, DType::kUInt8, {blocks, layout.block_bytes}, tensor.shape}};
  }
  if (tensor.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", tensor.name, ": a quantized tensor needs a dimension"));
  }
  const int bits = tensor.type == kGgmlQ8_0 ? 8 : 4;
  std::vector<int64_t> codes = tensor.shape, groups = tensor.shape;
  codes.back() = codes.back() * bits / 32;
  groups.back() = groups.back() / 32;
  const std::string prefix = absl::EndsWith(tensor.name, ".weight")
                                 ? tensor.name.substr(0, tensor.name.size() - 7)
                                 : tensor.name;
  return std::vector<GgufArray>{{tensor.name, DType::kUInt32, codes},
                                {prefix + ".scales", DType::kFloat16, groups},
                                {prefix + ".biases", DType::kFloat16, groups}};
}

void DecodeGgufArray(const GgufTensor& tensor, const char* raw, int part, char* dst) {
  Layout layout;
  LayoutOf(tensor.type, &layout);
  if (GgmlLoadsAsIs(tensor.type)) {
    std::memcpy(dst, raw, tensor.nbytes);
    return;
  }
  const auto* block = reinterpret_cast<const uint8_t*>(raw);
  const int64_t blocks = static_cast<int64_t>(tensor.nbytes) / layout.block_bytes;
  auto* out = reinterpret_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < blocks; ++b, block += layout.block_bytes) {
    switch (tensor.type) {
      case kGgmlQ4_0:
      case kGgmlQ4_1: {  // |scale|(bias, Q4_1)|32 codes|: x = scale * code + bias
        const float scale = HalfAt(block);
        if (part == 0) PackNibbles(block + (tensor.type == kGgmlQ4_0 ? 2 : 4), out + 16 * b);
        if (part == 1) PutHalf(scale, dst + 2 * b);
        if (part == 2)
          PutHalf(tensor.type == kGgmlQ4_0 ? -8 * scale : HalfAt(block + 2), dst + 2 * b);
        break;
      }
      case kGgmlQ8_0: {  // |scale|32 int8 codes|: as unsigned codes, bias -128 * scale
        const float scale = HalfAt(block);
        if (part == 0) {
          for (int j = 0; j < 32; ++j) out[32 * b + j] = block[2 + j] ^ 0x80;
        }
        if (part == 1) PutHalf(scale, dst + 2 * b);
        if (part == 2) PutHalf(-128 * scale, dst + 2 * b);
        break;
      }
    }
  }
}

}  // namespace ferry::core
