#include "kernels/fusion.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"

namespace ferry::kernels {

bool IsElementwise(const std::string& op) {
  static const auto* const ops = new std::unordered_set<std::string>{
      "neg",  "abs",     "relu",  "exp",     "log",         "sqrt",       "rsqrt",
      "sin",  "cos",     "tanh",  "sigmoid", "erf",         "gelu",       "add",
      "sub",  "mul",     "div",   "pow",     "maximum",     "minimum",    "equal",
      "less", "greater", "where", "astype",  "logical_and", "logical_or",
  };
  return ops->count(op) > 0;
}

namespace {

// Whether `node` reads or writes complex64, which the generated fused kernels do not compute.
bool TouchesComplex(const core::Graph& graph, const core::Node& node) {
  if (core::IsComplex(node.out.dtype)) return true;
  for (int32_t input : node.inputs) {
    if (core::IsComplex(graph.nodes[input].out.dtype)) return true;
  }
  return false;
}

// The group's expression: its inputs as parameters, then its members renumbered.
FusedExpr BuildExpr(const core::Graph& graph, const std::vector<int32_t>& members,
                    const std::vector<int32_t>& inputs) {
  FusedExpr fused;
  std::unordered_map<int32_t, int32_t> index;
  for (size_t k = 0; k < inputs.size(); ++k) {
    index[inputs[k]] = static_cast<int32_t>(fused.expr.nodes.size());
    fused.expr.nodes.push_back(
        core::ParameterNode(static_cast<int64_t>(k), graph.nodes[inputs[k]].out));
  }
  for (int32_t member : members) {
    core::Node node = graph.nodes[member];
    for (int32_t& input : node.inputs) input = index.at(input);
    index[member] = static_cast<int32_t>(fused.expr.nodes.size());
    fused.expr.nodes.push_back(std::move(node));
  }
  fused.expr.outputs = {static_cast<int32_t>(fused.expr.nodes.size()) - 1};
  return fused;
}

// The step's kind (and parameter index), from its node; node inputs' dtypes are the ones
// their values will have, since the graph passed validation.
void SetKind(const core::Graph& graph, Step& step) {
  const core::Node& node = graph.nodes[step.node];
  step.elementwise = step.fused || IsElementwise(node.op);
  step.rewrites_first_input =
      !step.fused &&
      (node.op == "slice_update" || node.op == "scatter" || node.op == "scatter_add" ||
       node.op == "scatter_prod" || node.op == "scatter_max" || node.op == "scatter_min");
  if (node.op == "parameter") {
    step.kind = StepKind::kParameter;
    step.parameter = std::get<int64_t>(node.attrs.values().at("index"));
  } else if (node.op == "constant") {
    step.kind = StepKind::kConstant;
  } else if (!step.fused &&
             (node.op == "reshape" || node.op == "depends" ||
              (node.op == "astype" && graph.nodes[node.inputs[0]].out.dtype == node.out.dtype))) {
    // (A fused group's root is computed from the group's inputs: its own node inputs are
    // members that never get a value.)
    step.kind = StepKind::kView;
  } else if (core::IsCollective(node.op)) {
    step.kind = StepKind::kCollective;
    // An all-reduce combines same-position elements (across ranks): it may reduce in place.
    step.elementwise = node.op == "all_sum" || node.op == "all_max" || node.op == "all_min";
    step.gives_input = node.op == "send";
  }
}

// Whether `node` transposes the last two axes of its input and leaves the others.
bool SwapsLastTwoAxes(const core::Node& node) {
  if (node.op != "transpose") return false;
  const auto& perm = std::get<std::vector<int64_t>>(node.attrs.values().at("perm"));
  const int64_t rank = static_cast<int64_t>(perm.size());
  if (rank < 2 || perm[rank - 1] != rank - 2 || perm[rank - 2] != rank - 1) return false;
  for (int64_t d = 0; d + 2 < rank; ++d) {
    if (perm[d] != d) return false;
  }
  return true;
}

// Each matmul (or gather_mm, whose a and b are its first two inputs) that reads a transpose
// of the last two axes no other node reads (nor is an output), rewritten to read that transpose's
// input with kTransposeA or kTransposeB; the transposes are marked `folded`, to be left out.
std::vector<std::shared_ptr<const core::Node>> FoldTransposes(const core::Graph& graph,
                                                              const std::vector<int32_t>& readers,
                                                              const std::vector<bool>& is_output,
                                                              std::vector<bool>& folded) {
  const size_t n = graph.nodes.size();
  std::vector<std::shared_ptr<const core::Node>> rewritten(n);
  folded.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    const core::Node& node = graph.nodes[i];
    if (node.op != "matmul" && node.op != "gather_mm") continue;
    core::Node product = node;
    bool changed = false;
    for (int side = 0; side < 2; ++side) {
      const int32_t input = node.inputs[side];
      if (readers[input] != 1 || is_output[input] || !SwapsLastTwoAxes(graph.nodes[input])) {
        continue;
      }
      product.inputs[side] = graph.nodes[input].inputs[0];
      product.attrs.Set(side == 0 ? kTransposeA : kTransposeB, int64_t{1});
      folded[input] = true;
      changed = true;
    }
    if (changed) rewritten[i] = std::make_shared<const core::Node>(std::move(product));
  }
  return rewritten;
}

}  // namespace

