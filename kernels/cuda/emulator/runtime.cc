// The CUDA runtime API functions ferry's CUDA backend calls, for the CUDA emulator: one
// device whose memory is host memory, and streams and events that complete work as it is
// queued (a valid order of any CUDA program that synchronizes correctly). Device memory is
// tracked so that copies and frees outside a live allocation fail as on a GPU rather than
// corrupting the test. The "cubins" it loads are shared objects that the emulator's NVRTC
// (nvrtc.cc) compiled from a kernel's source: fused groups run their generated kernels.

// clang-format off
#include "kernels/cuda/emulator/device.h"  // first: its CUDA qualifiers go before the headers'
// clang-format on
#include "kernels/cuda/emulator/runtime.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

struct CUstream_st {};
struct CUevent_st {};
struct CUmemPoolHandle_st {};

// A kernel of a loaded library: its entry, ferry_emulator_launch_<name> (nvrtc.cc).
struct CUkern_st {
  int (*launch)(dim3 grid, dim3 block, void** args);
};

// A loaded library: a shared object, dlopened from a memfd that stays open while the object
// is mapped, so that its name (/proc/self/fd/N) is never another's, which dlopen would take
// for it.
struct CUlib_st {
  void* handle;
  int fd;
  std::map<std::string, std::unique_ptr<CUkern_st>> kernels;  // by name, as looked up
};

