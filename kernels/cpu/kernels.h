#ifndef FERRY_KERNELS_CPU_KERNELS_H_
#define FERRY_KERNELS_CPU_KERNELS_H_

// The CPU backend's kernel table, filled once by one registration function per op family
// (the file named for the family), and the helpers several families share.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/graph.h"
#include "kernels/conv_geometry.h"
#include "kernels/cpu/scratch_budget.h"
#include "kernels/fft_plan.h"
#include "kernels/fusion.h"
#include "kernels/tensor.h"

namespace ferry::kernels::cpu {

// Computes `node` from `inputs` into `out` (allocated with node.out's type). The node has
// passed validation, so arity, dtypes and shapes are as core/ops.h declares.
using Kernel = absl::Status (*)(const core::Node& node, absl::Span<const Tensor> inputs,
                                const Tensor& out);
using KernelTable = absl::flat_hash_map<std::string, Kernel>;

void RegisterUnaryKernels(KernelTable& table);      // unary.cc
void RegisterBinaryKernels(KernelTable& table);     // binary.cc
void RegisterWhereKernels(KernelTable& table);      // where.cc
void RegisterAstypeKernels(KernelTable& table);     // astype.cc
void RegisterReduceKernels(KernelTable& table);     // reduce.cc
void RegisterMatmulKernels(KernelTable& table);     // matmul.cc
void RegisterGatherMmKernels(KernelTable& table);   // gather_mm.cc
void RegisterLayoutKernels(KernelTable& table);     // layout.cc
void RegisterSoftmaxKernels(KernelTable& table);    // softmax.cc
void RegisterGeneratorKernels(KernelTable& table);  // generators.cc
void RegisterRandomKernels(KernelTable& table);     // random.cc
// ---- part A ----
void RegisterScanKernels(KernelTable& table);         // scan.cc
void RegisterIndexingKernels(KernelTable& table);     // indexing.cc
void RegisterSortKernels(KernelTable& table);         // sort.cc
void RegisterConvolutionKernels(KernelTable& table);  // conv.cc
void RegisterQuantizedKernels(KernelTable& table);    // quantized_matmul.cc (gather_qmm)
void RegisterLinalgKernels(KernelTable& table);       // linalg.cc
void RegisterComplexKernels(KernelTable& table);      // complex.cc
void RegisterFftKernels(KernelTable& table);          // fft.cc
void RegisterGatedDeltaKernels(KernelTable& table);   // gated_delta.cc
// gated_delta_vjp.cc
void RegisterGatedDeltaVjpKernels(KernelTable& table);

// The table of every kernel above, built on first use.
const KernelTable& CpuKernels();

// What RunFused works out once for `fused` (fused.cc); see Backend::CompileFused.
std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused);

// Computes a fused elementwise group into `out` (fused.cc); see Backend::RunFused.
absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs, const Tensor& out);

// Converts `n` dense elements from `from` to `to` with astype's rules (see ConvertTo in
// dispatch.h). `src` and `dst` may be the same buffer only when the dtypes have the same
// size.
void CastElements(const void* src, core::DType from, void* dst, core::DType to, int64_t n);

// The elements of `tensor` as `dtype`: the tensor's own memory when it has that dtype,
// else a converted copy held by `scratch` (counted against the running backend's budget:
// RESOURCE_EXHAUSTED "[op] scratch memory: ..." when it does not fit).
absl::StatusOr<const void*> ElementsAs(absl::string_view op, const Tensor& tensor,
                                       core::DType dtype, HostScratch& scratch);

// Where each element of a transpose or slice output reads its dense input: element strides
// per output axis and a base offset (layout.cc; the CUDA backend uses them too).
// INVALID_ARGUMENT "[op] ..." for attributes that do not fit the shapes.
struct StridedSource {
  std::vector<int64_t> strides;
  int64_t base = 0;
};
absl::StatusOr<StridedSource> TransposeSource(const core::Node& node, const core::Shape& in);
absl::StatusOr<StridedSource> SliceSource(const core::Node& node, const core::Shape& in,
                                          const core::Shape& out);

// An fft node's attributes and shapes as kernels/fft_plan.h's FftProblem (fft.cc; the CUDA
// backend uses it too).
absl::StatusOr<FftProblem> GetFftProblem(const core::Node& node, const core::Shape& in,
                                         const core::Shape& out);

