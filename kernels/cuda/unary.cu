// Elementwise unary ops, computed as kernels/cpu/unary.cc does: integers wrap, 16-bit
// floats compute in float. The caller converts integer inputs of math functions first.
// Every kernel reads element i before writing element i in the same thread, so y may be x
// (the executor's in-place reuse). complex64 takes neg, abs (its magnitude, as float32),
// square, exp, log, sqrt, sin, cos (principal branches, as std::complex) and the predicates.

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <UnaryOp kOp, typename C>
__device__ __forceinline__ C Apply(C x) {
  if constexpr (kOp == UnaryOp::kNeg) {
    if constexpr (std::is_floating_point_v<C>) {
      return -x;
    } else {
      return WrapSub(C(0), x);
    }
  } else if constexpr (kOp == UnaryOp::kAbs) {
    if constexpr (std::is_floating_point_v<C>) {
      return fabs(x);
    } else if constexpr (std::is_signed_v<C>) {
      return x < 0 ? WrapSub(C(0), x) : x;
    } else {
      return x;
    }
  } else if constexpr (kOp == UnaryOp::kRelu) {
    return x > C(0) || x != x ? x : C(0);
  } else if constexpr (kOp == UnaryOp::kExp) {
    return exp(x);
  } else if constexpr (kOp == UnaryOp::kLog) {
    return log(x);
  } else if constexpr (kOp == UnaryOp::kSqrt) {
    return sqrt(x);
  } else if constexpr (kOp == UnaryOp::kRsqrt) {
    return C(1) / sqrt(x);
  } else if constexpr (kOp == UnaryOp::kSin) {
    return sin(x);
  } else if constexpr (kOp == UnaryOp::kCos) {
    return cos(x);
  } else if constexpr (kOp == UnaryOp::kTanh) {
    return tanh(x);
  } else if constexpr (kOp == UnaryOp::kSigmoid) {
    return C(1) / (C(1) + exp(-x));
  } else if constexpr (kOp == UnaryOp::kErf) {
    return erf(x);
  } else if constexpr (kOp == UnaryOp::kLog1p) {
    return log1p(x);
  } else if constexpr (kOp == UnaryOp::kExpm1) {
    return expm1(x);
  } else if constexpr (kOp == UnaryOp::kLog2) {
    return log2(x);
  } else if constexpr (kOp == UnaryOp::kLog10) {
    return log10(x);
  } else if constexpr (kOp == UnaryOp::kSquare) {
    if constexpr (std::is_same_v<C, bool>) {
      return x;
    } else {
      return WrapMul(x, x);
    }
  } else if constexpr (kOp == UnaryOp::kFloor || kOp == UnaryOp::kCeil || kOp == UnaryOp::kRound) {
    if constexpr (std::is_floating_point_v<C>) {
      // rint: half to even in the default rounding mode, as the CPU's nearbyint.
      return kOp == UnaryOp::kFloor ? floor(x) : kOp == UnaryOp::kCeil ? ceil(x) : rint(x);
    } else {
      return x;
    }
  } else if constexpr (kOp == UnaryOp::kSign) {
    if constexpr (std::is_same_v<C, bool> || std::is_unsigned_v<C>) {
      return x > C(0) ? C(1) : C(0);
    } else {
      return x > C(0) ? C(1) : x < C(0) ? C(-1) : x;  // NaN and signed zeros pass through
    }
  } else if constexpr (kOp == UnaryOp::kBitwiseInvert) {
    if constexpr (std::is_same_v<C, bool>) {
      return !x;
    } else if constexpr (std::is_integral_v<C>) {
      return static_cast<C>(~x);
    } else {
      return x;  // refused by the caller
    }
  } else {
    // gelu: x/2 (1 + erf(x / sqrt 2)) as x/2 erfc(-x / sqrt 2), which does not cancel to 0
    // for negative x (the CPU's form, float_math.h).
    return C(0.5) * x * erfc(x * C(-0.70710678118654752440));
  }
}

template <UnaryOp kOp, typename T>
__global__ void UnaryKernel(const T* x, T* y, int64_t n) {
  DenseMap(n, y, x, [](ComputeType<T> v) { return Apply<kOp>(v); });
}

template <UnaryOp kOp, typename T>
__global__ void PredicateKernel(const T* x, bool* y, int64_t n) {
  DenseMap(n, y, x, [](ComputeType<T> v) -> bool {
    if constexpr (kOp == UnaryOp::kIsNan) {
      return v != v;
    } else if constexpr (kOp == UnaryOp::kIsInf) {
      if constexpr (std::is_floating_point_v<decltype(v)>) {
        return isinf(v);
      } else {
        return false;
      }
    } else {
      return v == decltype(v)(0);
    }
  });
}

