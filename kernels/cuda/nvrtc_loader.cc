#include "kernels/cuda/nvrtc_loader.h"

#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/library_loader.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kLibrary[] = "libnvrtc.so.13";

absl::StatusOr<Nvrtc> LoadNvrtcFrom(const std::vector<std::string>& candidates) {
  Nvrtc nvrtc;
  absl::StatusOr<std::string> path = OpenFirstLibrary(
      candidates,
      [&nvrtc](void* handle, std::string& missing) {
        ResolveSymbol(handle, "nvrtcVersion", nvrtc.Version, missing);
        ResolveSymbol(handle, "nvrtcGetErrorString", nvrtc.GetErrorString, missing);
        ResolveSymbol(handle, "nvrtcCreateProgram", nvrtc.CreateProgram, missing);
        ResolveSymbol(handle, "nvrtcDestroyProgram", nvrtc.DestroyProgram, missing);
        ResolveSymbol(handle, "nvrtcCompileProgram", nvrtc.CompileProgram, missing);
        ResolveSymbol(handle, "nvrtcGetProgramLogSize", nvrtc.GetProgramLogSize, missing);
        ResolveSymbol(handle, "nvrtcGetProgramLog", nvrtc.GetProgramLog, missing);
        ResolveSymbol(handle, "nvrtcGetCUBINSize", nvrtc.GetCUBINSize, missing);
        ResolveSymbol(handle, "nvrtcGetCUBIN", nvrtc.GetCUBIN, missing);
      },
      absl::StrCat("[fused] cannot load NVRTC (", kLibrary,
                   "; set FERRY_CUDA_LIB_DIR to the directory that holds it)"));
  if (!path.ok()) return path.status();
  nvrtc.path = *path;
  return nvrtc;
}

}  // namespace

absl::StatusOr<const Nvrtc*> LoadNvrtc() {
  static const absl::StatusOr<Nvrtc>* const loaded =
      new absl::StatusOr<Nvrtc>(LoadNvrtcFrom(LibraryCandidates(kLibrary)));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

absl::StatusOr<std::string> CompileToCubin(const Nvrtc& nvrtc, const std::string& source, int major,
                                           int minor) {
  nvrtcProgram program = nullptr;
  nvrtcResult result =
      nvrtc.CreateProgram(&program, source.c_str(), "ferry_fused.cu", 0, nullptr, nullptr);
  if (result != NVRTC_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("[fused] nvrtcCreateProgram: ", nvrtc.GetErrorString(result)));
  }
  std::unique_ptr<nvrtcProgram, std::function<void(nvrtcProgram*)>> destroy(
      &program, [&nvrtc](nvrtcProgram* p) { nvrtc.DestroyProgram(p); });
  const std::string arch = absl::StrCat("--gpu-architecture=sm_", major, minor);
  const char* options[] = {arch.c_str(),      "--std=c++17",      "--fmad=false",
                           "--prec-div=true", "--prec-sqrt=true", "--ftz=false"};
  result = nvrtc.CompileProgram(program, static_cast<int>(std::size(options)), options);
  if (result != NVRTC_SUCCESS) {
    size_t log_size = 0;
    nvrtc.GetProgramLogSize(program, &log_size);
    std::string log(log_size, '\0');
    if (log_size > 0) nvrtc.GetProgramLog(program, log.data());
    return absl::InvalidArgumentError(
        absl::StrCat("[fused] NVRTC (", arch,
                     ") refused the kernel: ", nvrtc.GetErrorString(result), "\n", log));
  }
  size_t cubin_size = 0;
  result = nvrtc.GetCUBINSize(program, &cubin_size);
  std::string cubin(cubin_size, '\0');
  if (result == NVRTC_SUCCESS) result = nvrtc.GetCUBIN(program, cubin.data());
  if (result != NVRTC_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("[fused] nvrtcGetCUBIN: ", nvrtc.GetErrorString(result)));
  }
  return cubin;
}

}  // namespace ferry::kernels::cuda
