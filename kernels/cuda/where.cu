// where(cond, x, y) with broadcasting; cond is already bool, x and y hold the output dtype.
// out may be cond, x or y (the executor's in-place reuse needs out's shape, so the same
// offsets): each thread reads its three inputs before writing that element.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

// Elements are moved, never computed, so only their size matters.
template <typename W>
__global__ void WhereKernel(const bool* cond, const W* x, const W* y, W* out, Indexer ix,
                            int64_t n) {
  FERRY_GRID_LOOP(i, n) {
    int64_t off[4];
    Offsets(ix, i, off);
    out[off[0]] = Load(cond + off[1]) ? x[off[2]] : y[off[3]];
  }
}

template <typename W>
cudaError_t Launch(const void* cond, const void* x, const void* y, void* out, const Indexer& ix,
                   int64_t n, cudaStream_t stream) {
  WhereKernel<W><<<GridFor(n), kThreads, 0, stream>>>(
      static_cast<const bool*>(cond), static_cast<const W*>(x), static_cast<const W*>(y),
      static_cast<W*>(out), ix, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchWhere(core::DType dtype, const void* cond, const void* x, const void* y,
                        void* out, const Indexer& ix, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (core::SizeOf(dtype)) {
    case 1:
      return Launch<uint8_t>(cond, x, y, out, ix, n, stream);
    case 2:
      return Launch<uint16_t>(cond, x, y, out, ix, n, stream);
    case 4:
      return Launch<uint32_t>(cond, x, y, out, ix, n, stream);
    default:
      return Launch<uint64_t>(cond, x, y, out, ix, n, stream);
  }
}

}  // namespace ferry::kernels::cuda
