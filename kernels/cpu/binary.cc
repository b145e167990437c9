// Elementwise binary ops with NumPy broadcasting. Inputs are first brought to one compute
// dtype: the output's for arithmetic (so div of integers divides in float), the promoted
// input type for comparisons, bool for logical ops. Integer arithmetic wraps; maximum and
// minimum propagate NaN as NumPy does. floor_divide and remainder follow NumPy (floor, and
// the remainder takes the divisor's sign; an integer division by 0 gives 0); the bitwise
// ops and shifts work on integers, and shift counts outside [0, bits) shift everything out.

#include <cmath>
#include <limits>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

// kInteger: arithmetic that only integer (and bool) dtypes have.
enum class Kind { kArithmetic, kComparison, kLogical, kInteger };

struct Add {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    return WrapAdd(a, b);
  }
};

struct Sub {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    return WrapSub(a, b);
  }
};

struct Mul {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    return WrapMul(a, b);
  }
};

struct Div {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C> || kIsComplex<C>) {
      return a / b;
    } else {
      return C(0);  // unreachable: div's output type is always floating
    }
  }
};

// Integer powers by squaring, wrapping like multiplication. A negative exponent gives the
// truncated reciprocal: 1 for a base of 1, +-1 for -1, else 0.
struct Pow {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C base, C exponent) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::pow(base, exponent);
    } else if constexpr (std::is_same_v<C, bool>) {
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
};

struct Maximum {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    return (a > b || a != a) ? a : b;
  }
};

struct Minimum {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    return (a < b || a != a) ? a : b;
  }
};

struct Equal {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a == b;
  }
};

struct Less {
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a < b;
  }
};

struct Greater {
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a > b;
  }
};

struct LogicalAnd {
  static constexpr Kind kKind = Kind::kLogical;
  bool operator()(bool a, bool b) const { return a && b; }
};

struct LogicalOr {
  static constexpr Kind kKind = Kind::kLogical;
  bool operator()(bool a, bool b) const { return a || b; }
};

// ---- part A ----

struct NotEqual {
  static constexpr bool kComplex = true;
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a != b;
  }
};

struct LessEqual {
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a <= b;
  }
};

struct GreaterEqual {
  static constexpr Kind kKind = Kind::kComparison;
  template <typename C>
  bool operator()(C a, C b) const {
    return a >= b;
  }
};

struct Arctan2 {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::atan2(a, b);
    } else {
      return C(0);  // unreachable: the output type is always floating
    }
  }
};

struct LogAddExp {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      return AddInLogSpace(a, b);
    } else {
      return C(0);  // unreachable: the output type is always floating
    }
  }
};

struct FloorDivide {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::floor(a / b);
    } else if constexpr (std::is_same_v<C, bool>) {
      return a && b;  // unreachable: bool is refused
    } else {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return WrapSub(C(0), a);  // the most negative value wraps
        const C q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? C(q - 1) : q;
      } else {
        return a / b;
      }
    }
  }
};

struct Remainder {
  static constexpr Kind kKind = Kind::kArithmetic;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      C r = std::fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else if constexpr (std::is_same_v<C, bool>) {
      return false;  // unreachable: bool is refused
    } else {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return C(0);
        const C r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
      } else {
        return a % b;
      }
    }
  }
};

#define FERRY_BITWISE_BINARY(Name, op_token)                \
  struct Name {                                             \
    static constexpr Kind kKind = Kind::kInteger;           \
    template <typename C>                                   \
    C operator()(C a, C b) const {                          \
      if constexpr (std::is_integral_v<C>) {                \
        return static_cast<C>(a op_token b);                \
      } else {                                              \
        return C(0); /* unreachable: floating is refused */ \
      }                                                     \
    }                                                       \
  };

FERRY_BITWISE_BINARY(BitwiseAnd, &)
FERRY_BITWISE_BINARY(BitwiseOr, |)
FERRY_BITWISE_BINARY(BitwiseXor, ^)

#undef FERRY_BITWISE_BINARY

template <typename C>
constexpr bool ShiftsOut(C count) {
  constexpr C kBits = static_cast<C>(sizeof(C) * 8);
  if constexpr (std::is_signed_v<C>) {
    if (count < 0) return true;
  }
  return count >= kBits;
}

struct LeftShift {
  static constexpr Kind kKind = Kind::kInteger;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C> && !std::is_same_v<C, bool>) {
      if (ShiftsOut(b)) return C(0);
      return static_cast<C>(static_cast<WrapType<C>>(a) << b);
    } else {
      return C(0);  // unreachable: floating and bool are refused
    }
  }
};

// Arithmetic for signed values (the sign fills in), logical for unsigned.
struct RightShift {
  static constexpr Kind kKind = Kind::kInteger;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C> && !std::is_same_v<C, bool>) {
      if (ShiftsOut(b)) {
        if constexpr (std::is_signed_v<C>) return a < 0 ? C(-1) : C(0);
        return C(0);
      }
      return static_cast<C>(a >> b);
    } else {
      return C(0);  // unreachable: floating and bool are refused
    }
  }
};

