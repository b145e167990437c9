#include "kernels/cuda/solver.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace ferry::kernels::cuda {
namespace {

// A stream's handles, each made on first use.
struct StreamHandles {
  cusolverDnHandle_t solver = nullptr;
  cublasHandle_t blas = nullptr;
};

ABSL_CONST_INIT absl::Mutex handles_mu(absl::kConstInit);
absl::flat_hash_map<cudaStream_t, StreamHandles>& Handles()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(handles_mu) {
  static auto* handles = new absl::flat_hash_map<cudaStream_t, StreamHandles>;
  return *handles;
}

// `loaded`'s status with "[op] " before its message.
absl::Status ForOp(const std::string& op, const absl::Status& loaded) {
  return absl::Status(loaded.code(), absl::StrCat("[", op, "] ", loaded.message()));
}

// The handle in `slot` of `stream`'s handles, made with `api` and bound to the stream on
// first use; `check` names a failure of the library's calls.
template <typename Api, typename Handle, typename LibraryStatus>
absl::StatusOr<Handle> HandleFor(const std::string& op, const Api& api, Handle StreamHandles::*slot,
                                 absl::Status (*check)(const std::string&, const char*,
                                                       LibraryStatus),
                                 cudaStream_t stream) {
  absl::MutexLock lock(&handles_mu);
  Handle& handle = Handles()[stream].*slot;
  if (handle != nullptr) return handle;
  Handle made = nullptr;
  if (absl::Status s = check(op, "create", api.Create(&made)); !s.ok()) return s;
  if (absl::Status s = check(op, "set stream", api.SetStream(made, stream)); !s.ok()) {
    api.Destroy(made);
    return s;
  }
  handle = made;
  return handle;
}

}  // namespace

absl::Status CheckSolver(const std::string& op, const char* what, cusolverStatus_t status) {
  if (status == CUSOLVER_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("[", op, "] cuSOLVER ", what, " failed with status ", static_cast<int>(status)));
}

absl::Status CheckBlas(const std::string& op, const char* what, cublasStatus_t status) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("[", op, "] cuBLAS ", what, " failed with status ", static_cast<int>(status)));
}

absl::StatusOr<Solver> SolverFor(const std::string& op, cudaStream_t stream) {
  absl::StatusOr<const Cusolver*> api = LoadCusolver();
  if (!api.ok()) return ForOp(op, api.status());
  absl::StatusOr<cusolverDnHandle_t> handle =
      HandleFor(op, **api, &StreamHandles::solver, CheckSolver, stream);
  if (!handle.ok()) return handle.status();
  return Solver{*api, *handle};
}

absl::StatusOr<BatchedBlas> BatchedBlasFor(const std::string& op, cudaStream_t stream) {
  absl::StatusOr<const Cublas*> api = LoadCublas();
  if (!api.ok()) return ForOp(op, api.status());
  absl::StatusOr<cublasHandle_t> handle =
      HandleFor(op, **api, &StreamHandles::blas, CheckBlas, stream);
  if (!handle.ok()) return handle.status();
  return BatchedBlas{*api, *handle};
}

void ForgetSolverHandles(cudaStream_t stream) {
  StreamHandles handles;
  {
    absl::MutexLock lock(&handles_mu);
    auto it = Handles().find(stream);
    if (it == Handles().end()) return;
    handles = it->second;
    Handles().erase(it);
  }
  // A handle exists only where its library loaded.
  if (handles.solver != nullptr) (*LoadCusolver())->Destroy(handles.solver);
  if (handles.blas != nullptr) (*LoadCublas())->Destroy(handles.blas);
}

void ForgetAllSolverHandles() {
  absl::MutexLock lock(&handles_mu);
  Handles().clear();
}

}  // namespace ferry::kernels::cuda
