#include "server/shared_memory_rpc.h"

#include <memory>
#include <utility>

#include "server/shared_memory.h"

namespace ferry::server {

absl::Status RegisterSharedMemory(SessionManager& sessions, kernels::Backend& backend, bool enabled,
                                  const v1::RegisterSharedMemoryRequest& request) {
  if (!enabled) {
    return absl::FailedPreconditionError(
        "[shared_memory] this ferryd runs with --shared_memory=false; transfers go over gRPC");
  }
  absl::StatusOr<SessionRef> session = sessions.Acquire(request.session_id());
  if (!session.ok()) return session.status();
  // Validated before the lookup too, so a refused name is never opened.
  if (absl::Status valid = CheckSharedMemoryName(request.name()); !valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
      SharedMemoryRegion::Open(request.name(), request.size_bytes(), request.nonce());
  if (!region.ok()) return region.status();
  (*region)->Pin(backend);
  return (*session)->AddRegion(*std::move(region));
}

absl::Status UnregisterSharedMemory(SessionManager& sessions,
                                    const v1::UnregisterSharedMemoryRequest& request) {
  absl::StatusOr<SessionRef> session = sessions.Acquire(request.session_id());
  if (!session.ok()) return session.status();
  return (*session)->RemoveRegion(request.name());
}

}  // namespace ferry::server
