#include "kernels/cuda/cuda_devices.h"

#ifdef FERRY_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace ferry::kernels {

bool BuiltWithCuda() {
#ifdef FERRY_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int CudaDeviceCount(std::string* reason) {
#ifdef FERRY_WITH_CUDA
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    *reason = std::string("no usable CUDA device: ") + cudaGetErrorString(error);
    return 0;
  }
  if (count == 0) *reason = "no CUDA device is present";
  return count;
#else
  *reason = "this ferry was built without the CUDA toolkit";
  return 0;
#endif
}

}  // namespace ferry::kernels
