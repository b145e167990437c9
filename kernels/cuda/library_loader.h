#ifndef FERRY_KERNELS_CUDA_LIBRARY_LOADER_H_
#define FERRY_KERNELS_CUDA_LIBRARY_LOADER_H_

// CUDA libraries ferry dlopens on first use rather than links (cuBLASLt, NVRTC): where they
// are looked for, and how their entry points are resolved.

#include <dlfcn.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ferry::kernels::cuda {

// The places `library` ("libcublasLt.so.13") is looked for, in order: each directory of
// $FERRY_CUDA_LIB_DIR (colon-separated) when that variable is set (then only there), else the
// loader's search path (LD_LIBRARY_PATH, the system's), then the toolkit's lib64 this ferry
// was built against.
std::vector<std::string> LibraryCandidates(const std::string& library);

// Looks `name` up in `handle` into `slot`; a missing one is appended to `missing`.
template <typename F>
bool ResolveSymbol(void* handle, const char* name, F& slot, std::string& missing) {
  slot = reinterpret_cast<F>(dlsym(handle, name));
  if (slot == nullptr) absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
  return slot != nullptr;
}

// Opens the first of `candidates` for which `resolve(handle, missing)` leaves `missing`
// empty, and returns its path; else FAILED_PRECONDITION "<what>: <why each failed>".
absl::StatusOr<std::string> OpenFirstLibrary(
    const std::vector<std::string>& candidates,
    const std::function<void(void* handle, std::string& missing)>& resolve,
    const std::string& what);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_LIBRARY_LOADER_H_
