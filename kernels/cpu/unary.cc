// Elementwise unary ops. neg, abs and relu keep the dtype (integers wrap: neg and abs of the
// most negative value give it back); the math functions compute in the floating output
// type, so an integer input is first converted into the output buffer. The rounding ops,
// sign and square keep the dtype, bool included; the predicates (isnan isinf logical_not)
// read any dtype and write bool.

#include <algorithm>
#include <cmath>
#include <complex>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/float_math.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu {
namespace {

// The output dtypes an op computes in.
enum class Domain { kNumeric, kFloating, kAny, kIntegerOrBool };

struct Neg {
  static constexpr bool kComplex = true;
  static constexpr Domain kDomain = Domain::kNumeric;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_floating_point_v<C> || kIsComplex<C>) return -x;
    return WrapSub(C(0), x);
  }
};

struct Abs {
  static constexpr Domain kDomain = Domain::kNumeric;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::fabs(x);
    } else if constexpr (std::is_signed_v<C>) {
      return x < 0 ? WrapSub(C(0), x) : x;
    } else {
      return x;
    }
  }
};

// max(x, 0) with NaN passed through, as maximum(x, 0) does.
struct Relu {
  static constexpr Domain kDomain = Domain::kNumeric;
  template <typename C>
  C operator()(C x) const {
    return x > C(0) || x != x ? x : C(0);
  }
};

#define FERRY_FLOAT_UNARY(Name, expr)                    \
  struct Name {                                          \
    static constexpr Domain kDomain = Domain::kFloating; \
    template <typename C>                                \
    C operator()(C x) const {                            \
      return expr;                                       \
    }                                                    \
  };

// The ones complex64 takes as well (std::complex's functions, principal branches).
#define FERRY_FLOAT_OR_COMPLEX_UNARY(Name, expr)         \
  struct Name {                                          \
    static constexpr bool kComplex = true;               \
    static constexpr Domain kDomain = Domain::kFloating; \
    template <typename C>                                \
    C operator()(C x) const {                            \
      return expr;                                       \
    }                                                    \
  };

FERRY_FLOAT_OR_COMPLEX_UNARY(Exp, ExpOf(x))
FERRY_FLOAT_OR_COMPLEX_UNARY(Log, LogOf(x))
FERRY_FLOAT_OR_COMPLEX_UNARY(Sqrt, std::sqrt(x))
FERRY_FLOAT_UNARY(Rsqrt, C(1) / std::sqrt(x))
FERRY_FLOAT_OR_COMPLEX_UNARY(Sin, SinOf(x))
FERRY_FLOAT_OR_COMPLEX_UNARY(Cos, CosOf(x))
FERRY_FLOAT_UNARY(Tanh, TanhOf(x))
FERRY_FLOAT_UNARY(Sigmoid, C(1) / (C(1) + ExpOf(-x)))
FERRY_FLOAT_UNARY(Erf, ErfOf(x))
// The exact form, as MLX's nn.gelu: 0.5 x (1 + erf(x / sqrt 2)).
FERRY_FLOAT_UNARY(Gelu, GeluOf(x))

FERRY_FLOAT_UNARY(Log1p, std::log1p(x))
FERRY_FLOAT_UNARY(Expm1, std::expm1(x))
FERRY_FLOAT_UNARY(Log2, std::log2(x))
FERRY_FLOAT_UNARY(Log10, std::log10(x))

#undef FERRY_FLOAT_UNARY
#undef FERRY_FLOAT_OR_COMPLEX_UNARY

// Integers (and bool) are whole already, so the rounding ops pass them through.
#define FERRY_ROUNDING_UNARY(Name, fn)              \
  struct Name {                                     \
    static constexpr Domain kDomain = Domain::kAny; \
    template <typename C>                           \
    C operator()(C x) const {                       \
      if constexpr (std::is_floating_point_v<C>) {  \
        return fn(x);                               \
      } else {                                      \
        return x;                                   \
      }                                             \
    }                                               \
  };

FERRY_ROUNDING_UNARY(Floor, std::floor)
FERRY_ROUNDING_UNARY(Ceil, std::ceil)
// Half to even, as NumPy: nearbyint in the default rounding mode.
FERRY_ROUNDING_UNARY(Round, std::nearbyint)

#undef FERRY_ROUNDING_UNARY

struct Square {
  static constexpr bool kComplex = true;
  static constexpr Domain kDomain = Domain::kAny;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>) {
      return x;
    } else {
      return WrapMul(x, x);
    }
  }
};

// -1, 0 or 1; NaN and signed zeros pass through, as in NumPy.
struct Sign {
  static constexpr Domain kDomain = Domain::kAny;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool> || std::is_unsigned_v<C>) {
      return x > C(0) ? C(1) : C(0);
    } else {
      return x > C(0) ? C(1) : x < C(0) ? C(-1) : x;
    }
  }
};

// ~x for integers; for bool, logical not (as NumPy's invert).
struct BitwiseInvert {
  static constexpr Domain kDomain = Domain::kIntegerOrBool;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>) {
      return !x;
    } else if constexpr (std::is_integral_v<C>) {
      return static_cast<C>(~x);
    } else {
      return x;  // unreachable: refused by the domain check
    }
  }
};

struct IsNan {
  template <typename C>
  bool operator()(C x) const {
    return x != x;
  }
};

