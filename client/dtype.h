#ifndef FERRY_CLIENT_DTYPE_H_
#define FERRY_CLIENT_DTYPE_H_

#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/half.h"

namespace ferry {

// Element types, shared with the IR: ferry::float32 is core::DType::kFloat32.
using Dtype = core::DType;

inline constexpr Dtype bool_ = Dtype::kBool;
inline constexpr Dtype uint8 = Dtype::kUInt8;
inline constexpr Dtype uint16 = Dtype::kUInt16;
inline constexpr Dtype uint32 = Dtype::kUInt32;
inline constexpr Dtype uint64 = Dtype::kUInt64;
inline constexpr Dtype int8 = Dtype::kInt8;
inline constexpr Dtype int16 = Dtype::kInt16;
inline constexpr Dtype int32 = Dtype::kInt32;
inline constexpr Dtype int64 = Dtype::kInt64;
inline constexpr Dtype float16 = Dtype::kFloat16;
inline constexpr Dtype bfloat16 = Dtype::kBFloat16;
inline constexpr Dtype float32 = Dtype::kFloat32;
inline constexpr Dtype float64 = Dtype::kFloat64;
inline constexpr Dtype complex64 = Dtype::kComplex64;

// MLX's finfo(dtype).max: the largest finite value of a floating dtype (its negation is
// finfo(dtype).min); complex64's parts are float32.
constexpr double finfo_max(Dtype dtype) {
  switch (dtype) {
    case Dtype::kFloat16:
      return 65504.0;
    case Dtype::kBFloat16:
      return 3.3895313892515355e38;
    case Dtype::kFloat32:
    case Dtype::kComplex64:
      return std::numeric_limits<float>::max();
    default:
      return std::numeric_limits<double>::max();
  }
}

// Host types of the 16-bit floats (bits in memory, arithmetic in float).
using float16_t = core::Float16;
using bfloat16_t = core::BFloat16;

// Dimensions, outermost first; a scalar has the empty shape.
using Shape = std::vector<int64_t>;

// The dtype of host type T, for from_host, to_vector and item.
template <typename T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, bool>) {
    return bool_;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return uint8;
  } else if constexpr (std::is_same_v<T, uint16_t>) {
    return uint16;
  } else if constexpr (std::is_same_v<T, uint32_t>) {
    return uint32;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return uint64;
  } else if constexpr (std::is_same_v<T, int8_t>) {
    return int8;
  } else if constexpr (std::is_same_v<T, int16_t>) {
    return int16;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return int32;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return int64;
  } else if constexpr (std::is_same_v<T, float16_t>) {
    return float16;
  } else if constexpr (std::is_same_v<T, bfloat16_t>) {
    return bfloat16;
  } else if constexpr (std::is_same_v<T, float>) {
    return float32;
  } else if constexpr (std::is_same_v<T, double>) {
    return float64;
  } else if constexpr (std::is_same_v<T, std::complex<float>>) {
    return complex64;
  } else {
    static_assert(!sizeof(T), "ferry has no dtype for this host type");
  }
}

}  // namespace ferry

#endif  // FERRY_CLIENT_DTYPE_H_
