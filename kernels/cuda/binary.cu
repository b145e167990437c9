// Elementwise binary ops with broadcasting, computed as kernels/cpu/binary.cc does: inputs
// already hold the compute dtype, integers wrap, maximum and minimum propagate NaN;
// floor_divide and remainder follow NumPy (an integer division by 0 gives 0), shift counts
// outside [0, bits) shift everything out. Each thread reads a[i] and b[i] before writing
// out[i], so out may be a or b (the executor's in-place reuse). complex64 takes add, sub,
// mul, div, equal and not_equal.

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

constexpr bool IsPredicate(BinaryOp op) {
  return op == BinaryOp::kEqual || op == BinaryOp::kLess || op == BinaryOp::kGreater ||
         op == BinaryOp::kLogicalAnd || op == BinaryOp::kLogicalOr || op == BinaryOp::kNotEqual ||
         op == BinaryOp::kLessEqual || op == BinaryOp::kGreaterEqual;
}

template <typename C>
__device__ __forceinline__ bool ShiftsOut(C count) {
  constexpr C kBits = static_cast<C>(sizeof(C) * 8);
  if constexpr (std::is_signed_v<C>) {
    if (count < 0) return true;
  }
  return count >= kBits;
}

template <typename C>
__device__ __forceinline__ C IntegerPow(C base, C exponent) {
  if constexpr (std::is_same_v<C, bool>) {
    return base || !exponent;
  } else {
    if constexpr (std::is_signed_v<C>) {
      if (exponent < 0) {
        if (base == 1) return 1;
        if (base == -1) return (exponent & 1) ? -1 : 1;
        return 0;
      }
    }
    WrapType<C> result = 1;
    WrapType<C> b = static_cast<WrapType<C>>(base);
    for (auto e = static_cast<WrapType<C>>(exponent); e != 0; e >>= 1) {
      if (e & 1) result = static_cast<WrapType<C>>(result * b);
      b = static_cast<WrapType<C>>(b * b);
    }
    return static_cast<C>(result);
  }
}

template <BinaryOp kOp, typename C>
__device__ __forceinline__ auto Apply(C a, C b) {
  if constexpr (kIsComplex<C>) {
    static_assert(BinaryTakesComplex(kOp));
    if constexpr (kOp == BinaryOp::kAdd) {
      return a + b;
    } else if constexpr (kOp == BinaryOp::kSub) {
      return a - b;
    } else if constexpr (kOp == BinaryOp::kMul) {
      return a * b;
    } else if constexpr (kOp == BinaryOp::kDiv) {
      return a / b;
    } else if constexpr (kOp == BinaryOp::kEqual) {
      return a == b;
    } else {
      return a != b;
    }
  } else if constexpr (kOp == BinaryOp::kAdd) {
    return WrapAdd(a, b);
  } else if constexpr (kOp == BinaryOp::kSub) {
    return WrapSub(a, b);
  } else if constexpr (kOp == BinaryOp::kMul) {
    return WrapMul(a, b);
  } else if constexpr (kOp == BinaryOp::kDiv) {
    return a / b;
  } else if constexpr (kOp == BinaryOp::kPow) {
    if constexpr (std::is_floating_point_v<C>) {
      return C(pow(a, b));
    } else {
      return IntegerPow(a, b);
    }
  } else if constexpr (kOp == BinaryOp::kMaximum) {
    return (a > b || a != a) ? a : b;
  } else if constexpr (kOp == BinaryOp::kMinimum) {
    return (a < b || a != a) ? a : b;
  } else if constexpr (kOp == BinaryOp::kEqual) {
    return a == b;
  } else if constexpr (kOp == BinaryOp::kLess) {
    return a < b;
  } else if constexpr (kOp == BinaryOp::kGreater) {
    return a > b;
  } else if constexpr (kOp == BinaryOp::kLogicalAnd) {
    return static_cast<bool>(a) && static_cast<bool>(b);
  } else if constexpr (kOp == BinaryOp::kLogicalOr) {
    return static_cast<bool>(a) || static_cast<bool>(b);
  } else if constexpr (kOp == BinaryOp::kNotEqual) {
    return a != b;
  } else if constexpr (kOp == BinaryOp::kLessEqual) {
    return a <= b;
  } else if constexpr (kOp == BinaryOp::kGreaterEqual) {
    return a >= b;
  } else if constexpr (kOp == BinaryOp::kArctan2) {
    return C(atan2(a, b));
  } else if constexpr (kOp == BinaryOp::kLogAddExp) {
    return AddInLogSpace(a, b);
  } else if constexpr (kOp == BinaryOp::kFloorDivide) {
    if constexpr (std::is_floating_point_v<C>) {
      return C(floor(a / b));
    } else {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return WrapSub(C(0), a);  // the most negative value wraps
        const C q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? C(q - 1) : q;
      } else {
        return C(a / b);
      }
    }
  } else if constexpr (kOp == BinaryOp::kRemainder) {
    if constexpr (std::is_floating_point_v<C>) {
      C r = fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return C(0);
        const C r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
      } else {
        return C(a % b);
      }
    }
  } else if constexpr (kOp == BinaryOp::kBitwiseAnd) {
    return static_cast<C>(a & b);
  } else if constexpr (kOp == BinaryOp::kBitwiseOr) {
    return static_cast<C>(a | b);
  } else if constexpr (kOp == BinaryOp::kBitwiseXor) {
    return static_cast<C>(a ^ b);
  } else if constexpr (kOp == BinaryOp::kLeftShift) {
    if constexpr (std::is_same_v<C, bool>) {
      return false;  // as the CPU
    } else {
      if (ShiftsOut(b)) return C(0);
      return static_cast<C>(static_cast<WrapType<C>>(a) << b);
    }
  } else {
    if constexpr (std::is_same_v<C, bool>) {
      return false;
    } else {
      if (ShiftsOut(b)) {
        if constexpr (std::is_signed_v<C>) return a < 0 ? C(-1) : C(0);
        return C(0);
      }
      return static_cast<C>(a >> b);  // arithmetic for signed values, logical for unsigned
    }
  }
}

