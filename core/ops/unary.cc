// Elementwise ops of one input: the shape stays, the dtype stays or becomes floating (or
// bool, for the predicates).
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

enum class Result {
  kKept,         // same dtype, bool refused
  kKeptAny,      // same dtype, bool too
  kFloating,     // FloatingResultType(dtype)
  kBool,         // a predicate of any dtype
  kKeptInteger,  // same dtype, integer or bool only
  kMagnitude,    // as kKept, but complex64 gives float32
};

struct UnaryOp {
  const char* name;
  Result result;
};

constexpr UnaryOp kUnaryOps[] = {
    {"neg", Result::kKept},
    {"abs", Result::kMagnitude},
    {"relu", Result::kKept},
    {"exp", Result::kFloating},
    {"log", Result::kFloating},
    {"sqrt", Result::kFloating},
    {"rsqrt", Result::kFloating},
    {"sin", Result::kFloating},
    {"cos", Result::kFloating},
    {"tanh", Result::kFloating},
    {"sigmoid", Result::kFloating},
    {"gelu", Result::kFloating},
    {"erf", Result::kFloating},
    // ---- part A ----
    {"square", Result::kKeptAny},
    {"log1p", Result::kFloating},
    {"expm1", Result::kFloating},
    {"log2", Result::kFloating},
    {"log10", Result::kFloating},
    {"floor", Result::kKeptAny},
    {"ceil", Result::kKeptAny},
    {"round", Result::kKeptAny},
    {"sign", Result::kKeptAny},
    {"isnan", Result::kBool},
    {"isinf", Result::kBool},
    {"logical_not", Result::kBool},
    {"bitwise_invert", Result::kKeptInteger},
};

template <size_t kIndex>
absl::StatusOr<TensorType> InferUnary(absl::Span<const TensorType> inputs, const Attrs&) {
  constexpr UnaryOp op = kUnaryOps[kIndex];
  const TensorType& x = inputs[0];
  switch (op.result) {
    case Result::kFloating:
      return TensorType{FloatingResultType(x.dtype), x.shape};
    case Result::kBool:
      return TensorType{DType::kBool, x.shape};
    case Result::kMagnitude:
      if (IsComplex(x.dtype)) return TensorType{DType::kFloat32, x.shape};
      [[fallthrough]];
    case Result::kKept:
      if (x.dtype == DType::kBool) return OpError(op.name, "is not defined for bool");
      return x;
    case Result::kKeptInteger:
      if (IsFloating(x.dtype)) {
        return OpError(op.name,
                       absl::StrCat("needs an integer or bool input, got ", DTypeName(x.dtype)));
      }
      return x;
    case Result::kKeptAny:
      break;
  }
  return x;
}

template <size_t... kIndex>
void Register(OpTable& table, std::index_sequence<kIndex...>) {
  (table.push_back({kUnaryOps[kIndex].name, 1, 1, &InferUnary<kIndex>, {}}), ...);
}

}  // namespace

void RegisterUnaryOps(OpTable& table) {
  Register(table, std::make_index_sequence<std::size(kUnaryOps)>());
}

}  // namespace ferry::core::ops_internal
