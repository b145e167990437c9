#ifndef FERRY_KERNELS_CPU_CPU_BACKEND_H_
#define FERRY_KERNELS_CPU_CPU_BACKEND_H_

#include <memory>

#include "kernels/backend.h"

namespace ferry::kernels {

// The reference backend: host memory and a portable C++ kernel per op (OpenBLAS for
// floating matmul). Every other backend is tested against it.
std::unique_ptr<Backend> MakeCpuBackend(int64_t memory_limit_bytes);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_CPU_CPU_BACKEND_H_
