#ifndef FERRY_KERNELS_CPU_FUSED_F32_H_
#define FERRY_KERNELS_CPU_FUSED_F32_H_

// The fused group's fast path for the common case: chains of float32 arithmetic over
// dense or single-element inputs, compiled to a small program that evaluates the whole
// chain per tile of vector registers (fused_f32_tiles.h). RunFused tries it first.

#include <memory>

#include "absl/types/span.h"
#include "core/graph.h"
#include "kernels/cpu/simd_level.h"
#include "kernels/tensor.h"

namespace ferry::kernels::cpu {

// A fused expression compiled for the fast path, once, to run on every call's inputs.
struct Float32Program;

// The program for the fused expression `expr` (see FusedExpr) when every value is float32,
// every op is add, sub, mul, div, maximum, minimum, neg, abs, relu, exp or tanh, and every
// parameter has the result's size or a single element; null otherwise.
std::shared_ptr<const Float32Program> CompileFloat32(const core::Graph& expr);

// Computes `program` from `inputs` into `out` with `level`'s instructions (at most
// BestSimdLevel()). Returns false, having done nothing, when an input or `out` is not
// float32 or not of the size the program was compiled for. Results are the unfused
// kernels' bit for bit, but for which NaN an add or mul of two NaNs gives (x86 returns the
// first operand's, and compilers order those operands freely).
bool RunFloat32(const Float32Program& program, absl::Span<const Tensor> inputs, const Tensor& out,
                SimdLevel level);

// CompileFloat32 and RunFloat32 in one call: false, having done nothing, when either
// refuses.
bool RunFusedFloat32(const core::Graph& expr, absl::Span<const Tensor> inputs, const Tensor& out,
                     SimdLevel level);

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_FUSED_F32_H_
