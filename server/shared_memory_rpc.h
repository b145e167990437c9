#ifndef FERRY_SERVER_SHARED_MEMORY_RPC_H_
#define FERRY_SERVER_SHARED_MEMORY_RPC_H_

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"

namespace ferry::server {

// Maps the client's region into its session, page-locked for `backend` where that makes
// its copies one DMA (SharedMemoryRegion::Pin). FAILED_PRECONDITION when `enabled` is false
// (the daemon runs with --shared_memory=false); otherwise the errors of
// SharedMemoryRegion::Open and Session::AddRegion, and NOT_FOUND for an unknown session.
absl::Status RegisterSharedMemory(SessionManager& sessions, kernels::Backend& backend, bool enabled,
                                  const v1::RegisterSharedMemoryRequest& request);

// Unmaps it (once no transfer uses it); NOT_FOUND when it is not registered.
absl::Status UnregisterSharedMemory(SessionManager& sessions,
                                    const v1::UnregisterSharedMemoryRequest& request);

}  // namespace ferry::server

#endif  // FERRY_SERVER_SHARED_MEMORY_RPC_H_
