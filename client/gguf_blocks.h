#ifndef FERRY_CLIENT_GGUF_BLOCKS_H_
#define FERRY_CLIENT_GGUF_BLOCKS_H_

// Internal to load_gguf: GGUF blocks dequantized on the device by a graph of ordinary ops
// (slices, views, shifts, masks, a multiply and a subtract in float32, a cast), so that a
// K-quant or IQ4 tensor crosses the network as its blocks (2.4x to 3.6x fewer bytes than float16)
// and the GPU does the work. The arithmetic is llama.cpp's, in its order: the result is
// its dequantize_row_* rounded to float16, bit for bit (no fused multiply-adds anywhere).

#include <cstdint>
#include <vector>

#include "client/array.h"

namespace ferry::detail {

// `blocks` (uint8, one row per block of GGML type `type`: Q5_0, Q5_1, Q2_K to Q6_K, IQ4_NL,
// IQ4_XS)
// dequantized to float16 of `shape`.
Array DequantizeGgufBlocks(const Array& blocks, uint32_t type, const Shape& shape);

// Q4_K or Q5_K `blocks` as MLX's affine quantization of a tensor of `shape`, exactly: the
// codes packed into uint32 (4 or 5 bits), and float32 scales d * scale and biases
// -(dmin * min) per 32 elements (both exact in float32), so that dequantize's s * q + b is
// llama.cpp's value.
std::vector<Array> AffineFromGgufBlocks(const Array& blocks, uint32_t type, const Shape& shape);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_GGUF_BLOCKS_H_
