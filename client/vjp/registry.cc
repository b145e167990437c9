#include "client/vjp/registry.h"

#include "core/ops.h"

namespace ferry::detail {
namespace {

const VjpTable& Table() {
  static const VjpTable* table = [] {
    auto* t = new VjpTable;
    RegisterUnaryVjps(*t);
    RegisterBinaryVjps(*t);
    RegisterWhereVjp(*t);
    RegisterAstypeVjp(*t);
    RegisterReduceVjps(*t);
    RegisterMatmulVjp(*t);
    RegisterLayoutVjps(*t);
    RegisterSoftmaxVjps(*t);
    RegisterRandomVjps(*t);
    RegisterScanVjps(*t);
    RegisterSortVjps(*t);
    RegisterIndexingVjps(*t);
    RegisterConvolutionVjp(*t);
    RegisterQuantizedVjp(*t);
    RegisterLinalgVjps(*t);
    RegisterComplexVjps(*t);
    RegisterCollectiveVjps(*t);
    RegisterCopyVjp(*t);
    RegisterGatedDeltaVjp(*t);
    return t;
  }();
  return *table;
}

}  // namespace

VjpRule FindVjp(std::string_view op) {
  auto it = Table().find(op);
  return it == Table().end() ? nullptr : it->second;
}

std::vector<std::string> OpsWithoutVjp() {
  std::vector<std::string> missing;
  for (const std::string& op : core::OpNames()) {
    if (core::FindOp(op)->max_inputs == 0) continue;  // a leaf has nothing to differentiate
    if (FindVjp(op) == nullptr) missing.push_back(op);
  }
  return missing;
}

VjpResult NoGradient(const VjpArgs& args) { return VjpResult(args.inputs.size()); }

}  // namespace ferry::detail
