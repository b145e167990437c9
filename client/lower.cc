#include "client/lower.h"

#include <algorithm>
#include <tuple>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ferry::detail {
namespace {

// Constants up to this size are shared by value: the numbers in `x * 2 + 1`, which every
// step of a chain makes anew.
constexpr size_t kSharedConstantBytes = 64;

// A small constant's identity: its dtype, shape and bytes. Keys point into the nodes'
// attributes, which outlive the lowering.
struct ConstantHash {
  size_t operator()(const core::HostTensor* value) const {
    return absl::Hash<std::tuple<int, absl::Span<const int64_t>, absl::string_view>>()(
        {static_cast<int>(value->type.dtype), value->type.shape, value->data});
  }
};
struct ConstantEq {
  bool operator()(const core::HostTensor* a, const core::HostTensor* b) const { return *a == *b; }
};

struct GraphBuild {
  explicit GraphBuild(LoweredGraph& lowered) : graph(*lowered.graph), lowered(lowered) {}

  core::Graph& graph;
  LoweredGraph& lowered;
  absl::flat_hash_map<const ArrayNode*, int32_t> index;  // node -> its graph node
  // Equal small constants share one graph node: a 1000-op chain of `v * c` lowers to 1000
  // nodes, not 2000, and so hashes, ships and runs in half the work.
  absl::flat_hash_map<const core::HostTensor*, int32_t, ConstantHash, ConstantEq> constants;
  // The targets: each keeps a node of its own, so no two outputs name the same node.
  absl::flat_hash_set<const ArrayNode*> targets;
  // Lazy arrays computed on the way that something besides this graph holds (MLX keeps
  // them): outputs after the targets.
  absl::flat_hash_set<const ArrayNode*> held;
  // Of each array the lowered nodes read: how many of their inputs name it, how many
  // owners it has in all, and whether each node reading it lets go of it after the eval.
  struct Uses {
    long inputs = 0;
    long owners = 0;
    bool readers_let_go = true;
  };
  absl::flat_hash_map<const ArrayNode*, Uses> uses;
  std::vector<ArrayNode*> lazy;                   // the lowered lazy arrays, inputs first
  std::vector<const ArrayNode*> parameter_nodes;  // parameter i's array
};

// Whether something besides the lowered arrays' inputs owns `node`: the program's handle, or
// a lazy array outside this graph.
bool HeldElsewhere(const GraphBuild& build, const ArrayNode* node) {
  auto uses = build.uses.find(node);
  return uses == build.uses.end() || uses->second.owners > uses->second.inputs;
}

// The held lazy arrays to keep: those that would otherwise still need, after the eval, a
// parameter's array that only this graph holds (old weights a training loop's held gradients
// read; the loss). Computed, they let it go and it can be donated. Not every held array:
// C++ temporaries live to the end of the statement, so `(exp(x) * 2 + 1).eval()` holds
// exp(x), which the daemon fuses away and need not write out.
void MarkHeld(GraphBuild& build) {
  // Whether a lazy array reads such a parameter through arrays that stay lazy.
  absl::flat_hash_set<const ArrayNode*> reads_dying;
  for (const ArrayNode* node : build.lazy) {
    bool reads = false;
    for (const std::shared_ptr<ArrayNode>& input : node->inputs) {
      const ArrayNode* in = input.get();
      reads =
          reads || (in->materialized() ? !HeldElsewhere(build, in)
                                       : reads_dying.contains(in) && !build.targets.contains(in) &&
                                             !build.held.contains(in));
    }
    if (!reads) continue;
    reads_dying.insert(node);
    if (!build.targets.contains(node) && HeldElsewhere(build, node)) build.held.insert(node);
  }
}

// After lowering, which parameters' arrays die with this eval. A target or a held array
// lets go of its inputs (computed, it drops them); another lazy array does when it dies
// itself: its owners are only the inputs of lowered arrays that let go. A parameter's array
// whose owners are only such inputs dies (a KV cache replaced by its update; weights an
// optimizer replaced while the program holds the gradients).
void MarkDonatable(GraphBuild& build) {
  for (auto it = build.lazy.rbegin(); it != build.lazy.rend(); ++it) {
    const ArrayNode* node = *it;  // every reader of it comes later, so is decided
    bool lets_go = build.targets.contains(node) || build.held.contains(node);
    if (!lets_go) {
      auto uses = build.uses.find(node);
      lets_go = uses != build.uses.end() && uses->second.owners == uses->second.inputs &&
                uses->second.readers_let_go;
    }
    for (const std::shared_ptr<ArrayNode>& input : node->inputs) {
      bool& all = build.uses[input.get()].readers_let_go;
      all = all && lets_go;
    }
  }
  build.lowered.hints.donatable.assign(build.parameter_nodes.size(), false);
  for (size_t i = 0; i < build.parameter_nodes.size(); ++i) {
    auto it = build.uses.find(build.parameter_nodes[i]);
    if (it == build.uses.end()) continue;
    const GraphBuild::Uses& uses = it->second;
    build.lowered.hints.donatable[i] = uses.readers_let_go && uses.owners == uses.inputs;
  }
}

int32_t AddParameter(GraphBuild& build, const ArrayNode& node) {
  build.graph.nodes.push_back(
      core::ParameterNode(static_cast<int64_t>(build.lowered.parameters.size()), node.type));
  build.lowered.parameters.push_back(node.buffer);
  build.parameter_nodes.push_back(&node);
  return static_cast<int32_t>(build.graph.nodes.size() - 1);
}

// The graph node of an equal constant already lowered, or -1 (and `node` is recorded as
// the one to share if it is a small constant that is not a target).
int32_t SharedConstant(GraphBuild& build, const ArrayNode& node) {
  if (node.op != "constant" || node.attrs.values().size() != 1 ||
      node.attrs.values().begin()->first != "value" || build.targets.contains(&node)) {
    return -1;
  }
  const auto* value = std::get_if<core::HostTensor>(&node.attrs.values().begin()->second);
  if (value == nullptr || value->data.size() > kSharedConstantBytes || value->type != node.type) {
    return -1;
  }
  auto [it, added] =
      build.constants.try_emplace(value, static_cast<int32_t>(build.graph.nodes.size()));
  return added ? -1 : it->second;
}

// Appends `root` and every node it needs that is not yet in the graph, inputs first. An
// explicit stack (node, next input to visit) keeps 100k-op chains off the call stack.
void AddReachable(GraphBuild& build, ArrayNode* root) {
  if (build.index.contains(root)) return;
  std::vector<std::pair<ArrayNode*, size_t>> stack = {{root, 0}};
  while (!stack.empty()) {
    ArrayNode* node = stack.back().first;
    if (node->materialized()) {
      build.index[node] = AddParameter(build, *node);
      stack.pop_back();
      continue;
    }
    // eval makes copies first (MaterializeCopies); only an export meets one here.
    if (node->op == kCopyOp) {
      ThrowOpError(kCopyOp,
                   "an array copied from another device cannot be part of one "
                   "device's graph; export functions that stay on one device");
    }
    size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      ArrayNode* input = node->inputs[next++].get();
      if (!build.index.contains(input)) stack.push_back({input, 0});
      continue;
    }
    stack.pop_back();
    if (const int32_t shared = SharedConstant(build, *node); shared >= 0) {
      build.index[node] = shared;
      continue;
    }
    core::Node out;
    out.op = node->op;
    out.attrs = node->attrs;
    out.out = node->type;
    out.inputs.reserve(node->inputs.size());
    for (const std::shared_ptr<ArrayNode>& input : node->inputs) {
      out.inputs.push_back(build.index.at(input.get()));
      GraphBuild::Uses& uses = build.uses[input.get()];
      ++uses.inputs;
      uses.owners = input.use_count();  // nothing here copies the shared_ptrs
    }
    build.lazy.push_back(node);
    build.index[node] = static_cast<int32_t>(build.graph.nodes.size());
    build.graph.nodes.push_back(std::move(out));
  }
}

}  // namespace

LoweredGraph Lower(const std::vector<ArrayNode*>& targets, HeldArrays held) {
  LoweredGraph lowered;
  lowered.graph = std::make_shared<core::Graph>();
  GraphBuild build(lowered);
  build.targets.insert(targets.begin(), targets.end());
  for (ArrayNode* target : targets) {
    if (target->materialized()) {
      lowered.available.push_back(target->buffer);
      continue;
    }
    if (std::find(lowered.outputs.begin(), lowered.outputs.end(), target) !=
        lowered.outputs.end()) {
      continue;
    }
    AddReachable(build, target);
    build.graph.outputs.push_back(build.index.at(target));
    lowered.outputs.push_back(target);
  }
  lowered.hints.first_held_output = lowered.outputs.size();
  if (held == HeldArrays::kMaterialize) {
    MarkHeld(build);
    for (ArrayNode* node : build.lazy) {  // in graph order, so the same every step
      if (!build.held.contains(node)) continue;
      build.graph.outputs.push_back(build.index.at(node));
      lowered.outputs.push_back(node);
    }
  }
  MarkDonatable(build);
  return lowered;
}

}  // namespace ferry::detail
