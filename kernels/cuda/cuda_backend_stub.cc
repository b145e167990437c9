// The CUDA backend of a build without the CUDA toolkit: there is none.
#include "absl/status/status.h"
#include "kernels/cuda/cuda_backend.h"

namespace ferry::kernels {

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaOptions&) {
  return absl::UnavailableError("this ferry was built without the CUDA toolkit");
}

absl::Status InjectCudaFaultForTest(Backend&) {
  return absl::UnavailableError("this ferry was built without the CUDA toolkit");
}

}  // namespace ferry::kernels
