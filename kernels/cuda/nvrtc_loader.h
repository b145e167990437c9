#ifndef FERRY_KERNELS_CUDA_NVRTC_LOADER_H_
#define FERRY_KERNELS_CUDA_NVRTC_LOADER_H_

// NVRTC, CUDA's runtime compiler, loaded with dlopen on first use (as cuBLASLt is, see
// cublas_loader.h): fused elementwise groups are compiled with it when a plan is made.

#include <nvrtc.h>

#include <string>

#include "absl/status/statusor.h"

namespace ferry::kernels::cuda {

// The NVRTC entry points ferry calls.
struct Nvrtc {
  std::string path;  // the library that was loaded
  decltype(&nvrtcVersion) Version;
  decltype(&nvrtcGetErrorString) GetErrorString;
  decltype(&nvrtcCreateProgram) CreateProgram;
  decltype(&nvrtcDestroyProgram) DestroyProgram;
  decltype(&nvrtcCompileProgram) CompileProgram;
  decltype(&nvrtcGetProgramLogSize) GetProgramLogSize;
  decltype(&nvrtcGetProgramLog) GetProgramLog;
  decltype(&nvrtcGetCUBINSize) GetCUBINSize;
  decltype(&nvrtcGetCUBIN) GetCUBIN;
};

// libnvrtc.so.13 from LibraryCandidates, or FAILED_PRECONDITION saying where it was looked
// for. Loaded once per process; later calls return the same result.
absl::StatusOr<const Nvrtc*> LoadNvrtc();

// `source` compiled for compute capability major.minor to a cubin (machine code for that
// GPU, so loading it needs no JIT), with the flags the prebuilt kernels use (no FMA
// contraction, IEEE division and square roots); INVALID_ARGUMENT with NVRTC's log when it
// does not compile.
absl::StatusOr<std::string> CompileToCubin(const Nvrtc& nvrtc, const std::string& source, int major,
                                           int minor);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_NVRTC_LOADER_H_
