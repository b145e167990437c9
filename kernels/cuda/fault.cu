// A kernel that faults on purpose, so tests can check that a fault fails one call and the
// backend keeps serving.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

__global__ void FaultKernel(int* wild) { *wild = 1; }

}  // namespace

cudaError_t LaunchFault(cudaStream_t stream) {
  FaultKernel<<<1, 1, 0, stream>>>(reinterpret_cast<int*>(uintptr_t{0x10}));
  return cudaGetLastError();
}

}  // namespace ferry::kernels::cuda
