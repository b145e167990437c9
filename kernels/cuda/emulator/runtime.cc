// The CUDA runtime API functions ferry's CUDA backend calls, for the CUDA emulator: one
// device whose memory is host memory, streams and events that complete work as it is
// queued (a valid order of any CUDA program that synchronizes correctly), and no module
// loading (fused kernels fall back to their ops). Device memory is tracked so that copies
// and frees outside a live allocation fail as on a GPU rather than corrupting the test.

#include "kernels/cuda/emulator/runtime.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

struct CUstream_st {};
struct CUevent_st {};
struct CUmemPoolHandle_st {};

namespace ferry::cuda_emulator {
namespace {

constexpr size_t kDeviceBytes = size_t{8} << 30;
constexpr size_t kAlignment = 256;  // as cudaMalloc

struct State {
  std::mutex mu;
  std::map<const char*, size_t> allocations;  // device memory: start -> bytes
  size_t allocated = 0;
  int device = 0;
};

State& Global() {
  static auto* state = new State;
  return *state;
}

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t Fail(cudaError_t error) {
  SetLastError(error);
  return error;
}

// Whether [p, p + bytes) lies inside one live device allocation.
bool IsDevice(const void* p, size_t bytes) {
  State& s = Global();
  std::lock_guard<std::mutex> lock(s.mu);
  const char* c = static_cast<const char*>(p);
  auto it = s.allocations.upper_bound(c);
  if (it == s.allocations.begin()) return false;
  --it;
  return c >= it->first && bytes <= it->second - static_cast<size_t>(c - it->first);
}

cudaError_t Allocate(void** ptr, size_t size) {
  if (ptr == nullptr) return Fail(cudaErrorInvalidValue);
  State& s = Global();
  std::lock_guard<std::mutex> lock(s.mu);
  if (size > kDeviceBytes - s.allocated) return Fail(cudaErrorMemoryAllocation);
  // The exact size (not rounded up), so that AddressSanitizer flags a kernel's overrun.
  void* p = nullptr;
  if (posix_memalign(&p, kAlignment, std::max<size_t>(size, 1)) != 0) {
    return Fail(cudaErrorMemoryAllocation);
  }
  s.allocations[static_cast<const char*>(p)] = size;
  s.allocated += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t Free(void* p) {
  if (p == nullptr) return cudaSuccess;
  State& s = Global();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.allocations.find(static_cast<const char*>(p));
  if (it == s.allocations.end()) return Fail(cudaErrorInvalidValue);
  s.allocated -= it->second;
  s.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t Copy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (count == 0) return cudaSuccess;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if (dst == nullptr || src == nullptr || (src_device && !IsDevice(src, count)) ||
      (dst_device && !IsDevice(dst, count))) {
    return Fail(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, count);
  return cudaSuccess;
}

}  // namespace

void SetLastError(cudaError_t error) {
  if (last_error == cudaSuccess) last_error = error;
}

}  // namespace ferry::cuda_emulator

using ferry::cuda_emulator::Fail;
using ferry::cuda_emulator::Global;

extern "C" {

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorNotSupported:
      return "operation not supported (by the CUDA emulator)";
    default:
      return "unknown error (CUDA emulator)";
  }
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t error = ferry::cuda_emulator::last_error;
  ferry::cuda_emulator::last_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError(void) { return ferry::cuda_emulator::last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return Fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice);
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return Fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr || device != 0) return Fail(cudaErrorInvalidValue);
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, "CUDA emulator (host CPU)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = ferry::cuda_emulator::kDeviceBytes;
  prop->major = 9;
  prop->minor = 0;
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr || device != 0) return Fail(cudaErrorInvalidValue);
  *value = attr == cudaDevAttrMemoryPoolsSupported ? 1 : 0;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return Fail(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return Fail(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(Global().mu);
  if (free_bytes != nullptr) *free_bytes = ferry::cuda_emulator::kDeviceBytes - Global().allocated;
  if (total_bytes != nullptr) *total_bytes = ferry::cuda_emulator::kDeviceBytes;
  return cudaSuccess;
}

cudaError_t cudaDeviceReset(void) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaMalloc(void** ptr, size_t size) {
  return ferry::cuda_emulator::Allocate(ptr, size);
}
cudaError_t cudaFree(void* ptr) { return ferry::cuda_emulator::Free(ptr); }

cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps* props) {
  if (pool == nullptr || props == nullptr) return Fail(cudaErrorInvalidValue);
  *pool = new CUmemPoolHandle_st;
  return cudaSuccess;
}
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool) {
  delete pool;
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr, void* value) {
  if (pool == nullptr || value == nullptr) return Fail(cudaErrorInvalidValue);
  return cudaSuccess;
}
cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t) {
  if (pool == nullptr) return Fail(cudaErrorInvalidValue);
  return ferry::cuda_emulator::Allocate(ptr, size);
}
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) { return ferry::cuda_emulator::Free(ptr); }

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  if (ptr == nullptr) return Fail(cudaErrorInvalidValue);
  *ptr = std::malloc(std::max<size_t>(size, 1));
  return *ptr != nullptr ? cudaSuccess : Fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  return ferry::cuda_emulator::Copy(dst, src, count, kind);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t) {
  return ferry::cuda_emulator::Copy(dst, src, count, kind);
}
cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  if (!ferry::cuda_emulator::IsDevice(ptr, count)) return Fail(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) {
  return cudaMemset(ptr, value, count);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (stream == nullptr) return Fail(cudaErrorInvalidValue);
  *stream = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  return cudaStreamCreate(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (event == nullptr) return Fail(cudaErrorInvalidValue);
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  return cudaEventCreate(event);
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  return event != nullptr ? cudaSuccess : Fail(cudaErrorInvalidValue);
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event != nullptr ? cudaSuccess : Fail(cudaErrorInvalidValue);
}

// Fused kernels are cubins for a real GPU: the backend runs their ops instead.
cudaError_t cudaLibraryLoadData(cudaLibrary_t*, const void*, cudaJitOption*, void**, unsigned int,
                                cudaLibraryOption*, void**, unsigned int) {
  return Fail(cudaErrorNotSupported);
}
cudaError_t cudaLibraryUnload(cudaLibrary_t) { return Fail(cudaErrorNotSupported); }
cudaError_t cudaLibraryGetKernel(cudaKernel_t*, cudaLibrary_t, const char*) {
  return Fail(cudaErrorNotSupported);
}
cudaError_t cudaLaunchKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  return Fail(cudaErrorNotSupported);
}

}  // extern "C"
