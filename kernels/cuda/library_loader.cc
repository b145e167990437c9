#include "kernels/cuda/library_loader.h"

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#ifndef FERRY_CUDA_LIB64
#define FERRY_CUDA_LIB64 "/usr/local/cuda/lib64"
#endif

namespace ferry::kernels::cuda {

std::vector<std::string> LibraryCandidates(const std::string& library) {
  if (const char* dirs = std::getenv("FERRY_CUDA_LIB_DIR"); dirs != nullptr && *dirs != '\0') {
    std::vector<std::string> candidates;
    for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
      candidates.push_back(absl::StrCat(dir, "/", library));
    }
    return candidates;
  }
  return {library, absl::StrCat(FERRY_CUDA_LIB64, "/", library)};
}

absl::StatusOr<std::string> OpenFirstLibrary(
    const std::vector<std::string>& candidates,
    const std::function<void(void* handle, std::string& missing)>& resolve,
    const std::string& what) {
  std::vector<std::string> failures;
  for (const std::string& candidate : candidates) {
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      failures.push_back(absl::StrCat(candidate, ": ", error != nullptr ? error : "not found"));
      continue;
    }
    std::string missing;
    resolve(handle, missing);
    if (missing.empty()) return candidate;
    dlclose(handle);
    failures.push_back(absl::StrCat(candidate, ": lacks ", missing));
  }
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", absl::StrJoin(failures, "; ")));
}

}  // namespace ferry::kernels::cuda
