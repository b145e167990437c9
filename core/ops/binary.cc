// Elementwise ops of two broadcast inputs.
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

enum class Result { kPromoted, kFloating, kBool };

struct BinaryOp {
  const char* name;
  Result result;
};

constexpr BinaryOp kBinaryOps[] = {
    {"add", Result::kPromoted},     {"sub", Result::kPromoted},     {"mul", Result::kPromoted},
    {"div", Result::kFloating},     {"pow", Result::kPromoted},     {"maximum", Result::kPromoted},
    {"minimum", Result::kPromoted}, {"equal", Result::kBool},       {"less", Result::kBool},
    {"greater", Result::kBool},     {"logical_and", Result::kBool}, {"logical_or", Result::kBool},
};

template <size_t kIndex>
absl::StatusOr<TensorType> InferBinary(absl::Span<const TensorType> inputs, const Attrs&) {
  constexpr BinaryOp op = kBinaryOps[kIndex];
  absl::StatusOr<Shape> shape = BroadcastShapes(inputs[0].shape, inputs[1].shape);
  if (!shape.ok()) return WithOp(op.name, shape.status());
  const DType promoted = PromoteTypes(inputs[0].dtype, inputs[1].dtype);
  switch (op.result) {
    case Result::kPromoted:
      return TensorType{promoted, *shape};
    case Result::kFloating:
      return TensorType{FloatingResultType(promoted), *shape};
    case Result::kBool:
      return TensorType{DType::kBool, *shape};
  }
  return TensorType{promoted, *shape};
}

template <size_t... kIndex>
void Register(OpTable& table, std::index_sequence<kIndex...>) {
  (table.push_back({kBinaryOps[kIndex].name, 2, 2, &InferBinary<kIndex>, {}}), ...);
}

}  // namespace

void RegisterBinaryOps(OpTable& table) {
  Register(table, std::make_index_sequence<std::size(kBinaryOps)>());
}

}  // namespace ferry::core::ops_internal