struct IsInf {
  template <typename C>
  bool operator()(C x) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::isinf(x);
    } else if constexpr (kIsComplex<C>) {
      return std::isinf(x.real()) || std::isinf(x.imag());
    } else {
      return false;
    }
  }
};

struct LogicalNot {
  template <typename C>
  bool operator()(C x) const {
    return x == C(0);
  }
};

// The float32 loop, built for each instruction set: exp, tanh, sigmoid, log, erf and gelu
// vectorize (float_math.h), 8 or 16 elements at a time rather than the baseline's 4. Flatten
// inlines the op however long it is: a call per element would keep the loop scalar.
template <typename Op>
FERRY_TARGET_CLONES __attribute__((flatten)) void MapFloat32(const float* x, float* y, int64_t n) {
  const Op op;
  constexpr bool kSin = std::is_same_v<Op, Sin>;
  if constexpr (kSin || std::is_same_v<Op, Cos>) {
    // In blocks: one argument past SinCosNear's range keeps only its block scalar.
    constexpr int64_t kBlock = 512;
    for (int64_t start = 0; start < n; start += kBlock) {
      SinOrCosOfBlock(x + start, y + start, std::min(kBlock, n - start), kSin ? 0 : 1);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
  }
}

template <typename Op>
absl::Status UnaryKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  const Tensor& in = inputs[0];
  if constexpr (std::is_same_v<Op, Abs>) {
    if (in.dtype() == core::DType::kComplex64) {  // the magnitude, as float32
      const Complex64* x = in.data<Complex64>();
      float* y = out.data<float>();
      for (int64_t i = 0; i < out.size(); ++i) y[i] = std::abs(x[i]);
      return absl::OkStatus();
    }
  }
  const void* src = in.raw();
  if (in.dtype() != out.dtype()) {
    CastElements(in.raw(), in.dtype(), out.raw(), out.dtype(), out.size());
    src = out.raw();
  }
  auto run = [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    constexpr bool kRefused = kIsComplex<T>
                                  ? !kTakesComplex<Op>
                                  : (std::is_same_v<T, bool> && Op::kDomain != Domain::kAny &&
                                     Op::kDomain != Domain::kIntegerOrBool) ||
                                        (Op::kDomain == Domain::kFloating && !kIsFloating<T>) ||
                                        (Op::kDomain == Domain::kIntegerOrBool && kIsFloating<T>);
    if constexpr (kRefused) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] does not apply to ", DTypeString(out.dtype())));
    } else {
      const T* x = static_cast<const T*>(src);
      T* y = out.data<T>();
      const int64_t n = out.size();
      if constexpr (std::is_same_v<T, float>) {
        MapFloat32<Op>(x, y, n);
      } else {
        const Op op;
        for (int64_t i = 0; i < n; ++i) Store(y + i, op(Load(x + i)));
      }
      return absl::OkStatus();
    }
  };
  if constexpr (kTakesComplex<Op>) {
    return DispatchWithComplex(out.dtype(), run);
  } else {
    return DispatchDType(out.dtype(), run);
  }
}

// A predicate of each element, read in its own dtype, written as bool.
template <typename Op>
absl::Status PredicateKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                             const Tensor& out) {
  if (out.dtype() != core::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] must produce bool, not ", DTypeString(out.dtype())));
  }
  const Tensor& in = inputs[0];
  DispatchWithComplex(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.data<T>();
    bool* y = out.data<bool>();
    const Op op;
    const int64_t n = out.size();
    for (int64_t i = 0; i < n; ++i) y[i] = op(Load(x + i));
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterUnaryKernels(KernelTable& table) {
  table["neg"] = &UnaryKernel<Neg>;
  table["abs"] = &UnaryKernel<Abs>;
  table["relu"] = &UnaryKernel<Relu>;
  table["exp"] = &UnaryKernel<Exp>;
  table["log"] = &UnaryKernel<Log>;
  table["sqrt"] = &UnaryKernel<Sqrt>;
  table["rsqrt"] = &UnaryKernel<Rsqrt>;
  table["sin"] = &UnaryKernel<Sin>;
  table["cos"] = &UnaryKernel<Cos>;
  table["tanh"] = &UnaryKernel<Tanh>;
  table["sigmoid"] = &UnaryKernel<Sigmoid>;
  table["erf"] = &UnaryKernel<Erf>;
  table["gelu"] = &UnaryKernel<Gelu>;
  // ---- part A ----
  table["square"] = &UnaryKernel<Square>;
  table["log1p"] = &UnaryKernel<Log1p>;
  table["expm1"] = &UnaryKernel<Expm1>;
  table["log2"] = &UnaryKernel<Log2>;
  table["log10"] = &UnaryKernel<Log10>;
  table["floor"] = &UnaryKernel<Floor>;
  table["ceil"] = &UnaryKernel<Ceil>;
  table["round"] = &UnaryKernel<Round>;
  table["sign"] = &UnaryKernel<Sign>;
  table["bitwise_invert"] = &UnaryKernel<BitwiseInvert>;
  table["isnan"] = &PredicateKernel<IsNan>;
  table["isinf"] = &PredicateKernel<IsInf>;
  table["logical_not"] = &PredicateKernel<LogicalNot>;
}

}  // namespace ferry::kernels::cpu
