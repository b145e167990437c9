#ifndef FERRY_CLIENT_QUANTIZED_CODES_H_
#define FERRY_CLIENT_QUANTIZED_CODES_H_

// Internal to the client library: MLX's packing of quantization codes, as array ops
// (quantized.cc), for the code that makes MLX's quantized arrays of other formats.

#include "client/array.h"

namespace ferry::detail {

// q (..., K) of uint32 values below 2^bits packed into (..., K * bits / 32) words as MLX
// packs them (3, 5 and 6-bit codes straddle words).
Array PackCodes(const Array& q, int bits);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_QUANTIZED_CODES_H_
