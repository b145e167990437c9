#ifndef FERRY_KERNELS_CUDA_SOLVER_H_
#define FERRY_KERNELS_CUDA_SOLVER_H_

// The libraries of the linear algebra kernels (linalg.cc), cuSOLVER (cusolver_loader.h) and
// cuBLAS's batched LU (cublas_loader.h), each with a handle per stream. A handle is bound to
// one stream and is not safe to share between threads; each session has its own stream, so
// a handle per stream serves both.

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cusolver_loader.h"

namespace ferry::kernels::cuda {

struct Solver {
  const Cusolver* api;
  cusolverDnHandle_t handle;  // bound to the stream it was made for
};

struct BatchedBlas {
  const Cublas* api;
  cublasHandle_t handle;  // bound to the stream it was made for
};

// cuSOLVER with the handle of `stream` (made on first use), or FAILED_PRECONDITION
// "[op] cannot load cuSOLVER ..." / INTERNAL "[op] cuSOLVER ...".
absl::StatusOr<Solver> SolverFor(const std::string& op, cudaStream_t stream);

// As SolverFor, for cuBLAS ("[op] cannot load cuBLAS ...", "[op] cuBLAS ...").
absl::StatusOr<BatchedBlas> BatchedBlasFor(const std::string& op, cudaStream_t stream);

// OK for CUSOLVER_STATUS_SUCCESS, else INTERNAL "[op] cuSOLVER <what> failed with status N".
absl::Status CheckSolver(const std::string& op, const char* what, cusolverStatus_t status);

// OK for CUBLAS_STATUS_SUCCESS, else INTERNAL "[op] cuBLAS <what> failed with status N".
absl::Status CheckBlas(const std::string& op, const char* what, cublasStatus_t status);

// Destroys the handles of `stream`, which is about to be destroyed (cuda_backend.cc).
void ForgetSolverHandles(cudaStream_t stream);

// Drops every handle without destroying it: a device reset destroyed their context.
void ForgetAllSolverHandles();

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_SOLVER_H_
