#ifndef FERRY_KERNELS_QUANTIZED_PACKING_H_
#define FERRY_KERNELS_QUANTIZED_PACKING_H_

// How MLX's affine quantization packs a row (client/quantized.cc packs, core/ops.h states
// it): element k takes bits [k * bits, (k + 1) * bits) of the row's uint32 words, low bits
// first, so 3, 5 and 6-bit elements may straddle two words. Plain C++: nvcc reads it too.

#include <cstdint>

#include "core/host_device.h"

namespace ferry::kernels {

// The quantized value (below 2^bits) of element k of the row starting at `words`.
FERRY_HOST_DEVICE inline uint32_t PackedElement(const uint32_t* words, int64_t k, int bits) {
  const int64_t bit = k * bits;
  const int shift = static_cast<int>(bit & 31);
  uint32_t value = words[bit >> 5] >> shift;
  if (shift + bits > 32) value |= words[(bit >> 5) + 1] << (32 - shift);
  return value & ((uint32_t{1} << bits) - 1);
}

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_QUANTIZED_PACKING_H_