namespace ferry::cuda_emulator {
namespace {

constexpr size_t kDeviceBytes = size_t{8} << 30;
constexpr size_t kAlignment = 256;  // as cudaMalloc

struct State {
  std::mutex mu;
  std::map<const char*, size_t> allocations;  // device memory: start -> bytes
  size_t allocated = 0;
  int device = 0;
  std::set<cudaLibrary_t> libraries;  // loaded
  std::set<const void*> kernels;      // of loaded libraries: what cudaLaunchKernel may launch
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

// The size of the ELF shared object at `code` (where its last header table, section or
// segment ends), or 0 if it is none: a real cubin is an ELF executable for the GPU (EM_CUDA).
size_t SharedObjectSize(const void* code) {
  const auto* base = static_cast<const unsigned char*>(code);
  const auto* elf = static_cast<const Elf64_Ehdr*>(code);
  if (std::memcmp(elf->e_ident, ELFMAG, SELFMAG) != 0 || elf->e_ident[EI_CLASS] != ELFCLASS64 ||
      elf->e_type != ET_DYN || elf->e_machine == EM_CUDA) {
    return 0;
  }
  size_t end = std::max<size_t>(elf->e_shoff + size_t{elf->e_shnum} * elf->e_shentsize,
                                elf->e_phoff + size_t{elf->e_phnum} * elf->e_phentsize);
  for (int i = 0; i < elf->e_shnum; ++i) {
    const auto* section = reinterpret_cast<const Elf64_Shdr*>(base + elf->e_shoff) + i;
    if (section->sh_type != SHT_NOBITS) end = std::max(end, section->sh_offset + section->sh_size);
  }
  for (int i = 0; i < elf->e_phnum; ++i) {
    const auto* segment = reinterpret_cast<const Elf64_Phdr*>(base + elf->e_phoff) + i;
    end = std::max(end, segment->p_offset + segment->p_filesz);
  }
  return end;
}

// Unloads `library`, which is no longer in State.
void Close(cudaLibrary_t library) {
  dlclose(library->handle);
  // dlclose may keep the object mapped (a unique symbol does): then its fd stays open.
  const std::string path = "/proc/self/fd/" + std::to_string(library->fd);
  if (void* still = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD); still != nullptr) {
    dlclose(still);
  } else {
    close(library->fd);
  }
  delete library;
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
    case cudaErrorInvalidKernelImage:
      return "device kernel image is invalid (the CUDA emulator loads its NVRTC's only)";
    case cudaErrorSymbolNotFound:
      return "named symbol not found";
    case cudaErrorInvalidDeviceFunction:
      return "invalid device function";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorOperatingSystem:
      return "OS call failed or operation not supported on this OS";
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

// Unloads every library, as CUDA's reset does with the context: their kernels launch no more.
cudaError_t cudaDeviceReset(void) {
  std::set<cudaLibrary_t> libraries;
  {
    std::lock_guard<std::mutex> lock(Global().mu);
    libraries.swap(Global().libraries);
    Global().kernels.clear();
  }
  for (cudaLibrary_t library : libraries) ferry::cuda_emulator::Close(library);
  return cudaSuccess;
}
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

// Host memory is the device's here: registering only checks its arguments, and that a
// range is registered once and unregistered by its first byte, as CUDA does.
namespace {
std::mutex registered_mu;
std::map<const void*, size_t>& Registered() {
  static auto* registered = new std::map<const void*, size_t>;
  return *registered;
}
}  // namespace

cudaError_t cudaHostRegister(void* ptr, size_t size, unsigned int) {
  if (ptr == nullptr || size == 0) return Fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(registered_mu);
  const char* first = static_cast<const char*>(ptr);
  auto next = Registered().lower_bound(ptr);
  const bool overlaps_next =
      next != Registered().end() && static_cast<const char*>(next->first) < first + size;
  const bool overlaps_previous =
      next != Registered().begin() &&
      static_cast<const char*>(std::prev(next)->first) + std::prev(next)->second > first;
  if (overlaps_next || overlaps_previous) return Fail(cudaErrorHostMemoryAlreadyRegistered);
  Registered()[ptr] = size;
  return cudaSuccess;
}
cudaError_t cudaHostUnregister(void* ptr) {
  std::lock_guard<std::mutex> lock(registered_mu);
  if (Registered().erase(ptr) == 0) return Fail(cudaErrorHostMemoryNotRegistered);
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
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }  // work completes as queued

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

// A library is a shared object from the emulator's NVRTC; a real cubin is refused (the
// backend then runs a fused group's ops instead). Its kernels run on this process's scheduler
// (device.cc), which ferry_emulator_bind hands it.
cudaError_t cudaLibraryLoadData(cudaLibrary_t* library, const void* code, cudaJitOption*, void**,
                                unsigned int, cudaLibraryOption*, void**, unsigned int) {
  if (library == nullptr || code == nullptr) return Fail(cudaErrorInvalidValue);
  const size_t size = ferry::cuda_emulator::SharedObjectSize(code);
  if (size == 0) return Fail(cudaErrorInvalidKernelImage);
  const int fd = memfd_create("ferry-emulated-kernel", MFD_CLOEXEC);
  if (fd < 0) return Fail(cudaErrorOperatingSystem);
  const char* bytes = static_cast<const char*>(code);
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd, bytes + done, size - done);
    if (n <= 0) {
      close(fd);
      return Fail(cudaErrorOperatingSystem);
    }
    done += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  using Bind =
      void (*)(decltype(&ferry::cuda_emulator::Current), decltype(&ferry::cuda_emulator::RunGrid),
               decltype(&ferry::cuda_emulator::SyncThreads));
  const auto bind =
      handle != nullptr ? reinterpret_cast<Bind>(dlsym(handle, "ferry_emulator_bind")) : nullptr;
  if (bind == nullptr) {
    // The emulator's NVRTC made it, so this is the emulator's fault: say why.
    std::fprintf(stderr, "CUDA emulator: cannot load a kernel library: %s\n",
                 handle == nullptr ? dlerror() : "no ferry_emulator_bind");
    if (handle != nullptr) dlclose(handle);
    close(fd);
    return Fail(cudaErrorInvalidKernelImage);
  }
  bind(&ferry::cuda_emulator::Current, &ferry::cuda_emulator::RunGrid,
       &ferry::cuda_emulator::SyncThreads);
  *library = new CUlib_st{handle, fd, {}};
  std::lock_guard<std::mutex> lock(Global().mu);
  Global().libraries.insert(*library);
  return cudaSuccess;
}

cudaError_t cudaLibraryUnload(cudaLibrary_t library) {
  {
    std::lock_guard<std::mutex> lock(Global().mu);
    if (Global().libraries.erase(library) == 0) return Fail(cudaErrorInvalidResourceHandle);
    for (const auto& [name, kernel] : library->kernels) Global().kernels.erase(kernel.get());
  }
  ferry::cuda_emulator::Close(library);
  return cudaSuccess;
}

cudaError_t cudaLibraryGetKernel(cudaKernel_t* kernel, cudaLibrary_t library, const char* name) {
  if (kernel == nullptr || library == nullptr || name == nullptr) {
    return Fail(cudaErrorInvalidValue);
  }
  std::lock_guard<std::mutex> lock(Global().mu);
  if (Global().libraries.count(library) == 0) return Fail(cudaErrorInvalidResourceHandle);
  std::unique_ptr<CUkern_st>& found = library->kernels[name];
  if (found == nullptr) {
    const std::string entry = std::string("ferry_emulator_launch_") + name;
    void* launch = dlsym(library->handle, entry.c_str());
    if (launch == nullptr) {
      library->kernels.erase(name);
      return Fail(cudaErrorSymbolNotFound);
    }
    found = std::make_unique<CUkern_st>(
        CUkern_st{reinterpret_cast<int (*)(dim3, dim3, void**)>(launch)});
    Global().kernels.insert(found.get());
  }
  *kernel = found.get();
  return cudaSuccess;
}

// `func` is a cudaKernel_t (as FusedKernel::Launch passes it) of a loaded library; the
// emulator's own kernels launch through device.h's Launch. Dynamic shared memory is unused.
cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t,
                             cudaStream_t) {
  {
    std::lock_guard<std::mutex> lock(Global().mu);
    if (Global().kernels.count(func) == 0) return Fail(cudaErrorInvalidDeviceFunction);
  }
  // The entry returns the launch's error, already set as the last error (RunGrid).
  return static_cast<cudaError_t>(static_cast<const CUkern_st*>(func)->launch(grid, block, args));
}

}  // extern "C"
