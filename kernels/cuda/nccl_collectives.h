#ifndef FERRY_KERNELS_CUDA_NCCL_COLLECTIVES_H_
#define FERRY_KERNELS_CUDA_NCCL_COLLECTIVES_H_

// A group's collectives between GPUs through NCCL (kernels::DeviceCollectives): each call is
// queued on the calling thread's stream (the session's) and waited for, so a peer that
// stops mid-call fails it after the group's timeout (the communicator is then aborted, as
// PyTorch's watchdog does) instead of leaving the stream stuck. Sends and receives are not
// here: NCCL's point-to-point calls block their stream until the peer receives, while
// ferry's send never waits for its receiver.

#include <cuda_runtime_api.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/collectives.h"

namespace ferry::kernels::cuda {

// The stream the calling thread's work goes to, the device generation it belongs to (a
// reset after a fault makes a new one), what keeps the stream alive, and how the backend
// reports an error of the work on it (a fault schedules the device's reset).
struct BoundStream {
  cudaStream_t stream = nullptr;
  int generation = 0;
  std::shared_ptr<const void> keep;
  std::function<absl::Status(cudaError_t)> check;
};
using StreamOfThisThread = std::function<absl::StatusOr<BoundStream>()>;

// Whether NCCL can be used here: loaded, and new enough (2.14) for communicators that
// never block their caller.
absl::Status NcclUsable();

// A new group's id (ncclGetUniqueId: this process then hosts the group's bootstrap).
absl::StatusOr<std::string> NewNcclGroupId();

// This rank's end of the group `id` names, on the device current on this thread; every
// rank joins at once. DEADLINE_EXCEEDED when the others do not come within `join_within`;
// each call of the group's is given `call_timeout`.
absl::StatusOr<std::unique_ptr<DeviceCollectives>> JoinNcclGroup(const std::string& id, int rank,
                                                                 int size,
                                                                 absl::Duration join_within,
                                                                 absl::Duration call_timeout,
                                                                 StreamOfThisThread streams);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_NCCL_COLLECTIVES_H_
