// The one kernel behind reshape, transpose, broadcast_to, slice and concatenate: a strided
// copy of elements by size (see kernels/cpu/layout.cc).

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename W>
__global__ void CopyKernel(const W* src, W* dst, Indexer ix, int64_t n) {
  const bool dense = ix.rank == 1 && ix.strides[0][0] == 1 && ix.strides[1][0] == 1;
  FERRY_GRID_LOOP(i, n) {
    if (dense) {
      dst[i] = src[i];
    } else {
      int64_t off[2];
      Offsets(ix, i, off);
      dst[off[0]] = src[off[1]];
    }
  }
}

template <typename W>
cudaError_t Launch(const void* src, void* dst, const Indexer& ix, int64_t n, cudaStream_t stream) {
  CopyKernel<W><<<GridFor(n), kThreads, 0, stream>>>(static_cast<const W*>(src),
                                                     static_cast<W*>(dst), ix, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCopy(int element_size, const void* src, void* dst, const Indexer& ix, int64_t n,
                       cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (element_size) {
    case 1:
      return Launch<uint8_t>(src, dst, ix, n, stream);
    case 2:
      return Launch<uint16_t>(src, dst, ix, n, stream);
    case 4:
      return Launch<uint32_t>(src, dst, ix, n, stream);
    default:
      return Launch<uint64_t>(src, dst, ix, n, stream);
  }
}

}  // namespace ferry::kernels::cuda