std::vector<Step> PlanSteps(const core::Graph& graph, bool fuse) {
  const int32_t n = static_cast<int32_t>(graph.nodes.size());
  std::vector<int32_t> readers(n, 0);
  std::vector<bool> is_output(n, false);
  for (const core::Node& node : graph.nodes) {
    for (int32_t input : node.inputs) ++readers[input];
  }
  for (int32_t output : graph.outputs) is_output[output] = true;

  // Each node's group root (itself for a root), found walking back from the last node:
  // an elementwise input joins its reader's group when it has that group's shape and every
  // one of its readers is already in the group.
  std::vector<int32_t> root(n, -1);
  std::vector<int32_t> group_size(n, 1);  // by root
  std::vector<int32_t> seen_readers(n, 0);
  std::vector<int32_t> reader_root(n, -1);  // the readers' common group root; -2: none
  for (int32_t i = n - 1; i >= 0; --i) {
    if (root[i] < 0) root[i] = i;
    const core::Node& node = graph.nodes[i];
    const bool elementwise = fuse && IsElementwise(node.op) && !TouchesComplex(graph, node);
    for (int32_t input : node.inputs) {
      ++seen_readers[input];
      const int32_t group = elementwise ? root[i] : -2;
      if (reader_root[input] == -1) {
        reader_root[input] = group;
      } else if (reader_root[input] != group) {
        reader_root[input] = -2;
      }
      const core::Node& producer = graph.nodes[input];
      if (elementwise && root[input] < 0 && !is_output[input] &&
          seen_readers[input] == readers[input] && reader_root[input] == root[i] &&
          IsElementwise(producer.op) && !TouchesComplex(graph, producer) &&
          producer.out.shape == graph.nodes[root[i]].out.shape &&
          group_size[root[i]] < kMaxFusedNodes) {
        root[input] = root[i];
        ++group_size[root[i]];
      }
    }
  }

  std::vector<std::vector<int32_t>> members(n);
  for (int32_t i = 0; i < n; ++i) members[root[i]].push_back(i);
  std::vector<bool> folded(n, false);
  std::vector<std::shared_ptr<const core::Node>> rewritten;
  if (fuse) rewritten = FoldTransposes(graph, readers, is_output, folded);

  std::vector<Step> steps;
  std::vector<int32_t> step_of(n, -1);
  for (int32_t i = 0; i < n; ++i) {
    if (root[i] != i) continue;
    if (readers[i] == 0 && !is_output[i]) continue;  // dead: nothing reads it
    if (folded[i]) continue;                         // its matmul reads its input
    Step step;
    step.node = i;
    if (!rewritten.empty()) step.rewritten = rewritten[i];
    std::unordered_set<int32_t> inside(members[i].begin(), members[i].end());
    std::unordered_set<int32_t> seen;
    for (int32_t member : members[i]) {
      const core::Node& node = step.rewritten != nullptr ? *step.rewritten : graph.nodes[member];
      for (int32_t input : node.inputs) {
        if (!inside.count(input) && seen.insert(input).second) step.inputs.push_back(input);
      }
    }
    if (members[i].size() >= 2) {
      step.fused = true;
      step.members = members[i];
      step.expr = BuildExpr(graph, step.members, step.inputs);
    }
    SetKind(graph, step);
    step_of[i] = static_cast<int32_t>(steps.size());
    steps.push_back(std::move(step));
  }

  // Liveness by step: a value is released after the last step that reads it.
  std::vector<int32_t> last_step(n, -1);
  for (size_t s = 0; s < steps.size(); ++s) {
    for (int32_t input : steps[s].inputs) last_step[input] = static_cast<int32_t>(s);
  }
  for (int32_t i = 0; i < n; ++i) {
    if (last_step[i] >= 0 && !is_output[i]) steps[last_step[i]].release.push_back(i);
  }
  return steps;
}

}  // namespace ferry::kernels
