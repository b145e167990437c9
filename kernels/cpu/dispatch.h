#ifndef FERRY_KERNELS_CPU_DISPATCH_H_
#define FERRY_KERNELS_CPU_DISPATCH_H_

// What every CPU kernel shares: one dtype dispatch, element loads and stores (float16 and
// bfloat16 compute in float), conversions, and one strided iterator for broadcasting,
// transposes and slices.

#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/graph.h"
#include "core/half.h"
#include "core/shape.h"

namespace ferry::kernels::cpu {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the C++ type that stores `dtype`: bool, the <cstdint>
// integers, core::Float16, core::BFloat16, float, double. Every branch of f must
// return the same type. complex64 comes as its bits, uint64_t: right for the kernels that
// only move elements (gather, where, scatter); core refuses complex64 to every op without
// a complex kernel, and those route it through DispatchWithComplex.
template <typename F>
decltype(auto) DispatchDType(core::DType dtype, F&& f) {
  switch (dtype) {
    case core::DType::kComplex64:
      return f(TypeTag<uint64_t>{});
    case core::DType::kBool:
      return f(TypeTag<bool>{});
    case core::DType::kUInt8:
      return f(TypeTag<uint8_t>{});
    case core::DType::kUInt16:
      return f(TypeTag<uint16_t>{});
    case core::DType::kUInt32:
      return f(TypeTag<uint32_t>{});
    case core::DType::kUInt64:
      return f(TypeTag<uint64_t>{});
    case core::DType::kInt8:
      return f(TypeTag<int8_t>{});
    case core::DType::kInt16:
      return f(TypeTag<int16_t>{});
    case core::DType::kInt32:
      return f(TypeTag<int32_t>{});
    case core::DType::kInt64:
      return f(TypeTag<int64_t>{});
    case core::DType::kFloat16:
      return f(TypeTag<core::Float16>{});
    case core::DType::kBFloat16:
      return f(TypeTag<core::BFloat16>{});
    case core::DType::kFloat32:
      return f(TypeTag<float>{});
    case core::DType::kFloat64:
      break;
  }
  return f(TypeTag<double>{});
}

using Complex64 = std::complex<float>;

template <typename T>
inline constexpr bool kIsComplex = std::is_same_v<T, Complex64>;

// DispatchDType, with complex64 as std::complex<float>: for kernels whose every branch
// computes with complex numbers too.
template <typename F>
decltype(auto) DispatchWithComplex(core::DType dtype, F&& f) {
  if (dtype == core::DType::kComplex64) return f(TypeTag<Complex64>{});
  return DispatchDType(dtype, std::forward<F>(f));
}

// Whether an elementwise functor Op computes with complex numbers too (it says so with a
// kComplex member).
template <typename Op, typename = void>
inline constexpr bool kTakesComplex = false;
template <typename Op>
inline constexpr bool kTakesComplex<Op, std::void_t<decltype(Op::kComplex)>> = Op::kComplex;

// The type a stored element is computed in: float for the 16-bit floats, else itself.
template <typename T>
using ComputeType =
    std::conditional_t<std::is_same_v<T, core::Float16> || std::is_same_v<T, core::BFloat16>, float,
                       T>;

template <typename T>
inline constexpr bool kIsFloating = std::is_floating_point_v<ComputeType<T>>;

// Reads an element. A bool byte is read as "not zero", so a client's stray 2 is true
// rather than undefined behaviour.
template <typename T>
inline ComputeType<T> Load(const T* p) {
  if constexpr (std::is_same_v<T, bool>) {
    return *reinterpret_cast<const uint8_t*>(p) != 0;
  } else if constexpr (std::is_same_v<ComputeType<T>, T>) {
    return *p;
  } else {
    return static_cast<float>(*p);
  }
}

// Writes an element, rounding to nearest even for the 16-bit floats.
template <typename T>
inline void Store(T* p, ComputeType<T> value) {
  if constexpr (std::is_same_v<ComputeType<T>, T>) {
    *p = value;
  } else {
    *p = T(value);
  }
}

// `value` converted to the compute type of `To`, with astype's rules: to bool is "not
// zero" (NaN is true); floating to integer truncates toward zero, saturates at the
// target's range and maps NaN to 0 (as CUDA's conversions do, so backends agree);
// integer to integer wraps modulo 2^bits.
template <typename To, typename From>
inline ComputeType<To> ConvertTo(From value) {
  using C = ComputeType<To>;
  if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_integral_v<C> && std::is_floating_point_v<From>) {
    if (std::isnan(value)) return 0;
    const double t = std::trunc(static_cast<double>(value));
    if (t <= static_cast<double>(std::numeric_limits<C>::min())) {
      return std::numeric_limits<C>::min();
    }
    if (t >= static_cast<double>(std::numeric_limits<C>::max())) {
      return std::numeric_limits<C>::max();
    }
    return static_cast<C>(t);
  } else {
    return static_cast<C>(value);
  }
}

