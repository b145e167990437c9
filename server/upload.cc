#include "server/upload.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/shape.h"
#include "server/shared_memory.h"

namespace ferry::server {
namespace {

// `status` with "upload of buffer N: " in front, keeping its code.
absl::Status Prefixed(uint64_t buffer_id, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("upload of buffer ", buffer_id, ": ", status.message()));
}

}  // namespace

absl::StatusOr<v1::UploadResponse> ReceiveUpload(SessionManager& sessions,
                                                 kernels::Backend& backend,
                                                 absl::FunctionRef<bool(v1::UploadRequest*)> read) {
  v1::UploadRequest message;
  if (!read(&message)) {
    return absl::InvalidArgumentError("upload stream ended before its first message");
  }
  absl::StatusOr<SessionRef> session = sessions.Acquire(message.session_id());
  if (!session.ok()) return session.status();
  kernels::QueueScope queue((*session)->queue());
  const uint64_t buffer_id = message.buffer_id();
  if (absl::Status fresh = (*session)->CheckNewId(buffer_id); !fresh.ok()) {
    return Prefixed(buffer_id, fresh);
  }
  absl::StatusOr<core::TensorType> type = core::TypeFromProto(message.spec());
  if (!type.ok()) return Prefixed(buffer_id, type.status());
  if (absl::Status shape = core::CheckShape(type->shape); !shape.ok()) {
    return Prefixed(buffer_id, shape);
  }
  const uint64_t total_bytes = message.total_bytes();
  const uint64_t spec_bytes =
      static_cast<uint64_t>(core::NumElements(type->shape)) * core::SizeOf(type->dtype);
  if (total_bytes != spec_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of buffer ", buffer_id, ": total_bytes is ", total_bytes, " but ",
                     core::TypeToString(*type), " has ", spec_bytes, " bytes"));
  }
  absl::StatusOr<kernels::Tensor> tensor = backend.Allocate(*type);
  if (!tensor.ok()) return Prefixed(buffer_id, tensor.status());

  const std::string session_id = message.session_id();
  uint64_t received = 0;
  const bool shared = !message.shared_memory_name().empty();
  if (shared) {
    // Same host: the bytes come from the client's region, none on the stream.
    absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
        (*session)->Region(message.shared_memory_name());
    if (!region.ok()) return Prefixed(buffer_id, region.status());
    if (!message.data().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("upload of buffer ", buffer_id,
                       ": data comes from shared memory or the stream, not both"));
    }
    absl::Status copied =
        (*region)->CopyOut(message.shared_memory_offset(), total_bytes,
                           [&](const char* chunk, uint64_t at, uint64_t bytes) {
                             return backend.CopyFromHost(chunk, bytes, *tensor, at);
                           });
    if (!copied.ok()) return Prefixed(buffer_id, copied);
    received = total_bytes;
    while (read(&message)) {
      if (!message.data().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("upload of buffer ", buffer_id,
                         ": data comes from shared memory or the stream, not both"));
      }
    }
  }
  for (int64_t index = 0; !shared; ++index) {
    if (index > 0) {
      message.Clear();
      if (!read(&message)) break;
      if ((!message.session_id().empty() && message.session_id() != session_id) ||
          (message.buffer_id() != 0 && message.buffer_id() != buffer_id)) {
        return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id, ": message ",
                                                       index, " names buffer ", message.buffer_id(),
                                                       " of session ", message.session_id(),
                                                       "; one upload stream carries one buffer"));
      }
    }
    const std::string& data = message.data();
    if (data.size() > total_bytes - received) {
      return absl::InvalidArgumentError(
          absl::StrCat("upload of buffer ", buffer_id, ": chunk ends at byte ",
                       received + data.size(), ", past the declared ", total_bytes, " bytes"));
    }
    if (!data.empty()) {
      absl::Status copied = backend.CopyFromHost(data.data(), data.size(), *tensor, received);
      if (!copied.ok()) return Prefixed(buffer_id, copied);
      received += data.size();
    }
  }
  if (received != total_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id, " ended after ",
                                                   received, " of ", total_bytes, " bytes"));
  }
  std::vector<std::pair<uint64_t, kernels::Tensor>> buffers;
  buffers.emplace_back(buffer_id, *std::move(tensor));
  if (absl::Status stored = (*session)->Put(std::move(buffers)); !stored.ok()) {
    return Prefixed(buffer_id, stored);
  }
  v1::UploadResponse response;
  response.set_buffer_id(buffer_id);
  response.set_bytes_received(received);
  return response;
}

}  // namespace ferry::server
