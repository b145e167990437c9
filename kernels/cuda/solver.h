#ifndef FERRY_KERNELS_CUDA_SOLVER_H_
#define FERRY_KERNELS_CUDA_SOLVER_H_

// cuSOLVER for the linear algebra kernels (linalg.cc): the library (cusolver_loader.h) and a
// handle per stream. A handle is bound to one stream and is not safe to share between
// threads; each session has its own stream, so a handle per stream serves both.

#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/cusolver_loader.h"

namespace ferry::kernels::cuda {

struct Solver {
  const Cusolver* api;
  cusolverDnHandle_t handle;  // bound to the stream it was made for
};

// cuSOLVER with the handle of `stream` (made on first use), or FAILED_PRECONDITION
// "[op] cannot load cuSOLVER ..." / INTERNAL "[op] cuSOLVER ...".
absl::StatusOr<Solver> SolverFor(const std::string& op, cudaStream_t stream);

// OK for CUSOLVER_STATUS_SUCCESS, else INTERNAL "[op] cuSOLVER <what> failed with status N".
absl::Status CheckSolver(const std::string& op, const char* what, cusolverStatus_t status);

// Destroys the handle of `stream`, which is about to be destroyed (cuda_backend.cc).
void ForgetCusolverHandle(cudaStream_t stream);

// Drops every handle without destroying it: a device reset destroyed their context.
void ForgetCusolverHandles();

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_SOLVER_H_
