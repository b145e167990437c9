// Reductions over axes (sum prod mean max min all any) and along one axis (argmax argmin).
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

enum class Result { kAccumulated, kFloating, kKept, kBool };

struct ReduceOp {
  const char* name;
  Result result;
  bool needs_identity;  // max/min have none, so an empty axis has no answer
};

// clang-format off
constexpr ReduceOp kReduceOps[] = {
    {"sum", Result::kAccumulated, false}, {"prod", Result::kAccumulated, false},
    {"mean", Result::kFloating, false},   {"max", Result::kKept, true},
    {"min", Result::kKept, true},
    // ---- part A ----
    {"all", Result::kBool, false},
    {"any", Result::kBool, false},
};
// clang-format on

constexpr const char* kArgOps[] = {"argmax", "argmin"};

// sum's and prod's dtype, as MLX: bool and the integers narrower than 32 bits widen to 32
// bits of their signedness (bool as int32); the rest keep theirs.
DType AccumulatedType(DType dtype) {
  if (dtype == DType::kBool) return DType::kInt32;
  if (!IsInteger(dtype) || SizeOf(dtype) >= 4) return dtype;
  return IsUnsigned(dtype) ? DType::kUInt32 : DType::kInt32;
}

absl::Status CheckNotEmpty(const char* op, const Shape& shape, int axis) {
  if (shape[axis] != 0) return absl::OkStatus();
  return OpError(op, absl::StrCat("cannot reduce axis ", axis, " of length 0 in shape ",
                                  ShapeToString(shape)));
}

template <size_t kIndex>
absl::StatusOr<TensorType> InferReduce(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  constexpr ReduceOp op = kReduceOps[kIndex];
  const TensorType& x = inputs[0];
  const int rank = static_cast<int>(x.shape.size());
  absl::StatusOr<std::vector<bool>> axes = GetAxes(op.name, attrs, rank);
  if (!axes.ok()) return axes.status();
  absl::StatusOr<bool> keepdims = GetKeepdims(op.name, attrs);
  if (!keepdims.ok()) return keepdims.status();
  if (op.needs_identity) {
    for (int axis = 0; axis < rank; ++axis) {
      if (!(*axes)[axis]) continue;
      if (absl::Status s = CheckNotEmpty(op.name, x.shape, axis); !s.ok()) return s;
    }
  }
  DType dtype = x.dtype;
  if (op.result == Result::kAccumulated) dtype = AccumulatedType(dtype);
  if (op.result == Result::kFloating) dtype = FloatingResultType(dtype);
  if (op.result == Result::kBool) dtype = DType::kBool;
  return TensorType{dtype, ReduceShape(x.shape, *axes, *keepdims)};
}

template <size_t kIndex>
absl::StatusOr<TensorType> InferArg(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  constexpr const char* op = kArgOps[kIndex];
  const TensorType& x = inputs[0];
  const int rank = static_cast<int>(x.shape.size());
  absl::StatusOr<int> axis = GetAxis(op, attrs, "axis", rank);
  if (!axis.ok()) return axis.status();
  absl::StatusOr<bool> keepdims = GetKeepdims(op, attrs);
  if (!keepdims.ok()) return keepdims.status();
  if (absl::Status s = CheckNotEmpty(op, x.shape, *axis); !s.ok()) return s;
  std::vector<bool> axes(rank, false);
  axes[*axis] = true;
  return TensorType{DType::kUInt32, ReduceShape(x.shape, axes, *keepdims)};
}

template <size_t... kIndex>
void RegisterReductions(OpTable& table, std::index_sequence<kIndex...>) {
  (table.push_back({kReduceOps[kIndex].name, 1, 1, &InferReduce<kIndex>, {"axes", "keepdims"}}),
   ...);
}

template <size_t... kIndex>
void RegisterArgs(OpTable& table, std::index_sequence<kIndex...>) {
  (table.push_back({kArgOps[kIndex], 1, 1, &InferArg<kIndex>, {"axis", "keepdims"}}), ...);
}

}  // namespace

void RegisterReduceOps(OpTable& table) {
  RegisterReductions(table, std::make_index_sequence<std::size(kReduceOps)>());
  RegisterArgs(table, std::make_index_sequence<std::size(kArgOps)>());
}

}  // namespace ferry::core::ops_internal
