// Elementwise ops of one input: the shape stays, the dtype stays or becomes floating.
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

struct UnaryOp {
  const char* name;
  bool keeps_dtype;  // else the result is FloatingResultType(dtype)
};

constexpr UnaryOp kUnaryOps[] = {
    {"neg", true},      {"abs", true},    {"relu", true}, {"exp", false}, {"log", false},
    {"sqrt", false},    {"rsqrt", false}, {"sin", false}, {"cos", false}, {"tanh", false},
    {"sigmoid", false}, {"gelu", false},  {"erf", false},
};

template <size_t kIndex>
absl::StatusOr<TensorType> InferUnary(absl::Span<const TensorType> inputs, const Attrs&) {
  constexpr UnaryOp op = kUnaryOps[kIndex];
  const TensorType& x = inputs[0];
  if (!op.keeps_dtype) return TensorType{FloatingResultType(x.dtype), x.shape};
  if (x.dtype == DType::kBool) return OpError(op.name, "is not defined for bool");
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
