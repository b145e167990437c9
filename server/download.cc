#include "server/download.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "server/shared_memory.h"

namespace ferry::server {

absl::Status SendDownload(SessionManager& sessions, kernels::Backend& backend,
                          const v1::DownloadRequest& request, int64_t default_chunk_bytes,
                          int64_t max_chunk_bytes,
                          absl::FunctionRef<bool(const v1::DownloadResponse&)> write) {
  absl::StatusOr<SessionRef> session = sessions.Acquire(request.session_id());
  if (!session.ok()) return session.status();
  kernels::QueueScope queue((*session)->queue());
  absl::StatusOr<kernels::Tensor> tensor = (*session)->Get(request.buffer_id());
  if (!tensor.ok()) return tensor.status();

  uint64_t chunk = request.chunk_bytes() != 0 ? request.chunk_bytes()
                                              : static_cast<uint64_t>(default_chunk_bytes);
  chunk =
      std::clamp<uint64_t>(chunk, 1, static_cast<uint64_t>(std::max<int64_t>(max_chunk_bytes, 1)));
  const uint64_t total_bytes = tensor->nbytes();

  v1::DownloadResponse response;
  core::TypeToProto(tensor->type, response.mutable_spec());
  response.set_total_bytes(total_bytes);
  if (!request.shared_memory_name().empty()) {
    // Same host: the bytes go into the client's region, none on the stream.
    absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
        (*session)->Region(request.shared_memory_name());
    if (!region.ok()) return region.status();
    absl::Status copied = (*region)->CopyIn(request.shared_memory_offset(), total_bytes,
                                            [&](char* chunk, uint64_t at, uint64_t bytes) {
                                              return backend.CopyToHost(*tensor, at, bytes, chunk);
                                            });
    if (!copied.ok()) return copied;
    if (!write(response)) {
      return absl::CancelledError(
          absl::StrCat("download of buffer ", request.buffer_id(), ": the client went away"));
    }
    return absl::OkStatus();
  }
  uint64_t offset = 0;
  do {
    const uint64_t bytes = std::min(chunk, total_bytes - offset);
    response.set_offset(offset);
    std::string* data = response.mutable_data();
    data->resize(bytes);
    if (bytes > 0) {
      absl::Status copied = backend.CopyToHost(*tensor, offset, bytes, data->data());
      if (!copied.ok()) return copied;
    }
    if (!write(response)) {
      return absl::CancelledError(absl::StrCat("download of buffer ", request.buffer_id(),
                                               " stopped at byte ", offset,
                                               ": the client went away"));
    }
    offset += bytes;
    response.clear_spec();
    response.clear_total_bytes();
  } while (offset < total_bytes);
  return absl::OkStatus();
}

}  // namespace ferry::server
