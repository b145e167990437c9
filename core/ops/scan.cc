// Scans along one axis: cumsum cumprod cummax cummin logcumsumexp.
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

enum class Result {
  kKept,
  kAccumulated,  // bool becomes int32, as for sum and prod
  kFloating,     // FloatingResultType, as for logsumexp
};

struct ScanOp {
  const char* name;
  Result result;
};

constexpr ScanOp kScanOps[] = {
    {"cumsum", Result::kAccumulated},    {"cumprod", Result::kAccumulated},
    {"cummax", Result::kKept},           {"cummin", Result::kKept},
    {"logcumsumexp", Result::kFloating},
};

template <size_t kIndex>
absl::StatusOr<TensorType> InferScan(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  constexpr ScanOp op = kScanOps[kIndex];
  const TensorType& x = inputs[0];
  const int rank = static_cast<int>(x.shape.size());
  if (rank == 0) return OpError(op.name, "needs an array of rank 1 or more, got a scalar");
  absl::StatusOr<int> axis = GetAxis(op.name, attrs, "axis", rank);
  if (!axis.ok()) return axis.status();
  for (const char* flag : {"reverse", "inclusive"}) {
    if (absl::StatusOr<bool> f = GetFlag(op.name, attrs, flag); !f.ok()) return f.status();
  }
  DType dtype = x.dtype;
  if (op.result == Result::kAccumulated && dtype == DType::kBool) dtype = DType::kInt32;
  if (op.result == Result::kFloating) dtype = FloatingResultType(dtype);
  return TensorType{dtype, x.shape};
}

template <size_t... kIndex>
void Register(OpTable& table, std::index_sequence<kIndex...>) {
  (table.push_back(
       {kScanOps[kIndex].name, 1, 1, &InferScan<kIndex>, {"axis", "inclusive", "reverse"}}),
   ...);
}

}  // namespace

void RegisterScanOps(OpTable& table) {
  Register(table, std::make_index_sequence<std::size(kScanOps)>());
}

}  // namespace ferry::core::ops_internal
