// The emulated NVRTC (nvrtc.cc) with the emulated runtime's libraries (runtime.cc): a
// program's kernels compile with the host's compiler, load and run on the emulator's
// threads; what CUDA refuses is refused.

#include <cuda_runtime_api.h>
#include <elf.h>
#include <nvrtc.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

// Two kernels: a grid-stride loop over scalar and pointer arguments, and a block that
// reverses its slice through __shared__ memory and a barrier.
constexpr char kProgram[] = R"(
extern "C" __global__ void __launch_bounds__(64) scale(const float* x, float a, float* y,
                                                       long long n) {
  for (long long i = blockIdx.x * 64LL + threadIdx.x; i < n; i += (long long)gridDim.x * 64LL) {
    y[i] = a * x[i];
  }
}

extern "C" __global__ void reverse_blocks(int* v) {
  __shared__ int s[32];
  s[threadIdx.x] = v[blockIdx.x * 32 + threadIdx.x];
  __syncthreads();
  v[blockIdx.x * 32 + threadIdx.x] = s[31 - threadIdx.x];
}
)";

// `source` compiled, or "" with the log in `log`.
std::string Compile(const char* source, nvrtcResult* result, std::string* log) {
  nvrtcProgram program = nullptr;
  EXPECT_EQ(nvrtcCreateProgram(&program, source, "test.cu", 0, nullptr, nullptr), NVRTC_SUCCESS);
  const char* options[] = {"--gpu-architecture=sm_90", "--fmad=false"};  // ignored
  *result = nvrtcCompileProgram(program, 2, options);
  size_t size = 0;
  EXPECT_EQ(nvrtcGetProgramLogSize(program, &size), NVRTC_SUCCESS);
  std::string text(size, '\0');
  EXPECT_EQ(nvrtcGetProgramLog(program, text.data()), NVRTC_SUCCESS);
  *log = text.c_str();
  std::string binary;
  if (*result == NVRTC_SUCCESS && nvrtcGetCUBINSize(program, &size) == NVRTC_SUCCESS) {
    binary.resize(size);
    EXPECT_EQ(nvrtcGetCUBIN(program, binary.data()), NVRTC_SUCCESS);
  }
  EXPECT_EQ(nvrtcDestroyProgram(&program), NVRTC_SUCCESS);
  return binary;
}

cudaLibrary_t Load(const std::string& binary) {
  cudaLibrary_t library = nullptr;
  EXPECT_EQ(cudaLibraryLoadData(&library, binary.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
            cudaSuccess);
  return library;
}

TEST(NvrtcTest, TheVersionIsNoRealNvrtcs) {
  int major = -1, minor = -1;
  ASSERT_EQ(nvrtcVersion(&major, &minor), NVRTC_SUCCESS);
  EXPECT_EQ(major, 0);
  EXPECT_GT(minor, 0);
}

TEST(NvrtcTest, KernelsCompileLoadAndRun) {
  nvrtcResult result;
  std::string log;
  const std::string binary = Compile(kProgram, &result, &log);
  ASSERT_EQ(result, NVRTC_SUCCESS) << log;
  cudaLibrary_t library = Load(binary);
  ASSERT_NE(library, nullptr);
  cudaKernel_t scale = nullptr, reverse = nullptr;
  ASSERT_EQ(cudaLibraryGetKernel(&scale, library, "scale"), cudaSuccess);
  ASSERT_EQ(cudaLibraryGetKernel(&reverse, library, "reverse_blocks"), cudaSuccess);

  long long n = 1000;
  std::vector<float> x(n);
  for (long long i = 0; i < n; ++i) x[i] = static_cast<float>(i);
  float *dx = nullptr, *dy = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dx), n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dy), n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  float a = 0.5f;
  void* scale_args[] = {&dx, &a, &dy, &n};
  // 3 blocks of 64 threads: each thread loops over several elements.
  ASSERT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(scale), dim3(3), dim3(64), scale_args, 0,
                             nullptr),
            cudaSuccess);
  std::vector<float> y(n);
  ASSERT_EQ(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (long long i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.5f * i) << i;

  std::vector<int> v(64);
  for (int i = 0; i < 64; ++i) v[i] = i;
  int* dv = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dv), 64 * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dv, v.data(), 64 * sizeof(int), cudaMemcpyHostToDevice), cudaSuccess);
  void* reverse_args[] = {&dv};
  ASSERT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(reverse), dim3(2), dim3(32),
                             reverse_args, 0, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(v.data(), dv, 64 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(v[i], i / 32 * 32 + 31 - i % 32) << i;

  // A configuration CUDA refuses is the launch's error and the last error.
  EXPECT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(scale), dim3(1), dim3(2048), scale_args,
                             0, nullptr),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);

  cudaKernel_t missing = nullptr;
  EXPECT_EQ(cudaLibraryGetKernel(&missing, library, "absent"), cudaErrorSymbolNotFound);
  EXPECT_EQ(cudaGetLastError(), cudaErrorSymbolNotFound);

  // An unloaded library's kernels launch no more.
  ASSERT_EQ(cudaLibraryUnload(library), cudaSuccess);
  EXPECT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(scale), dim3(3), dim3(64), scale_args, 0,
                             nullptr),
            cudaErrorInvalidDeviceFunction);
  cudaGetLastError();
  EXPECT_EQ(cudaFree(dx), cudaSuccess);
  EXPECT_EQ(cudaFree(dy), cudaSuccess);
  EXPECT_EQ(cudaFree(dv), cudaSuccess);
}

