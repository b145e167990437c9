#ifndef FERRY_KERNELS_FUSION_H_
#define FERRY_KERNELS_FUSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace ferry::kernels {

// What a backend works out once for a fused expression; each backend derives its own.
class CompiledFused {
 public:
  virtual ~CompiledFused() = default;
};

// A chain of elementwise nodes (unary, binary, where, astype) that all produce one shape,
// run as one pass over memory. `expr` is a small graph: parameters 0..k-1 are the group's
// inputs (types as produced outside, which may broadcast to the output's shape), then the
// group's nodes, inputs renumbered; its single output is the group's result. A backend
// evaluates it however suits it (the CPU in cache-sized blocks, CUDA as one generated
// kernel), element by element with the same rules as the unfused kernels.
struct FusedExpr {
  core::Graph expr;
  // The backend's compiled form of `expr` (Backend::CompileFused), made with the plan.
  std::shared_ptr<const CompiledFused> compiled;
};

// How the executor computes a step's value, decided when the plan is made so that a run
// compares no op names.
enum class StepKind {
  kParameter,   // the bound parameter `parameter`
  kConstant,    // the node's value, copied to the device
  kView,        // reshape, or astype to the same dtype: the input's bytes under a new type
  kKernel,      // the backend runs the node, or the fused expression
  kCollective,  // RunCollective, with the session's group (kernels/collectives.h)
};

// Attributes of a matmul (or gather_mm) the plan made read an operand transposed in place: a
// transpose of that operand's last two axes, which only the product read, is left out of the
// plan and the product gets its input instead (BLAS and cuBLASLt read a transposed operand as
// fast; a mixture of experts' swapaxes(weight) is never copied). A client's product takes no
// attributes (validation refuses them), so only plans carry these.
inline constexpr char kTransposeA[] = "transpose_a";
inline constexpr char kTransposeB[] = "transpose_b";

// One thing the executor runs: node `node` alone, or, when `fused` is set, the group of
// nodes `members` (ascending; `node` is the last) as `fused`'s expression over `inputs`.
struct Step {
  int32_t node = -1;
  std::vector<int32_t> members;  // empty unless fused
  std::vector<int32_t> inputs;   // graph nodes this step reads
  bool fused = false;
  FusedExpr expr;
  StepKind kind = StepKind::kKernel;
  int64_t parameter = -1;    // kParameter: which parameter
  bool elementwise = false;  // fused, IsElementwise or an all-reduce: may write over a dying input
  bool gives_input = false;  // a send: its value is its input's buffer (MLX's)
  // A scatter or slice_update: its output is its first input with some elements rewritten,
  // so it may be written over that input when it dies here (a KV cache written at a
  // position, a donated buffer); the kernel then skips copying it.
  bool rewrites_first_input = false;
  // The node the backend runs instead of the graph's, when the plan changed it (a matmul
  // with kTransposeA/kTransposeB and its transposes' inputs); null: the graph's node.
  std::shared_ptr<const core::Node> rewritten;
  // Values whose last reader is this step, freed (or reused) once it has run.
  std::vector<int32_t> release;
};

// Whether `op` computes each output element from the same-position elements of its
// (broadcast) inputs alone.
bool IsElementwise(const std::string& op);

// The most nodes one fused group holds: a longer chain becomes several groups. A generated
// GPU kernel compiles in about 6 ms per op (NVRTC), so a group of a graph's 10^5 ops would
// hold up its plan for minutes.
inline constexpr int32_t kMaxFusedNodes = 128;

// The steps that compute `graph`, in an order that respects dependencies. Nodes that
// nothing reads and that are no output are left out, and so are transposes of the last two
// axes that only a matmul reads (the matmul reads their input, kTransposeA/kTransposeB). With
// `fuse`, maximal groups of two or more (at most kMaxFusedNodes) elementwise nodes of one output
// shape, whose inner values nothing else reads and none of which reads or writes complex64, become
// fused steps; without, every node is its own step.
std::vector<Step> PlanSteps(const core::Graph& graph, bool fuse);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_FUSION_H_