// The element offset in concatenate's dense output where each input starts.
absl::StatusOr<std::vector<int64_t>> ConcatenateStarts(const core::Node& node,
                                                       absl::Span<const core::Shape> inputs,
                                                       const core::Shape& out);

// matmul's operands as NumPy reads them (matmul.cc): a 1-D left operand is a row, a 1-D
// right one a column; (a_batch..., m, k) @ (b_batch..., k, n) with the batches broadcast.
// An operand the plan has the product read transposed (kTransposeA/kTransposeB on `node`,
// see kernels/fusion.h) is stored with its last two dims swapped: (..., k, m) or (..., n, k).
struct MatmulDims {
  int64_t m = 0, n = 0, k = 0;
  core::Shape a_batch, b_batch, batch;
  bool a_transposed = false, b_transposed = false;
};
absl::StatusOr<MatmulDims> GetMatmulDims(const core::Node& node, const core::Shape& a,
                                         const core::Shape& b);

// gather_mm's problem (gather_mm.cc, shared with the CUDA backend): products of m x k @
// k x n, a's and b's matrices numbered over their flattened batch axes (a_count and b_count
// of them), stored transposed where the plan folded a transpose in (kTransposeA,
// kTransposeB: (..., k, m) and (..., n, k)).
struct GatherMmDims {
  int64_t m = 0, n = 0, k = 0;
  int64_t a_count = 0, b_count = 0;
  bool a_transposed = false, b_transposed = false;
};
absl::StatusOr<GatherMmDims> GetGatherMmDims(const core::Node& node, const core::Shape& a,
                                             const core::Shape& b);

// The pairs of gather_mm and gather_qmm (gather_mm.cc, the helpers below for every
// backend). A CPU tensor of indices as int64 (a copy):
absl::StatusOr<std::vector<int64_t>> GatherIndices(absl::string_view op, const Tensor& indices);

// Rewrites lhs and rhs (the indices as int64) to matrix numbers, a negative index counting
// from the end as take's do; an index out of range is INVALID_ARGUMENT "[gather_mm]
// rhs_indices element 3 is 9, out of range for the 4 matrices of b", on every backend.
absl::Status CheckGatherIndices(absl::string_view op, const char* a_name, int64_t a_count,
                                const char* b_name, int64_t b_count, std::vector<int64_t>& lhs,
                                std::vector<int64_t>& rhs);

// Runs of consecutive pairs that one product computes: `count` pairs from `first` on one
// matrix of b whose matrices of a (m rows each) follow one another in memory (lhs indices
// counting up, and `stackable`: a stored untransposed or single rows), so that their rows
// stack into one (count * m)-row operand.
struct GatherMmRun {
  int64_t first = 0, count = 0;
};
std::vector<GatherMmRun> GatherMmRuns(int64_t m, bool stackable, absl::Span<const int64_t> lhs,
                                      absl::Span<const int64_t> rhs);

// quantized_matmul's matrix (wq's shape and the node's attributes, as core checked them),
// shared with the CUDA backend (quantized_matmul.cc).
struct QuantizedMatmulDims {
  int64_t rows, columns, words_per_row, groups_per_row;
  int group_size, bits;
  bool transpose;
};
absl::StatusOr<QuantizedMatmulDims> GetQuantizedMatmulDims(const core::Node& node,
                                                           const core::Shape& wq_shape);

// The matrices of a linear algebra op's array (linalg.cc), for every backend: its last two
// axes are rows x cols, the others a batch of `count`; INVALID_ARGUMENT "[op] a R x C matrix
// exceeds what the solvers can index" past their 32-bit sizes.
struct MatrixBatch {
  int64_t count, rows, cols;
};
absl::StatusOr<MatrixBatch> GetMatrixBatch(const std::string& op, const core::Shape& shape);

// INVALID_ARGUMENT "[op] matrix i of the batch <what>" ("the matrix" for one): a matrix a
// factorization refused, in the same words on every backend.
absl::Status MatrixError(const std::string& op, int64_t index, int64_t count,
                         const std::string& what);

// What svd and eigh refuse first (LAPACK's SVD can loop forever on an infinity).
inline constexpr char kNonFiniteMatrix[] = "has a non-finite element (NaN or infinity)";

// A convolution node's geometry from its attributes and shapes (conv.cc), for every
// backend; INVALID_ARGUMENT "[convolution] ..." when they do not fit together.
absl::StatusOr<ConvGeometry> GetConvGeometry(const core::Node& node, const core::Shape& x,
                                             const core::Shape& w, const core::Shape& y);

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_KERNELS_H_
