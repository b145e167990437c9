#ifndef FERRY_CLIENT_GGUF_BLOCKS_H_
#define FERRY_CLIENT_GGUF_BLOCKS_H_

// Internal to load_gguf: GGUF blocks dequantized on the device by a graph of ordinary ops
// (slices, views, shifts, masks, a multiply and a subtract in float32, a cast), so that a
// K-quant or IQ4 tensor crosses the network as its blocks (2.4x to 3.6x fewer bytes than float16)
// and the GPU does the work. The arithmetic is llama.cpp's, in its order: the result is
// its dequantize_row_* rounded to float16, bit for bit (no fused multiply-adds anywhere).

#include <cstdint>

#include "client/array.h"

namespace ferry::detail {

// `blocks` (uint8, one row per block of GGML type `type`: Q5_0, Q5_1, Q2_K to Q6_K, IQ4_NL,
// IQ4_XS)
// dequantized to float16 of `shape`.
Array DequantizeGgufBlocks(const Array& blocks, uint32_t type, const Shape& shape);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_GGUF_BLOCKS_H_