// Unsigned (wrapping) arithmetic for integers, so overflow is defined and matches the
// GPU; plain arithmetic for floats. At least `unsigned`: narrower unsigned types promote
// to int, whose products overflow (uint16 50689 * 50689).
template <typename C, bool = std::is_integral_v<C> && !std::is_same_v<C, bool>>
struct Wrapping {
  using type = C;
};
template <typename C>
struct Wrapping<C, true> {
  using type =
      std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
};
template <typename C>
using WrapType = typename Wrapping<C>::type;

template <typename C>
inline C WrapAdd(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) + static_cast<WrapType<C>>(b));
}
template <typename C>
inline C WrapSub(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) - static_cast<WrapType<C>>(b));
}
template <typename C>
inline C WrapMul(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) * static_cast<WrapType<C>>(b));
}

// log(exp(a) + exp(b)) without overflow: max + log1p(exp(-|a - b|)); NaN in, NaN out;
// infinities pass. logaddexp and logcumsumexp compute it.
template <typename F>
inline F AddInLogSpace(F a, F b) {
  if (a != a || b != b) return std::numeric_limits<F>::quiet_NaN();
  const F m = a > b ? a : b;
  if (std::isinf(m)) return m;  // +inf, or both -inf
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

// The largest value of T below `bound`: T's rounding of it, stepped down when that is not
// below. 16-bit floats step by their bits (sign-magnitude, like IEEE ordering).
template <typename T>
ComputeType<T> LargestBelow(double bound) {
  using C = ComputeType<T>;
  T h;
  Store(&h, static_cast<C>(bound));
  if (static_cast<double>(Load(&h)) < bound) return Load(&h);
  if constexpr (std::is_same_v<T, C>) {
    return std::nextafter(Load(&h), -std::numeric_limits<C>::infinity());
  } else {
    if (h.bits & 0x8000u) {
      ++h.bits;
    } else if (h.bits == 0) {
      h.bits = 0x8001u;
    } else {
      --h.bits;
    }
    return Load(&h);
  }
}

// Strides, in elements, that read a dense tensor of shape `in` as if broadcast to `out`
// (NumPy rules, aligned on the right): 0 along dimensions it repeats.
inline std::vector<int64_t> BroadcastStrides(absl::Span<const int64_t> in,
                                             absl::Span<const int64_t> out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> dense = core::ContiguousStrides(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != 1 || out[lead + i] == 1) strides[lead + i] = dense[i];
  }
  return strides;
}

// Walks `shape` in row-major order for N operands at once, each with its own strides in
// elements (0 to broadcast, negative to walk backwards) and base offset. Calls
// f(offsets, n, steps) once per row: operand k's elements of that row are at
// offsets[k] + i * steps[k] for i in [0, n). Dimensions that are contiguous for every
// operand are merged first, so dense same-shape operands come as one long row with unit
// steps and kernels can take a plain loop. Nothing is called for an empty shape; a scalar
// is one row of one element.
template <size_t N, typename F>
void ForEachRow(absl::Span<const int64_t> shape, const std::array<std::vector<int64_t>, N>& strides,
                std::array<int64_t, N> base, F&& f) {
  struct Dim {
    int64_t size;
    std::array<int64_t, N> stride;
  };
  std::vector<Dim> dims;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    Dim dim{shape[d], {}};
    for (size_t k = 0; k < N; ++k) dim.stride[k] = strides[k][d];
    if (!dims.empty()) {
      Dim& outer = dims.back();
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k) {
        mergeable = mergeable && outer.stride[k] == dim.stride[k] * dim.size;
      }
      if (mergeable) {
        outer.size *= dim.size;
        outer.stride = dim.stride;
        continue;
      }
    }
    dims.push_back(dim);
  }
  if (dims.empty()) {
    f(base, int64_t{1}, std::array<int64_t, N>{});
    return;
  }
  const Dim row = dims.back();
  dims.pop_back();
  std::vector<int64_t> index(dims.size(), 0);
  std::array<int64_t, N> offsets = base;
  while (true) {
    f(offsets, row.size, row.stride);
    int d = static_cast<int>(dims.size()) - 1;
    for (; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k) offsets[k] += dims[d].stride[k];
      if (++index[d] < dims[d].size) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= dims[d].stride[k] * dims[d].size;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// A node attribute, or INVALID_ARGUMENT starting with "[op] ".
template <typename T>
absl::StatusOr<T> GetAttr(const core::Node& node, const std::string& name) {
  absl::StatusOr<T> value = node.attrs.Get<T>(name);
  if (!value.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", value.status().message()));
  }
  return value;
}

inline std::string DTypeString(core::DType dtype) { return std::string(core::DTypeName(dtype)); }

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_DISPATCH_H_