TEST(NvrtcTest, LibrariesLoadApart) {
  // Two programs with a kernel of the same name: each library runs its own.
  nvrtcResult result;
  std::string log;
  const std::string one =
      Compile(R"(extern "C" __global__ void f(int* v) { *v = 1; })", &result, &log);
  ASSERT_EQ(result, NVRTC_SUCCESS) << log;
  const std::string two =
      Compile(R"(extern "C" __global__ void f(int* v) { *v = 2; })", &result, &log);
  ASSERT_EQ(result, NVRTC_SUCCESS) << log;
  int* dv = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dv), sizeof(int)), cudaSuccess);
  void* args[] = {&dv};
  for (int round = 0; round < 2; ++round) {  // the second after the first's unload
    cudaLibrary_t first = Load(one), second = Load(two);
    cudaKernel_t f1 = nullptr, f2 = nullptr;
    ASSERT_EQ(cudaLibraryGetKernel(&f1, first, "f"), cudaSuccess);
    ASSERT_EQ(cudaLibraryGetKernel(&f2, second, "f"), cudaSuccess);
    int v = 0;
    ASSERT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(f2), 1, 1, args, 0, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(&v, dv, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(v, 2);
    ASSERT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(f1), 1, 1, args, 0, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(&v, dv, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(cudaLibraryUnload(first), cudaSuccess);
    EXPECT_EQ(cudaLibraryUnload(second), cudaSuccess);
  }
  EXPECT_EQ(cudaFree(dv), cudaSuccess);
}

TEST(NvrtcTest, AResetUnloadsEveryLibrary) {
  nvrtcResult result;
  std::string log;
  const std::string binary =
      Compile(R"(extern "C" __global__ void f(int* v) { *v = 1; })", &result, &log);
  ASSERT_EQ(result, NVRTC_SUCCESS) << log;
  cudaLibrary_t library = Load(binary);
  cudaKernel_t f = nullptr;
  ASSERT_EQ(cudaLibraryGetKernel(&f, library, "f"), cudaSuccess);
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  int* dv = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dv), sizeof(int)), cudaSuccess);
  void* args[] = {&dv};
  EXPECT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(f), 1, 1, args, 0, nullptr),
            cudaErrorInvalidDeviceFunction);
  EXPECT_EQ(cudaLibraryGetKernel(&f, library, "f"), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaLibraryUnload(library), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  EXPECT_EQ(cudaFree(dv), cudaSuccess);
}

TEST(NvrtcTest, ACompileErrorGivesTheCompilersLog) {
  nvrtcResult result;
  std::string log;
  Compile(R"(extern "C" __global__ void f(float* y) { y[0] = undeclared; })", &result, &log);
  EXPECT_EQ(result, NVRTC_ERROR_COMPILATION);
  EXPECT_NE(log.find("test.cu:1"), std::string::npos) << log;
  EXPECT_NE(log.find("undeclared"), std::string::npos) << log;
}

TEST(NvrtcTest, ARealCubinIsRefused) {
  Elf64_Ehdr cubin{};
  std::memcpy(cubin.e_ident, ELFMAG, SELFMAG);
  cubin.e_ident[EI_CLASS] = ELFCLASS64;
  cubin.e_type = ET_EXEC;
  cubin.e_machine = EM_CUDA;
  cudaLibrary_t library = nullptr;
  EXPECT_EQ(cudaLibraryLoadData(&library, &cubin, nullptr, nullptr, 0, nullptr, nullptr, 0),
            cudaErrorInvalidKernelImage);
  const char text[sizeof(Elf64_Ehdr)] = "not an ELF file";
  EXPECT_EQ(cudaLibraryLoadData(&library, text, nullptr, nullptr, 0, nullptr, nullptr, 0),
            cudaErrorInvalidKernelImage);
  cudaGetLastError();
}

}  // namespace
