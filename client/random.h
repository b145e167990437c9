#ifndef FERRY_CLIENT_RANDOM_H_
#define FERRY_CLIENT_RANDOM_H_

#include <cstdint>
#include <optional>

#include "client/array.h"
#include "client/device.h"
#include "client/dtype.h"

namespace ferry::random {

// Counter-based random numbers (Philox 4x32-10, as core/philox.h): a key, a uint32 (2,)
// array, fixes the numbers everywhere, so the same key gives the same values on the local
// device and on any daemon. Keys are 8 bytes and move between devices by themselves.

// The key for `seed`: {seed >> 32, seed & 0xffffffff}, as MLX.
Array key(uint64_t seed);

// Re-seeds the global state that calls without a key draw from (a fresh key per call).
void seed(uint64_t seed);

// Uniform in [low, high). dtype must be floating.
Array uniform(const Shape& shape, Dtype dtype = float32, double low = 0.0, double high = 1.0,
              const std::optional<Array>& key = std::nullopt, Device device = default_device());
Array uniform(const Shape& shape, Dtype dtype, Device device);

// Normal with mean `loc` and standard deviation `scale`. dtype must be floating.
Array normal(const Shape& shape, Dtype dtype = float32, double loc = 0.0, double scale = 1.0,
             const std::optional<Array>& key = std::nullopt, Device device = default_device());
Array normal(const Shape& shape, Dtype dtype, Device device);

}  // namespace ferry::random

#endif  // FERRY_CLIENT_RANDOM_H_
