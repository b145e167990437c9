#include "core/ops.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core {
namespace {

using ops_internal::OpError;

// Built on first use rather than by static initializers, which a static library may drop.
const std::map<std::string, OpDef, std::less<>>& Table() {
  static const auto* table = [] {
    ops_internal::OpTable defs;
    ops_internal::RegisterLeafOps(defs);
    ops_internal::RegisterRandomOps(defs);
    ops_internal::RegisterUnaryOps(defs);
    ops_internal::RegisterBinaryOps(defs);
    ops_internal::RegisterWhereOp(defs);
    ops_internal::RegisterAstypeOp(defs);
    ops_internal::RegisterReduceOps(defs);
    ops_internal::RegisterMatmulOp(defs);
    ops_internal::RegisterLayoutOps(defs);
    ops_internal::RegisterSoftmaxOps(defs);
    ops_internal::RegisterScanOps(defs);  // part A
    ops_internal::RegisterIndexingOps(defs);
    ops_internal::RegisterSortOps(defs);
    ops_internal::RegisterConvolutionOp(defs);
    ops_internal::RegisterQuantizedOps(defs);
    ops_internal::RegisterLinalgOps(defs);
    ops_internal::RegisterComplexOps(defs);
    ops_internal::RegisterCollectiveOps(defs);
    ops_internal::RegisterGatedDeltaOp(defs);
    auto* map = new std::map<std::string, OpDef, std::less<>>();
    for (OpDef& def : defs) {
      std::sort(def.attrs.begin(), def.attrs.end());
      std::string name = def.name;
      map->emplace(std::move(name), std::move(def));
    }
    return map;
  }();
  return *table;
}

// The ops with complex64 kernels (every backend has them); any other op refuses a complex64
// input or result here, so its kernels never meet one.
bool TakesComplex(std::string_view op) {
  static const auto* const ops = new absl::flat_hash_set<std::string_view>{
      "parameter",   "constant", "astype",  "view",       "neg",          "abs",
      "square",      "exp",      "log",     "sqrt",       "sin",          "cos",
      "isnan",       "isinf",    "real",    "imag",       "conjugate",    "add",
      "sub",         "mul",      "div",     "equal",      "not_equal",    "sum",
      "prod",        "mean",     "reshape", "transpose",  "broadcast_to", "slice",
      "concatenate", "where",    "gather",  "scatter",    "slice_update", "fft",
      "eig",         "depends",  "all_sum", "all_gather", "sum_scatter",  "all_to_all",
      "send",        "recv",
  };
  return ops->contains(op);
}

absl::Status CheckComplex(std::string_view op, absl::Span<const TensorType> inputs,
                          const TensorType& out) {
  if (TakesComplex(op)) return absl::OkStatus();
  bool complex = IsComplex(out.dtype);
  for (const TensorType& input : inputs) complex = complex || IsComplex(input.dtype);
  if (!complex) return absl::OkStatus();
  return OpError(op, "does not support complex64");
}

std::string Inputs(int n) {
  if (n == 0) return "no inputs";
  return n == 1 ? "1 input" : absl::StrCat(n, " inputs");
}

absl::Status CheckArity(const OpDef& def, int n) {
  if (def.max_inputs == -1) {
    if (n >= def.min_inputs) return absl::OkStatus();
    return OpError(def.name, absl::StrCat("takes at least ", Inputs(def.min_inputs), ", got ", n));
  }
  if (n >= def.min_inputs && n <= def.max_inputs) return absl::OkStatus();
  if (def.min_inputs == def.max_inputs) {
    return OpError(def.name, absl::StrCat("takes ", Inputs(def.min_inputs), ", got ", n));
  }
  return OpError(def.name, absl::StrCat("takes ", def.min_inputs, " to ", Inputs(def.max_inputs),
                                        ", got ", n));
}

absl::Status CheckAttrNames(const OpDef& def, const Attrs& attrs) {
  for (const auto& [name, value] : attrs.values()) {
    if (!std::binary_search(def.attrs.begin(), def.attrs.end(), name)) {
      return OpError(def.name, absl::StrCat("unexpected attribute '", name, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const OpDef* FindOp(std::string_view op) {
  // Hashed: every op a client builds and every node a daemon validates looks here.
  static const auto* index = [] {
    auto* index = new absl::flat_hash_map<std::string_view, const OpDef*>();
    for (const auto& [name, def] : Table()) index->emplace(name, &def);
    return index;
  }();
  auto it = index->find(op);
  return it == index->end() ? nullptr : it->second;
}

bool IsCollective(std::string_view op) {
  return op == "all_sum" || op == "all_max" || op == "all_min" || op == "all_gather" ||
         op == "sum_scatter" || op == "all_to_all" || op == "send" || op == "recv";
}

std::vector<std::string> OpNames() {
  std::vector<std::string> names;
  for (const auto& [name, def] : Table()) names.push_back(name);
  return names;
}

absl::StatusOr<TensorType> InferOp(std::string_view op, absl::Span<const TensorType> inputs,
                                   const Attrs& attrs) {
  const OpDef* def = FindOp(op);
  if (def == nullptr) {
    return OpError(op, absl::StrCat("unknown op '", absl::string_view(op.data(), op.size()), "'"));
  }
  if (absl::Status s = CheckArity(*def, static_cast<int>(inputs.size())); !s.ok()) return s;
  if (absl::Status s = CheckAttrNames(*def, attrs); !s.ok()) return s;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!ops_internal::IsKnownDType(inputs[i].dtype)) {
      return OpError(
          op, absl::StrCat("input ", i, " has unknown dtype ", static_cast<int>(inputs[i].dtype)));
    }
    if (absl::Status s = CheckShape(inputs[i].shape); !s.ok()) {
      return OpError(op, absl::StrCat("input ", i, ": ", s.message()));
    }
  }
  absl::StatusOr<TensorType> out = def->infer(inputs, attrs);
  if (!out.ok()) return out;
  if (absl::Status s = CheckComplex(op, inputs, *out); !s.ok()) return s;
  // Broadcasting or concatenating valid shapes can still multiply past the element limit.
  if (absl::Status s = CheckShape(out->shape); !s.ok()) {
    return OpError(op, absl::StrCat("result: ", s.message()));
  }
  return out;
}

}  // namespace ferry::core
