#include "core/gguf_tensors.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/half.h"
#include "core/shape.h"

namespace ferry::core {
namespace {

// How a GGML type loads: as its bytes are (`dtype`), as MLX's affine quantization (Q4_0,
// Q4_1, Q8_0, repacked here) or its mxfp4 one (MXFP4), as its blocks for the device to
// dequantize to float16, or not.
enum class Load { kAsIs, kAffine, kMxfp4, kBlocks, kNotRead };

struct GgmlTypeFacts {
  uint32_t type;
  const char* name;
  Load load;
  int64_t block_elements;
  int64_t block_bytes;
  DType dtype;  // kAsIs: the array's
};

// Every type GGML names; the block sizes of those ferry reads.
constexpr GgmlTypeFacts kGgmlTypes[] = {
    {kGgmlF32, "F32", Load::kAsIs, 1, 4, DType::kFloat32},
    {kGgmlF16, "F16", Load::kAsIs, 1, 2, DType::kFloat16},
    {kGgmlBF16, "BF16", Load::kAsIs, 1, 2, DType::kBFloat16},
    {kGgmlF64, "F64", Load::kAsIs, 1, 8, DType::kFloat64},
    {kGgmlI8, "I8", Load::kAsIs, 1, 1, DType::kInt8},
    {kGgmlI16, "I16", Load::kAsIs, 1, 2, DType::kInt16},
    {kGgmlI32, "I32", Load::kAsIs, 1, 4, DType::kInt32},
    {kGgmlI64, "I64", Load::kAsIs, 1, 8, DType::kInt64},
    {kGgmlQ4_0, "Q4_0", Load::kAffine, 32, 18, DType::kUInt32},
    {kGgmlQ4_1, "Q4_1", Load::kAffine, 32, 20, DType::kUInt32},
    {kGgmlQ5_0, "Q5_0", Load::kBlocks, 32, 22, DType::kUInt8},
    {kGgmlQ5_1, "Q5_1", Load::kBlocks, 32, 24, DType::kUInt8},
    {kGgmlQ8_0, "Q8_0", Load::kAffine, 32, 34, DType::kUInt32},
    {kGgmlQ2_K, "Q2_K", Load::kBlocks, 256, 84, DType::kUInt8},
    {kGgmlQ3_K, "Q3_K", Load::kBlocks, 256, 110, DType::kUInt8},
    {kGgmlQ4_K, "Q4_K", Load::kBlocks, 256, 144, DType::kUInt8},
    {kGgmlQ5_K, "Q5_K", Load::kBlocks, 256, 176, DType::kUInt8},
    {kGgmlQ6_K, "Q6_K", Load::kBlocks, 256, 210, DType::kUInt8},
    {9, "Q8_1", Load::kNotRead, 0, 0, DType::kUInt8},
    {15, "Q8_K", Load::kNotRead, 0, 0, DType::kUInt8},
    {16, "IQ2_XXS", Load::kNotRead, 0, 0, DType::kUInt8},
    {17, "IQ2_XS", Load::kNotRead, 0, 0, DType::kUInt8},
    {18, "IQ3_XXS", Load::kNotRead, 0, 0, DType::kUInt8},
    {19, "IQ1_S", Load::kNotRead, 0, 0, DType::kUInt8},
    {kGgmlIQ4_NL, "IQ4_NL", Load::kBlocks, 32, 18, DType::kUInt8},
    {21, "IQ3_S", Load::kNotRead, 0, 0, DType::kUInt8},
    {22, "IQ2_S", Load::kNotRead, 0, 0, DType::kUInt8},
    {kGgmlIQ4_XS, "IQ4_XS", Load::kBlocks, 256, 136, DType::kUInt8},
    {29, "IQ1_M", Load::kNotRead, 0, 0, DType::kUInt8},
    {34, "TQ1_0", Load::kNotRead, 0, 0, DType::kUInt8},
    {35, "TQ2_0", Load::kNotRead, 0, 0, DType::kUInt8},
    {kGgmlMXFP4, "MXFP4", Load::kMxfp4, 32, 17, DType::kUInt32},
};

// The entry of `type`; null for a number GGML does not name.
const GgmlTypeFacts* Find(uint32_t type) {
  for (const GgmlTypeFacts& entry : kGgmlTypes) {
    if (entry.type == type) return &entry;
  }
  return nullptr;
}

// The entry of `type` if ferry reads it, else INVALID_ARGUMENT listing those it reads.
absl::StatusOr<const GgmlTypeFacts*> Readable(uint32_t type) {
  const GgmlTypeFacts* entry = Find(type);
  if (entry != nullptr && entry->load != Load::kNotRead) return entry;
  std::string read;
  for (const GgmlTypeFacts& known : kGgmlTypes) {
    if (known.load != Load::kNotRead) absl::StrAppend(&read, read.empty() ? "" : ", ", known.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(GgmlTypeName(type), " is not a type ferry reads (", read, ")"));
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

// A Q4_0, Q4_1 or MXFP4 block's 32 4-bit codes (codes 0-15 in the low nibbles of src[0..15],
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
  const GgmlTypeFacts* entry = Find(type);
  return entry != nullptr ? entry->name : absl::StrCat("type ", type);
}

absl::StatusOr<uint64_t> GgmlBytes(uint32_t type, const std::vector<int64_t>& shape) {
  absl::StatusOr<const GgmlTypeFacts*> entry = Readable(type);
  if (!entry.ok()) return entry.status();
  const int64_t last = shape.empty() ? 1 : shape.back();
  if (last % (*entry)->block_elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(GgmlTypeName(type), " blocks of ", (*entry)->block_elements,
                     " elements do not divide its last dimension, ", last));
  }
  if (absl::Status valid = CheckShape(shape); !valid.ok()) return valid;
  return static_cast<uint64_t>(NumElements(shape) / (*entry)->block_elements *
                               (*entry)->block_bytes);
}

bool GgmlLoadsAsIs(uint32_t type) {
  const GgmlTypeFacts* entry = Find(type);
  return entry != nullptr && (entry->load == Load::kAsIs || entry->load == Load::kBlocks);
}

absl::StatusOr<uint32_t> GgmlTypeOf(DType dtype) {
  for (const GgmlTypeFacts& entry : kGgmlTypes) {
    if (entry.load == Load::kAsIs && entry.dtype == dtype) return entry.type;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "GGUF has no tensor type for ", DTypeName(dtype),
      " (float32, float16, bfloat16, float64, int8, int16, int32 and int64 are written)"));
}

std::vector<std::string> GgufQuantizedNames(const std::string& tensor_name) {
  const std::string prefix = absl::EndsWith(tensor_name, ".weight")
                                 ? tensor_name.substr(0, tensor_name.size() - 7)
                                 : tensor_name;
  return {tensor_name, prefix + ".scales", prefix + ".biases"};
}

absl::StatusOr<std::vector<GgufArray>> GgufArraysOf(const GgufTensor& tensor,
                                                    bool k_quants_affine) {
  absl::StatusOr<uint64_t> nbytes = GgmlBytes(tensor.type, tensor.shape);
  if (!nbytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", tensor.name, ": ", nbytes.status().message()));
  }
  const GgmlTypeFacts& entry = *Find(tensor.type);
  if (entry.load == Load::kAsIs) {
    return std::vector<GgufArray>{{tensor.name, entry.dtype, tensor.shape}};
  }
  if (entry.load == Load::kBlocks) {  // dequantized on the device
    const int64_t blocks = static_cast<int64_t>(*nbytes) / entry.block_bytes;
    const bool affine = k_quants_affine && (tensor.type == kGgmlQ4_K || tensor.type == kGgmlQ5_K);
    return std::vector<GgufArray>{
        {tensor.name, DType::kUInt8, {blocks, entry.block_bytes}, tensor.shape, affine}};
  }
  if (tensor.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", tensor.name, ": a quantized tensor needs a dimension"));
  }
  const int bits = tensor.type == kGgmlQ8_0 ? 8 : 4;
  std::vector<int64_t> codes = tensor.shape, groups = tensor.shape;
  codes.back() = codes.back() * bits / 32;
  groups.back() = groups.back() / 32;
  const std::vector<std::string> names = GgufQuantizedNames(tensor.name);
  if (entry.load == Load::kMxfp4) {
    return std::vector<GgufArray>{{names[0], DType::kUInt32, codes},
                                  {names[1], DType::kUInt8, groups}};
  }
  return std::vector<GgufArray>{{names[0], DType::kUInt32, codes},
                                {names[1], DType::kFloat16, groups},
                                {names[2], DType::kFloat16, groups}};
}

void DecodeGgufArray(const GgufTensor& tensor, const char* raw, int part, char* dst) {
  const int64_t block_bytes = Find(tensor.type)->block_bytes;
  const auto* block = reinterpret_cast<const uint8_t*>(raw);
  const int64_t blocks = static_cast<int64_t>(tensor.nbytes) / block_bytes;
  auto* out = reinterpret_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < blocks; ++b, block += block_bytes) {
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
      case kGgmlMXFP4: {  // |E8M0 scale|32 E2M1 codes|: both MLX's mxfp4 as they are
        if (part == 0) PackNibbles(block + 1, out + 16 * b);
        if (part == 1) out[b] = block[0];
        break;
      }
    }
  }
}

}  // namespace ferry::core
