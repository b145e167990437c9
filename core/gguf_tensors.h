#ifndef FERRY_CORE_GGUF_TENSORS_H_
#define FERRY_CORE_GGUF_TENSORS_H_

// What a GGUF tensor of each GGML type becomes in ferry, as MLX's load_gguf makes it, and
// the decoding of its blocks (gguf_tensors.cc). F32, F16, BF16, F64 and I8 to I64 load as
// they are (MLX turns BF16 into float16 and refuses F64 and I64; ferry keeps them exact).
// Q4_0, Q4_1 and Q8_0 load as MLX's affine quantization, ready for quantized_matmul: the
// codes packed into uint32 (`name`), and float16 scales and biases per 32 elements (`name`
// less ".weight", plus ".scales" and ".biases"). Q4_K and Q6_K are dequantized to float16
// as llama.cpp dequantizes them (MLX 0.32.4 gives every second sub-block of a Q4_K block
// its neighbour's scale and min; ferry does not), and so are Q5_0, Q5_1, Q2_K, Q3_K and
// Q5_K, which MLX refuses (the K-quant mixes llama.cpp writes, Q3_K_M to Q5_K_M, load
// whole), and the i-quants IQ4_NL and IQ4_XS (MLX fails on them): on the device, from
// their blocks, which are what crosses the network. MXFP4 (gpt-oss's experts; MLX 0.32.4
// leaves such tensors out without a word) loads as MLX's "mxfp4" quantization: the E2M1
// codes packed into uint32 (`name`) and the E8M0 scales per 32 (`name` less ".weight",
// plus ".scales"), for quantized_matmul(..., 32, 4, "mxfp4"); the same numbers exactly.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/gguf.h"

namespace ferry::core {

// GGML's tensor types (ggml.h), the ones with a name here.
enum GgmlType : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlIQ4_NL = 20,
  kGgmlIQ4_XS = 23,
  kGgmlI8 = 24,
  kGgmlI16 = 25,
  kGgmlI32 = 26,
  kGgmlI64 = 27,
  kGgmlF64 = 28,
  kGgmlBF16 = 30,
  kGgmlMXFP4 = 39,
};

// "Q4_K"; "type N" for a number GGML does not name.
std::string GgmlTypeName(uint32_t type);

// The bytes of a tensor of `type` and `shape` (row-major); INVALID_ARGUMENT for a type
// whose blocks are not known here, or a last dimension its blocks do not divide.
absl::StatusOr<uint64_t> GgmlBytes(uint32_t type, const std::vector<int64_t>& shape);

// Whether a tensor of `type` loads as its bytes are (one array, no decoding here: the
// unquantized types, and the blocks the device dequantizes).
bool GgmlLoadsAsIs(uint32_t type);

// The GGML type that holds `dtype` as it is (for save_gguf); INVALID_ARGUMENT for others.
absl::StatusOr<uint32_t> GgmlTypeOf(DType dtype);

// One array a tensor loads as.
struct GgufArray {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  // For the types dequantized to float16 (Q5_0, Q5_1, Q2_K to Q6_K, IQ4_NL, IQ4_XS): the
  // array is the tensor's blocks as the file holds them (uint8, a row per block), which the
  // device dequantizes into float16 of this shape (client/gguf_blocks.h); empty otherwise.
  std::vector<int64_t> dequantized_shape;
  // Q4_K or Q5_K blocks that the device makes MLX's affine quantization of instead
  // (GgufArraysOf's k_quants_affine), the arrays GgufQuantizedNames names.
  bool affine = false;
};

// The arrays `tensor` loads as: one, or a quantized tensor's codes, scales and (affine)
// biases. With `k_quants_affine`, Q4_K and Q5_K tensors load as their blocks for the device
// to make MLX's affine quantization of (the other K-quants' groups of 16 are not MLX's).
// INVALID_ARGUMENT naming the tensor for a type ferry does not load.
absl::StatusOr<std::vector<GgufArray>> GgufArraysOf(const GgufTensor& tensor,
                                                    bool k_quants_affine = false);

// The names of a quantized tensor's arrays, as MLX's load_gguf gives Q4_0's: the codes under
// the tensor's name, then its name less ".weight" plus ".scales" and ".biases".
std::vector<std::string> GgufQuantizedNames(const std::string& tensor_name);

// Writes array `part` (of GgufArraysOf: codes, scales or biases) of a Q4_0, Q4_1, Q8_0 or
// MXFP4 `tensor`, whose bytes in the file are `raw` (tensor.nbytes), into `dst`, as MLX's
// affine or mxfp4 quantization. The other types load as their bytes are (GgmlLoadsAsIs).
void DecodeGgufArray(const GgufTensor& tensor, const char* raw, int part, char* dst);

}  // namespace ferry::core

#endif  // FERRY_CORE_GGUF_TENSORS_H_