template <UnaryOp kOp>
__device__ __forceinline__ Complex64 ApplyComplex(Complex64 z) {
  const float x = z.re, y = z.im;
  if constexpr (kOp == UnaryOp::kNeg) {
    return -z;
  } else if constexpr (kOp == UnaryOp::kSquare) {
    return z * z;
  } else if constexpr (kOp == UnaryOp::kExp) {
    const float r = expf(x);
    return {r * cosf(y), r * sinf(y)};
  } else if constexpr (kOp == UnaryOp::kLog) {
    return {logf(hypotf(x, y)), atan2f(y, x)};
  } else if constexpr (kOp == UnaryOp::kSqrt) {
    // t = sqrt((|x| + |z|) / 2) is the larger part's magnitude; no cancellation either way.
    if (x == 0.0f && y == 0.0f) return {0.0f, y};
    const float t = sqrtf((fabsf(x) + hypotf(x, y)) * 0.5f);
    if (x >= 0.0f) return {t, y / (2.0f * t)};
    return {fabsf(y) / (2.0f * t), copysignf(t, y)};
  } else if constexpr (kOp == UnaryOp::kSin) {
    return {sinf(x) * coshf(y), cosf(x) * sinhf(y)};
  } else {
    static_assert(kOp == UnaryOp::kCos);
    return {cosf(x) * coshf(y), -(sinf(x) * sinhf(y))};
  }
}

__global__ void ComplexAbsKernel(const Complex64* x, float* y, int64_t n) {
  DenseMap(n, y, x, [](Complex64 z) { return hypotf(z.re, z.im); });
}

template <UnaryOp kOp>
__global__ void ComplexUnaryKernel(const Complex64* x, void* y, int64_t n) {
  if constexpr (kOp == UnaryOp::kIsNan || kOp == UnaryOp::kIsInf) {
    DenseMap(n, static_cast<bool*>(y), x, [](Complex64 z) -> bool {
      if constexpr (kOp == UnaryOp::kIsNan) {
        return z != z;
      } else {
        return isinf(z.re) || isinf(z.im);
      }
    });
  } else {
    DenseMap(n, static_cast<Complex64*>(y), x, [](Complex64 z) { return ApplyComplex<kOp>(z); });
  }
}

template <UnaryOp kOp>
cudaError_t LaunchComplex(const void* x, void* y, int64_t n, cudaStream_t stream) {
  ComplexUnaryKernel<kOp><<<GridFor(PacksOf(n, kPack<Complex64>)), kThreads, 0, stream>>>(
      static_cast<const Complex64*>(x), y, n);
  return cudaGetLastError();
}

// The ops complex64 takes (core refuses it to the others).
cudaError_t LaunchComplexUnary(UnaryOp op, const void* x, void* y, int64_t n, cudaStream_t stream) {
  switch (op) {
    case UnaryOp::kAbs:
      ComplexAbsKernel<<<GridFor(PacksOf(n, kPack<Complex64>)), kThreads, 0, stream>>>(
          static_cast<const Complex64*>(x), static_cast<float*>(y), n);
      return cudaGetLastError();
    case UnaryOp::kNeg:
      return LaunchComplex<UnaryOp::kNeg>(x, y, n, stream);
    case UnaryOp::kSquare:
      return LaunchComplex<UnaryOp::kSquare>(x, y, n, stream);
    case UnaryOp::kExp:
      return LaunchComplex<UnaryOp::kExp>(x, y, n, stream);
    case UnaryOp::kLog:
      return LaunchComplex<UnaryOp::kLog>(x, y, n, stream);
    case UnaryOp::kSqrt:
      return LaunchComplex<UnaryOp::kSqrt>(x, y, n, stream);
    case UnaryOp::kSin:
      return LaunchComplex<UnaryOp::kSin>(x, y, n, stream);
    case UnaryOp::kCos:
      return LaunchComplex<UnaryOp::kCos>(x, y, n, stream);
    case UnaryOp::kIsNan:
      return LaunchComplex<UnaryOp::kIsNan>(x, y, n, stream);
    case UnaryOp::kIsInf:
      return LaunchComplex<UnaryOp::kIsInf>(x, y, n, stream);
    default:
      return cudaErrorInvalidValue;  // refused by core
  }
}

constexpr bool IsPredicate(UnaryOp op) {
  return op == UnaryOp::kIsNan || op == UnaryOp::kIsInf || op == UnaryOp::kLogicalNot;
}