bool IsDense(const Indexer& ix) {
  return ix.rank == 1 && ix.strides[0][0] == 1 && ix.strides[1][0] == 1 && ix.strides[2][0] == 1;
}

template <BinaryOp kOp, typename T, typename O>
__global__ void DenseBinaryKernel(const T* a, const T* b, O* out, int64_t n) {
  DenseMap(n, out, a, b, [](ComputeType<T> x, ComputeType<T> y) { return Apply<kOp>(x, y); });
}

template <BinaryOp kOp, typename T, typename O>
__global__ void BinaryKernel(const T* a, const T* b, O* out, Indexer ix, int64_t n) {
  FERRY_GRID_LOOP(i, n) {
    int64_t off[3];
    Offsets(ix, i, off);
    Store(out + off[0], Apply<kOp>(Load(a + off[1]), Load(b + off[2])));
  }
}

template <BinaryOp kOp, typename T>
cudaError_t LaunchTyped(const void* a, const void* b, void* out, const Indexer& ix, int64_t n,
                        cudaStream_t stream) {
  using O = std::conditional_t<IsPredicate(kOp), bool, T>;
  if (IsDense(ix)) {
    DenseBinaryKernel<kOp, T, O><<<GridFor(PacksOf(n, kPack<T, O>)), kThreads, 0, stream>>>(
        static_cast<const T*>(a), static_cast<const T*>(b), static_cast<O*>(out), n);
  } else {
    BinaryKernel<kOp, T, O><<<GridFor(n), kThreads, 0, stream>>>(
        static_cast<const T*>(a), static_cast<const T*>(b), static_cast<O*>(out), ix, n);
  }
  return cudaGetLastError();
}

template <BinaryOp kOp>
cudaError_t Launch(core::DType compute, const void* a, const void* b, void* out, const Indexer& ix,
                   int64_t n, cudaStream_t stream) {
  if (compute == core::DType::kComplex64) {
    if constexpr (BinaryTakesComplex(kOp)) {
      return LaunchTyped<kOp, Complex64>(a, b, out, ix, n, stream);
    } else {
      return cudaErrorInvalidValue;  // refused by core
    }
  }
  return DispatchDType(compute, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr bool kLogical = kOp == BinaryOp::kLogicalAnd || kOp == BinaryOp::kLogicalOr;
    constexpr bool kFloatingOnly =
        kOp == BinaryOp::kDiv || kOp == BinaryOp::kArctan2 || kOp == BinaryOp::kLogAddExp;
    constexpr bool kIntegerOnly = kOp >= BinaryOp::kBitwiseAnd;  // bitwise ops and shifts
    constexpr bool kNoBool = kOp == BinaryOp::kFloorDivide || kOp == BinaryOp::kRemainder;
    if constexpr ((kFloatingOnly && !kIsFloating<T>) || (kIntegerOnly && kIsFloating<T>) ||
                  (kNoBool && std::is_same_v<T, bool>) || (kLogical && !std::is_same_v<T, bool>)) {
      return cudaErrorInvalidValue;  // the caller converts to a floating or bool dtype first
    } else {
      return LaunchTyped<kOp, T>(a, b, out, ix, n, stream);
    }
  });
}

}  // namespace

cudaError_t LaunchBinary(BinaryOp op, core::DType compute, const void* a, const void* b, void* out,
                         const Indexer& ix, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (op) {
    case BinaryOp::kAdd:
      return Launch<BinaryOp::kAdd>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kSub:
      return Launch<BinaryOp::kSub>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kMul:
      return Launch<BinaryOp::kMul>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kDiv:
      return Launch<BinaryOp::kDiv>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kPow:
      return Launch<BinaryOp::kPow>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kMaximum:
      return Launch<BinaryOp::kMaximum>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kMinimum:
      return Launch<BinaryOp::kMinimum>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kEqual:
      return Launch<BinaryOp::kEqual>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLess:
      return Launch<BinaryOp::kLess>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kGreater:
      return Launch<BinaryOp::kGreater>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLogicalAnd:
      return Launch<BinaryOp::kLogicalAnd>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLogicalOr:
      return Launch<BinaryOp::kLogicalOr>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kNotEqual:
      return Launch<BinaryOp::kNotEqual>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLessEqual:
      return Launch<BinaryOp::kLessEqual>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kGreaterEqual:
      return Launch<BinaryOp::kGreaterEqual>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kArctan2:
      return Launch<BinaryOp::kArctan2>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLogAddExp:
      return Launch<BinaryOp::kLogAddExp>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kFloorDivide:
      return Launch<BinaryOp::kFloorDivide>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kRemainder:
      return Launch<BinaryOp::kRemainder>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kBitwiseAnd:
      return Launch<BinaryOp::kBitwiseAnd>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kBitwiseOr:
      return Launch<BinaryOp::kBitwiseOr>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kBitwiseXor:
      return Launch<BinaryOp::kBitwiseXor>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kLeftShift:
      return Launch<BinaryOp::kLeftShift>(compute, a, b, out, ix, n, stream);
    case BinaryOp::kRightShift:
      return Launch<BinaryOp::kRightShift>(compute, a, b, out, ix, n, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ferry::kernels::cuda
