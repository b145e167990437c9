#include "kernels/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#ifndef FERRY_CUDA_LIB64
#define FERRY_CUDA_LIB64 "/usr/local/cuda/lib64"
#endif

namespace ferry::kernels::cuda {
namespace {

constexpr char kLibrary[] = "libcublasLt.so.13";

template <typename F>
bool Resolve(void* handle, const char* name, F& slot, std::string& missing) {
  slot = reinterpret_cast<F>(dlsym(handle, name));
  if (slot == nullptr) absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
  return slot != nullptr;
}

}  // namespace

std::vector<std::string> CublasLtCandidates() {
  if (const char* dir = std::getenv("FERRY_CUDA_LIB_DIR"); dir != nullptr && *dir != '\0') {
    return {absl::StrCat(dir, "/", kLibrary)};
  }
  return {kLibrary, absl::StrCat(FERRY_CUDA_LIB64, "/", kLibrary)};
}

absl::StatusOr<CublasLt> LoadCublasLtFrom(const std::vector<std::string>& candidates) {
  std::vector<std::string> failures;
  for (const std::string& candidate : candidates) {
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      failures.push_back(absl::StrCat(candidate, ": ", error != nullptr ? error : "not found"));
      continue;
    }
    CublasLt lt;
    lt.path = candidate;
    std::string missing;
    Resolve(handle, "cublasLtCreate", lt.Create, missing);
    Resolve(handle, "cublasLtDestroy", lt.Destroy, missing);
    Resolve(handle, "cublasLtGetVersion", lt.GetVersion, missing);
    Resolve(handle, "cublasLtMatmulDescCreate", lt.MatmulDescCreate, missing);
    Resolve(handle, "cublasLtMatmulDescDestroy", lt.MatmulDescDestroy, missing);
    Resolve(handle, "cublasLtMatmulDescSetAttribute", lt.MatmulDescSetAttribute, missing);
    Resolve(handle, "cublasLtMatrixLayoutCreate", lt.MatrixLayoutCreate, missing);
    Resolve(handle, "cublasLtMatrixLayoutDestroy", lt.MatrixLayoutDestroy, missing);
    Resolve(handle, "cublasLtMatrixLayoutSetAttribute", lt.MatrixLayoutSetAttribute, missing);
    Resolve(handle, "cublasLtMatmulPreferenceCreate", lt.MatmulPreferenceCreate, missing);
    Resolve(handle, "cublasLtMatmulPreferenceDestroy", lt.MatmulPreferenceDestroy, missing);
    Resolve(handle, "cublasLtMatmulPreferenceSetAttribute", lt.MatmulPreferenceSetAttribute,
            missing);
    Resolve(handle, "cublasLtMatmulAlgoGetHeuristic", lt.MatmulAlgoGetHeuristic, missing);
    Resolve(handle, "cublasLtMatmul", lt.Matmul, missing);
    if (missing.empty()) return lt;
    dlclose(handle);
    failures.push_back(absl::StrCat(candidate, ": lacks ", missing));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "[matmul] cannot load cuBLASLt (", kLibrary,
      "; set FERRY_CUDA_LIB_DIR to the directory that holds it): ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<const CublasLt*> LoadCublasLt() {
  static const absl::StatusOr<CublasLt>* const loaded =
      new absl::StatusOr<CublasLt>(LoadCublasLtFrom(CublasLtCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

}  // namespace ferry::kernels::cuda
