// Elementwise unary ops. neg, abs and relu keep the dtype (integers wrap: neg and abs of the
// most negative value give it back); the math functions compute in the floating output
// type, so an integer input is first converted into the output buffer.

#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

struct Neg {
  static constexpr bool kFloatingOnly = false;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_floating_point_v<C>) return -x;
    return WrapSub(C(0), x);
  }
};

struct Abs {
  static constexpr bool kFloatingOnly = false;
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
  static constexpr bool kFloatingOnly = false;
  template <typename C>
  C operator()(C x) const {
    return x > C(0) || x != x ? x : C(0);
  }
};

#define FERRY_FLOAT_UNARY(Name, expr)           \
  struct Name {                                 \
    static constexpr bool kFloatingOnly = true; \
    template <typename C>                       \
    C operator()(C x) const {                   \
      return expr;                              \
    }                                           \
  };

FERRY_FLOAT_UNARY(Exp, std::exp(x))
FERRY_FLOAT_UNARY(Log, std::log(x))
FERRY_FLOAT_UNARY(Sqrt, std::sqrt(x))
FERRY_FLOAT_UNARY(Rsqrt, C(1) / std::sqrt(x))
FERRY_FLOAT_UNARY(Sin, std::sin(x))
FERRY_FLOAT_UNARY(Cos, std::cos(x))
FERRY_FLOAT_UNARY(Tanh, std::tanh(x))
FERRY_FLOAT_UNARY(Sigmoid, C(1) / (C(1) + std::exp(-x)))
FERRY_FLOAT_UNARY(Erf, std::erf(x))
// The exact form, as MLX's nn.gelu: 0.5 x (1 + erf(x / sqrt 2)).
FERRY_FLOAT_UNARY(Gelu, C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440))))

#undef FERRY_FLOAT_UNARY

template <typename Op>
absl::Status UnaryKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  const Tensor& in = inputs[0];
  const void* src = in.raw();
  if (in.dtype() != out.dtype()) {
    CastElements(in.raw(), in.dtype(), out.raw(), out.dtype(), out.size());
    src = out.raw();
  }
  return DispatchDType(out.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool> || (Op::kFloatingOnly && !kIsFloating<T>)) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] does not apply to ", DTypeString(out.dtype())));
    } else {
      const T* x = static_cast<const T*>(src);
      T* y = out.data<T>();
      const Op op;
      const int64_t n = out.size();
      for (int64_t i = 0; i < n; ++i) Store(y + i, op(Load(x + i)));
      return absl::OkStatus();
    }
  });
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
}

}  // namespace ferry::kernels::cpu
