// Upload and download GB/s through the CUDA backend (from pageable host memory, through its
// pinned double-buffered staging, as the daemon uses it) against cudaMemcpy from pinned
// memory, the PCIe ceiling; and from and into host memory the backend page-locked (a
// client's shared region), one DMA each. Prints RESULT and RATIO lines; SKIP without a GPU.

#include <cuda_runtime_api.h>

#include <cstring>
#include <memory>
#include <vector>

#include "bench/cuda/bench_util.h"

int main(int argc, char** argv) {
  using namespace ferry;
  bench::ParseFlags(argc, argv);
  std::unique_ptr<kernels::Backend> backend = bench::CudaBackendOrSkip();
  // --quick: two whole staging buffers (8 MiB) and a part of one.
  const size_t bytes = bench::Quick() ? (size_t{17} << 20) + 12345 : size_t{256} << 20;
  absl::StatusOr<kernels::Tensor> tensor =
      backend->Allocate({core::DType::kUInt8, {static_cast<int64_t>(bytes)}});
  bench::Check(tensor.status());
  std::vector<char> pageable(bytes, 1);
  void* pinned = nullptr;
  if (cudaHostAlloc(&pinned, bytes, cudaHostAllocDefault) != cudaSuccess) return 1;
  std::memset(pinned, 1, bytes);
  auto sync = [&] { bench::Check(backend->Synchronize()); };

  const double up =
      bytes /
      bench::SecondsPerCall(
          [&] { bench::Check(backend->CopyFromHost(pageable.data(), bytes, *tensor, 0)); }, sync) /
      1e9;
  const double up_pinned =
      bytes /
      bench::SecondsPerCall(
          [&] { cudaMemcpy(tensor->raw(), pinned, bytes, cudaMemcpyHostToDevice); }, [] {}) /
      1e9;
  bench::Result("upload", up, "GB/s");
  bench::Result("upload_cudamemcpy_pinned", up_pinned, "GB/s");
  bench::Ratio("upload_vs_pinned_memcpy", up, up_pinned);

  const double down =
      bytes /
      bench::SecondsPerCall(
          [&] { bench::Check(backend->CopyToHost(*tensor, 0, bytes, pageable.data())); }, [] {}) /
      1e9;
  const double down_pinned =
      bytes /
      bench::SecondsPerCall(
          [&] { cudaMemcpy(pinned, tensor->raw(), bytes, cudaMemcpyDeviceToHost); }, [] {}) /
      1e9;
  bench::Result("download", down, "GB/s");
  bench::Result("download_cudamemcpy_pinned", down_pinned, "GB/s");
  bench::Ratio("download_vs_pinned_memcpy", down, down_pinned);

  // Host memory the backend page-locked (a client's shared region, a HostBuffer): one DMA.
  std::vector<char> region(bytes, 1);
  std::shared_ptr<void> locked = backend->PinHostMemory(region.data(), bytes);
  if (locked == nullptr) return 1;
  const double up_region =
      bytes /
      bench::SecondsPerCall(
          [&] { bench::Check(backend->CopyFromPinnedHost(region.data(), bytes, *tensor, 0)); },
          [] {}) /
      1e9;
  const double down_region =
      bytes /
      bench::SecondsPerCall(
          [&] { bench::Check(backend->CopyToPinnedHost(*tensor, 0, bytes, region.data())); },
          [] {}) /
      1e9;
  bench::Result("upload_pinned_region", up_region, "GB/s");
  bench::Ratio("upload_pinned_region_vs_pinned_memcpy", up_region, up_pinned);
  bench::Result("download_pinned_region", down_region, "GB/s");
  bench::Ratio("download_pinned_region_vs_pinned_memcpy", down_region, down_pinned);
  locked.reset();
  cudaFreeHost(pinned);
  return 0;
}