template <UnaryOp kOp>
cudaError_t Launch(core::DType dtype, const void* x, void* y, int64_t n, cudaStream_t stream) {
  constexpr UnaryDomain kDomain = UnaryDomainOf(kOp);
  constexpr bool kMath = kDomain == UnaryDomain::kFloating;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (IsPredicate(kOp)) {
      PredicateKernel<kOp, T><<<GridFor(PacksOf(n, kPack<T, bool>)), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<bool*>(y), n);
      return cudaGetLastError();
    } else if constexpr ((std::is_same_v<T, bool> && kDomain != UnaryDomain::kAny &&
                          kDomain != UnaryDomain::kIntegerOrBool) ||
                         (kMath && !kIsFloating<T>) ||
                         (kDomain == UnaryDomain::kIntegerOrBool && kIsFloating<T>)) {
      return cudaErrorInvalidValue;  // refused by the caller before
    } else {
      UnaryKernel<kOp, T><<<GridFor(PacksOf(n, kPack<T>)), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), n);
      return cudaGetLastError();
    }
  });
}

}  // namespace

cudaError_t LaunchUnary(UnaryOp op, core::DType dtype, const void* x, void* y, int64_t n,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dtype == core::DType::kComplex64) return LaunchComplexUnary(op, x, y, n, stream);
  switch (op) {
    case UnaryOp::kNeg:
      return Launch<UnaryOp::kNeg>(dtype, x, y, n, stream);
    case UnaryOp::kAbs:
      return Launch<UnaryOp::kAbs>(dtype, x, y, n, stream);
    case UnaryOp::kRelu:
      return Launch<UnaryOp::kRelu>(dtype, x, y, n, stream);
    case UnaryOp::kExp:
      return Launch<UnaryOp::kExp>(dtype, x, y, n, stream);
    case UnaryOp::kLog:
      return Launch<UnaryOp::kLog>(dtype, x, y, n, stream);
    case UnaryOp::kSqrt:
      return Launch<UnaryOp::kSqrt>(dtype, x, y, n, stream);
    case UnaryOp::kRsqrt:
      return Launch<UnaryOp::kRsqrt>(dtype, x, y, n, stream);
    case UnaryOp::kSin:
      return Launch<UnaryOp::kSin>(dtype, x, y, n, stream);
    case UnaryOp::kCos:
      return Launch<UnaryOp::kCos>(dtype, x, y, n, stream);
    case UnaryOp::kTanh:
      return Launch<UnaryOp::kTanh>(dtype, x, y, n, stream);
    case UnaryOp::kSigmoid:
      return Launch<UnaryOp::kSigmoid>(dtype, x, y, n, stream);
    case UnaryOp::kGelu:
      return Launch<UnaryOp::kGelu>(dtype, x, y, n, stream);
    case UnaryOp::kErf:
      return Launch<UnaryOp::kErf>(dtype, x, y, n, stream);
    case UnaryOp::kLog1p:
      return Launch<UnaryOp::kLog1p>(dtype, x, y, n, stream);
    case UnaryOp::kExpm1:
      return Launch<UnaryOp::kExpm1>(dtype, x, y, n, stream);
    case UnaryOp::kLog2:
      return Launch<UnaryOp::kLog2>(dtype, x, y, n, stream);
    case UnaryOp::kLog10:
      return Launch<UnaryOp::kLog10>(dtype, x, y, n, stream);
    case UnaryOp::kSquare:
      return Launch<UnaryOp::kSquare>(dtype, x, y, n, stream);
    case UnaryOp::kFloor:
      return Launch<UnaryOp::kFloor>(dtype, x, y, n, stream);
    case UnaryOp::kCeil:
      return Launch<UnaryOp::kCeil>(dtype, x, y, n, stream);
    case UnaryOp::kRound:
      return Launch<UnaryOp::kRound>(dtype, x, y, n, stream);
    case UnaryOp::kSign:
      return Launch<UnaryOp::kSign>(dtype, x, y, n, stream);
    case UnaryOp::kBitwiseInvert:
      return Launch<UnaryOp::kBitwiseInvert>(dtype, x, y, n, stream);
    case UnaryOp::kIsNan:
      return Launch<UnaryOp::kIsNan>(dtype, x, y, n, stream);
    case UnaryOp::kIsInf:
      return Launch<UnaryOp::kIsInf>(dtype, x, y, n, stream);
    case UnaryOp::kLogicalNot:
      return Launch<UnaryOp::kLogicalNot>(dtype, x, y, n, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ferry::kernels::cuda
