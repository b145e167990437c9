#include "kernels/cuda/solver.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace ferry::kernels::cuda {
namespace {

ABSL_CONST_INIT absl::Mutex handles_mu(absl::kConstInit);
absl::flat_hash_map<cudaStream_t, cusolverDnHandle_t>& Handles()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(handles_mu) {
  static auto* handles = new absl::flat_hash_map<cudaStream_t, cusolverDnHandle_t>;
  return *handles;
}

}  // namespace

absl::Status CheckSolver(const std::string& op, const char* what, cusolverStatus_t status) {
  if (status == CUSOLVER_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("[", op, "] cuSOLVER ", what, " failed with status ", static_cast<int>(status)));
}

absl::StatusOr<Solver> SolverFor(const std::string& op, cudaStream_t stream) {
  absl::StatusOr<const Cusolver*> api = LoadCusolver();
  if (!api.ok()) {
    return absl::Status(api.status().code(), absl::StrCat("[", op, "] ", api.status().message()));
  }
  absl::MutexLock lock(&handles_mu);
  auto it = Handles().find(stream);
  if (it != Handles().end()) return Solver{*api, it->second};
  cusolverDnHandle_t handle = nullptr;
  if (absl::Status s = CheckSolver(op, "create", (*api)->Create(&handle)); !s.ok()) return s;
  if (absl::Status s = CheckSolver(op, "set stream", (*api)->SetStream(handle, stream)); !s.ok()) {
    (*api)->Destroy(handle);
    return s;
  }
  Handles()[stream] = handle;
  return Solver{*api, handle};
}

void ForgetCusolverHandle(cudaStream_t stream) {
  cusolverDnHandle_t handle = nullptr;
  {
    absl::MutexLock lock(&handles_mu);
    auto it = Handles().find(stream);
    if (it == Handles().end()) return;
    handle = it->second;
    Handles().erase(it);
  }
  // A handle exists only where the library loaded.
  (*LoadCusolver())->Destroy(handle);
}

void ForgetCusolverHandles() {
  absl::MutexLock lock(&handles_mu);
  Handles().clear();
}

}  // namespace ferry::kernels::cuda
