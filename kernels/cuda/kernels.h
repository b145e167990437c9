#ifndef FERRY_KERNELS_CUDA_KERNELS_H_
#define FERRY_KERNELS_CUDA_KERNELS_H_

// The CUDA backend's kernel table (host side): one registration function per op family,
// each turning a node into launches of its .cu file (launch.h).

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/graph.h"
#include "kernels/cuda/launch.h"
#include "kernels/tensor.h"

namespace ferry::kernels::cuda {

// What a kernel gets besides its node and tensors: the stream to queue on, scratch device
// memory (freed in stream order when the context goes) and the matmul settings.
class Context {
 public:
  Context(cudaStream_t stream, cudaMemPool_t pool, bool allow_tf32)
      : stream_(stream), pool_(pool), allow_tf32_(allow_tf32) {}
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  cudaStream_t stream() const { return stream_; }
  bool allow_tf32() const { return allow_tf32_; }

  // `bytes` of device memory, or RESOURCE_EXHAUSTED "[op] ..." naming the size.
  absl::StatusOr<void*> Scratch(const std::string& op, size_t bytes);

  // Scratch for cuBLASLt's workspace, allocated on the first call and shared by the
  // context's later products (a convolution runs one per pass and group).
  absl::StatusOr<void*> Workspace(const std::string& op, size_t bytes);

  // The elements of `tensor` as `dtype`: its own memory, or a converted scratch copy.
  absl::StatusOr<const void*> ElementsAs(const std::string& op, const Tensor& tensor,
                                         core::DType dtype);

 private:
  cudaStream_t stream_;
  cudaMemPool_t pool_;
  bool allow_tf32_;
  std::vector<void*> scratch_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

using Kernel = absl::Status (*)(Context& context, const core::Node& node,
                                absl::Span<const Tensor> inputs, const Tensor& out);
using KernelTable = absl::flat_hash_map<std::string, Kernel>;

// Defined in kernels.cc (matmul: matmul.cc); their device code is in the .cu named.
void RegisterUnaryKernels(KernelTable& table);        // unary.cu
void RegisterBinaryKernels(KernelTable& table);       // binary.cu
void RegisterWhereKernels(KernelTable& table);        // where.cu
void RegisterAstypeKernels(KernelTable& table);       // astype.cu
void RegisterReduceKernels(KernelTable& table);       // reduce.cu
void RegisterLayoutKernels(KernelTable& table);       // layout.cu
void RegisterSoftmaxKernels(KernelTable& table);      // softmax.cu
void RegisterGeneratorKernels(KernelTable& table);    // generators.cu
void RegisterRandomKernels(KernelTable& table);       // random.cu
void RegisterScanKernels(KernelTable& table);         // scan.cu
void RegisterIndexingKernels(KernelTable& table);     // indexing.cu (slice_update: layout.cu)
void RegisterSortKernels(KernelTable& table);         // sort.cu
void RegisterConvolutionKernels(KernelTable& table);  // conv.cu
void RegisterMatmulKernels(KernelTable& table);       // matmul.cc (cuBLASLt)
void RegisterGatherMmKernels(KernelTable& table);     // gather_mm.cc: gather_mm gather_qmm
void RegisterQuantizedKernels(KernelTable& table);    // quantized.cu (and cuBLASLt)
void RegisterLinalgKernels(KernelTable& table);       // linalg.cc: cuSOLVER and linalg.cu
void RegisterComplexKernels(KernelTable& table);      // complex.cu
void RegisterFftKernels(KernelTable& table);          // fft.cu
void RegisterGatedDeltaKernels(KernelTable& table);   // gated_delta.cc: gated_delta.cu
// gated_delta_vjp.cc: gated_delta_vjp.cu
void RegisterGatedDeltaVjpKernels(KernelTable& table);

// gated_delta's and gated_delta_vjp's shared operands (q, k, v, g, beta, state: inputs 0-5)
// as float32, converted copies in scratch where stored in 16 bits, their dims, and the mask
// (bool bytes) where inputs has one at mask_at (gated_delta.cc).
absl::StatusOr<GatedDeltaArgs> GatedDeltaOperands(Context& ctx, const core::Node& node,
                                                  absl::Span<const Tensor> inputs, size_t mask_at);

// Drops the cuBLASLt handles and plans made so far: a device reset destroyed the context
// they were made in, so the next product makes new ones (gemm.cc).
void ForgetCublasLtHandles();

// Every kernel above, built on first use. Needs no GPU.
const KernelTable& CudaKernels();

// quantized_matmul's product, shared with gather_qmm (one per run of pairs on one expert):
// `rows` rows of x (rows, inner) times q (transposed as `transpose`) into y (rows, width).
// Up to kQuantizedVectorRows rows read the packed words where they lie; more dequantize q
// into scratch (`dequantized`, allocated on first need and reused by later calls; marked
// unavailable when it does not fit) and multiply through cuBLASLt; where that has no
// algorithm or no scratch, the vector kernels take the rows 8 at a time.
struct DequantizedScratch {
  void* data = nullptr;
  bool unavailable = false;
};
absl::Status QuantizedProduct(Context& ctx, const std::string& op, core::DType dtype,
                              const QuantizedMatrix& q, bool transpose, const char* x, int64_t rows,
                              char* y, DequantizedScratch& dequantized);

// OK for cudaSuccess, else INTERNAL "[op] <what>: <CUDA's error>".
absl::Status CheckCuda(const std::string& op, const char* what, cudaError_t error);

// An indexer over `shape` for operands with `strides` (elements): size-1 dims dropped,
// dims contiguous for every operand merged. UNIMPLEMENTED "[op] ..." past kMaxDims.
absl::StatusOr<Indexer> MakeIndexer(const std::string& op, absl::Span<const int64_t> shape,
                                    const std::vector<std::vector<int64_t>>& strides);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_KERNELS_H_
