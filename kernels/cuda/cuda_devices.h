#ifndef FERRY_KERNELS_CUDA_CUDA_DEVICES_H_
#define FERRY_KERNELS_CUDA_CUDA_DEVICES_H_

#include <string>

namespace ferry::kernels {

// Whether this build links the CUDA runtime (the toolkit was found at build time).
bool BuiltWithCuda();

// The number of usable CUDA devices; 0 with `reason` set ("built without CUDA", "no CUDA
// driver", ...) when there are none.
int CudaDeviceCount(std::string* reason);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_CUDA_CUDA_DEVICES_H_
