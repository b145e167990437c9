// Elementwise ops of two broadcast inputs.
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

enum class Result { kPromoted, kFloating, kBool };

// Which input dtypes an op takes, judged on the promoted type.
enum class Domain { kAny, kNotBool, kIntegerOrBool, kInteger };

struct BinaryOp {
  const char* name;
  Result result;
  Domain domain = Domain::kAny;
};

// clang-format off
constexpr BinaryOp kBinaryOps[] = {
    {"add", Result::kPromoted},     {"sub", Result::kPromoted},     {"mul", Result::kPromoted},
    {"div", Result::kFloating},     {"pow", Result::kPromoted},     {"maximum", Result::kPromoted},
    {"minimum", Result::kPromoted}, {"equal", Result::kBool},       {"less", Result::kBool},
    {"greater", Result::kBool},     {"logical_and", Result::kBool}, {"logical_or", Result::kBool},
    // ---- part A ----
    {"not_equal", Result::kBool},
    {"less_equal", Result::kBool},
    {"greater_equal", Result::kBool},
    {"arctan2", Result::kFloating},
    {"logaddexp", Result::kFloating},
    {"floor_divide", Result::kPromoted, Domain::kNotBool},
    {"remainder", Result::kPromoted, Domain::kNotBool},
    {"bitwise_and", Result::kPromoted, Domain::kIntegerOrBool},
    {"bitwise_or", Result::kPromoted, Domain::kIntegerOrBool},
    {"bitwise_xor", Result::kPromoted, Domain::kIntegerOrBool},
    {"left_shift", Result::kPromoted, Domain::kInteger},
    {"right_shift", Result::kPromoted, Domain::kInteger},
};
// clang-format on

absl::Status CheckDomain(const BinaryOp& op, DType a, DType b, DType promoted) {
  const bool floating = IsFloating(promoted);
  const bool is_bool = promoted == DType::kBool;
  const char* wanted = nullptr;
  if (op.domain == Domain::kNotBool && is_bool) wanted = "numeric (not bool)";
  if (op.domain == Domain::kIntegerOrBool && floating) wanted = "integer or bool";
  if (op.domain == Domain::kInteger && (floating || is_bool)) wanted = "integer";
  if (wanted == nullptr) return absl::OkStatus();
  return OpError(op.name, absl::StrCat("needs ", wanted, " inputs, got ", DTypeName(a), " and ",
                                       DTypeName(b)));
}

template <size_t kIndex>
absl::StatusOr<TensorType> InferBinary(absl::Span<const TensorType> inputs, const Attrs&) {
  constexpr BinaryOp op = kBinaryOps[kIndex];
  absl::StatusOr<Shape> shape = BroadcastShapes(inputs[0].shape, inputs[1].shape);
  if (!shape.ok()) return WithOp(op.name, shape.status());
  const DType promoted = PromoteTypes(inputs[0].dtype, inputs[1].dtype);
  if (absl::Status s = CheckDomain(op, inputs[0].dtype, inputs[1].dtype, promoted); !s.ok()) {
    return s;
  }
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
