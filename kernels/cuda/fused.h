#ifndef FERRY_KERNELS_CUDA_FUSED_H_
#define FERRY_KERNELS_CUDA_FUSED_H_

// Fused elementwise groups on the GPU: one kernel generated for each group when its plan is
// made and compiled with NVRTC for this GPU, so a chain reads its inputs and writes its
// result once rather than once per op. The generated code applies the prebuilt kernels'
// formulas (unary.cu, binary.cu, where.cu) with the same compiler flags, so a fused group
// gives their results bit for bit.

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/graph.h"
#include "kernels/fusion.h"
#include "kernels/tensor.h"

namespace ferry::kernels::cuda {

// The CUDA source of `extern "C" __global__ void ferry_fused(in_0, ..., out, n)`, which
// computes `expr` (see FusedExpr) element by element, its inputs broadcast by index
// arithmetic fixed for their shapes; empty when the values are not all of one floating
// dtype (float32, float16, bfloat16, float64) or bool, or an op is one it does not generate.
std::string FusedKernelSource(const core::Graph& expr);

// A fused group's kernel, compiled; loaded into the device on first launch (and again after
// a device reset, which unloads it).
class FusedKernel : public CompiledFused {
 public:
  FusedKernel(std::string source, std::string cubin)
      : source_(std::move(source)), cubin_(std::move(cubin)) {}

  const std::string& source() const { return source_; }

  // Queues the kernel on `stream` over `inputs` into `out` (its elements: one kernel serves
  // every shape its source fits). `generation` counts the device's resets: a new one loads
  // the kernel again.
  cudaError_t Launch(absl::Span<const Tensor> inputs, const Tensor& out, cudaStream_t stream,
                     int64_t generation) const;

 private:
  const std::string source_;
  const std::string cubin_;
  mutable absl::Mutex mu_;
  mutable cudaKernel_t kernel_ ABSL_GUARDED_BY(mu_) = nullptr;
  mutable int64_t loaded_generation_ ABSL_GUARDED_BY(mu_) = -1;
};

// The kernel for `expr` on a GPU of compute capability major.minor, or null with the reason
// in `why` (the group is then run op by op).
std::shared_ptr<const FusedKernel> CompileFusedKernel(const core::Graph& expr, int major, int minor,
                                                      std::string* why);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_FUSED_H_
