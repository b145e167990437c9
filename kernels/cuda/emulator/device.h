#ifndef FERRY_KERNELS_CUDA_EMULATOR_DEVICE_H_
#define FERRY_KERNELS_CUDA_EMULATOR_DEVICE_H_

// The device side of the CUDA emulator: what a kernels/cuda/*.cu file needs to compile as
// host C++ (translate.py puts this include first and turns each launch into a call of
// Launch below). Each block's threads run as fibers on the launching thread, so
// __syncthreads is a real barrier and __shared__ (a static) is one array per block. For
// tests only: it checks the kernels' logic against the CPU reference where no GPU is.

// Before the CUDA headers, which keep qualifiers already defined.
#define __host__
#define __device__
#define __global__
#define __shared__ static
#define __forceinline__ inline

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace ferry::cuda_emulator {

// The built-in variables of the thread running now.
struct ThreadIndex {
  uint3 thread, block;
  dim3 block_dim, grid_dim;
};
const ThreadIndex& Current();

// Runs `body` once per thread of the grid, block after block; false (and the launch error
// set) for a configuration CUDA refuses.
bool RunGrid(dim3 grid, dim3 block, const std::function<void()>& body);

// Suspends the calling thread until every thread of its block got here or exited.
void SyncThreads();

// A launch's configuration; Of(kernel) is the launch, called with the kernel's arguments,
// which it copies once, as CUDA does.
class Launch {
 public:
  Launch(dim3 grid, dim3 block, size_t = 0, cudaStream_t = nullptr) : grid_(grid), block_(block) {}

  template <typename Kernel>
  auto Of(Kernel kernel) const {
    return [grid = grid_, block = block_, kernel](auto... args) {
      RunGrid(grid, block, [&] { kernel(args...); });
    };
  }

 private:
  dim3 grid_, block_;
};

}  // namespace ferry::cuda_emulator

#define threadIdx (::ferry::cuda_emulator::Current().thread)
#define blockIdx (::ferry::cuda_emulator::Current().block)
#define blockDim (::ferry::cuda_emulator::Current().block_dim)
#define gridDim (::ferry::cuda_emulator::Current().grid_dim)

inline void __syncthreads() { ::ferry::cuda_emulator::SyncThreads(); }

// Threads of a block run one at a time, and launches one after another: plain updates
// are atomic.
template <typename T>
T atomicMin(T* address, T value) {
  const T old = *address;
  if (value < old) *address = value;
  return old;
}
template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

// CUDA's device math is overloaded for float in the global namespace.
using std::atan2;
using std::ceil;
using std::copysign;
using std::cos;
using std::erf;
using std::erfc;
using std::exp;
using std::expm1;
using std::fabs;
using std::floor;
using std::fmod;
using std::hypot;
using std::isfinite;
using std::isinf;
using std::isnan;
using std::log;
using std::log10;
using std::log1p;
using std::log2;
using std::max;
using std::min;
using std::pow;
using std::rint;
using std::sin;
using std::sqrt;
using std::tanh;
using std::trunc;

// sin(pi x) and cos(pi x), exact at multiples of 1/2 as CUDA's: x less its nearest
// multiple of 1/2 (exact), in double, turned by that many quarter turns.
inline void sincospif(float x, float* s, float* c) {
  const double quarters = std::nearbyint(2.0 * x);
  const double f = M_PI * (static_cast<double>(x) - 0.5 * quarters);
  const double sf = std::sin(f), cf = std::cos(f);
  const double sq[4] = {sf, cf, -sf, -cf}, cq[4] = {cf, -sf, -cf, sf};
  const int q = static_cast<int>(std::fmod(quarters, 4.0) + 4.0) % 4;
  *s = static_cast<float>(sq[q]);
  *c = static_cast<float>(cq[q]);
}

#endif  // FERRY_KERNELS_CUDA_EMULATOR_DEVICE_H_