// out = op(a, b) over out's shape; a and b hold C, out holds O (C, or bool for
// comparisons). Rows where both inputs are dense or one is a repeated scalar take loops
// the compiler vectorizes.
template <typename Op, typename C, typename O>
void BinaryLoop(const C* a, const C* b, O* out, absl::Span<const int64_t> a_shape,
                absl::Span<const int64_t> b_shape, absl::Span<const int64_t> out_shape) {
  const Op op;
  ForEachRow<3>(
      out_shape,
      {core::ContiguousStrides(out_shape), BroadcastStrides(a_shape, out_shape),
       BroadcastStrides(b_shape, out_shape)},
      {0, 0, 0},
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
        O* o = out + off[0];
        const C* x = a + off[1];
        const C* y = b + off[2];
        if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
          for (int64_t i = 0; i < n; ++i) Store(o + i, op(Load(x + i), Load(y + i)));
        } else if (step[0] == 1 && step[1] == 1 && step[2] == 0) {
          const auto yv = Load(y);
          for (int64_t i = 0; i < n; ++i) Store(o + i, op(Load(x + i), yv));
        } else if (step[0] == 1 && step[1] == 0 && step[2] == 1) {
          const auto xv = Load(x);
          for (int64_t i = 0; i < n; ++i) Store(o + i, op(xv, Load(y + i)));
        } else {
          for (int64_t i = 0; i < n; ++i) {
            Store(o + i * step[0], op(Load(x + i * step[1]), Load(y + i * step[2])));
          }
        }
      });
}

template <typename Op>
absl::Status BinaryKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                          const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  core::DType compute = out.dtype();
  if constexpr (Op::kKind == Kind::kComparison) compute = core::PromoteTypes(a.dtype(), b.dtype());
  if constexpr (Op::kKind == Kind::kLogical) compute = core::DType::kBool;
  constexpr bool kSameTypeOut = Op::kKind == Kind::kArithmetic || Op::kKind == Kind::kInteger;
  if (!kSameTypeOut && out.dtype() != core::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] must produce bool, not ", DTypeString(out.dtype())));
  }
  if ((node.op == "div" || node.op == "arctan2" || node.op == "logaddexp") &&
      !core::IsFloating(out.dtype()) && !(node.op == "div" && core::IsComplex(out.dtype()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", node.op, "] must produce a floating dtype, not ", DTypeString(out.dtype())));
  }
  if (Op::kKind == Kind::kInteger && core::IsFloating(out.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] does not apply to ", DTypeString(out.dtype())));
  }
  HostScratch a_scratch, b_scratch;
  absl::StatusOr<const void*> a_converted = ElementsAs(node.op, a, compute, a_scratch);
  if (!a_converted.ok()) return a_converted.status();
  absl::StatusOr<const void*> b_converted = ElementsAs(node.op, b, compute, b_scratch);
  if (!b_converted.ok()) return b_converted.status();
  const void* a_data = *a_converted;
  const void* b_data = *b_converted;
  auto run = [&](auto tag) {
    using C = typename decltype(tag)::type;
    using O = std::conditional_t<kSameTypeOut, C, bool>;
    BinaryLoop<Op>(static_cast<const C*>(a_data), static_cast<const C*>(b_data), out.data<O>(),
                   a.shape(), b.shape(), out.shape());
  };
  if constexpr (kTakesComplex<Op>) {
    DispatchWithComplex(compute, run);
  } else {
    DispatchDType(compute, run);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterBinaryKernels(KernelTable& table) {
  table["add"] = &BinaryKernel<Add>;
  table["sub"] = &BinaryKernel<Sub>;
  table["mul"] = &BinaryKernel<Mul>;
  table["div"] = &BinaryKernel<Div>;
  table["pow"] = &BinaryKernel<Pow>;
  table["maximum"] = &BinaryKernel<Maximum>;
  table["minimum"] = &BinaryKernel<Minimum>;
  table["equal"] = &BinaryKernel<Equal>;
  table["less"] = &BinaryKernel<Less>;
  table["greater"] = &BinaryKernel<Greater>;
  table["logical_and"] = &BinaryKernel<LogicalAnd>;
  table["logical_or"] = &BinaryKernel<LogicalOr>;
  // ---- part A ----
  table["not_equal"] = &BinaryKernel<NotEqual>;
  table["less_equal"] = &BinaryKernel<LessEqual>;
  table["greater_equal"] = &BinaryKernel<GreaterEqual>;
  table["arctan2"] = &BinaryKernel<Arctan2>;
  table["logaddexp"] = &BinaryKernel<LogAddExp>;
  table["floor_divide"] = &BinaryKernel<FloorDivide>;
  table["remainder"] = &BinaryKernel<Remainder>;
  table["bitwise_and"] = &BinaryKernel<BitwiseAnd>;
  table["bitwise_or"] = &BinaryKernel<BitwiseOr>;
  table["bitwise_xor"] = &BinaryKernel<BitwiseXor>;
  table["left_shift"] = &BinaryKernel<LeftShift>;
  table["right_shift"] = &BinaryKernel<RightShift>;
}

}  // namespace ferry::kernels::cpu
