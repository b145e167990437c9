#ifndef FERRY_KERNELS_CUDA_EMULATOR_RUNTIME_H_
#define FERRY_KERNELS_CUDA_EMULATOR_RUNTIME_H_

// The CUDA emulator's runtime (runtime.cc defines the CUDA runtime API's functions that
// ferry calls, on host memory) as the device side sees it.

#include <cuda_runtime_api.h>

namespace ferry::cuda_emulator {

// What the next cudaGetLastError returns, unless an earlier error is pending.
void SetLastError(cudaError_t error);

}  // namespace ferry::cuda_emulator

#endif  // FERRY_KERNELS_CUDA_EMULATOR_RUNTIME_H_
