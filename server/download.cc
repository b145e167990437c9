#include "server/download.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/bytes_field.h"
#include "core/codec.h"
#include "server/shared_memory.h"

namespace ferry::server {
namespace {

// A slice over bytes of `tensor`'s own memory that keeps the storage alive until gRPC
// lets go of it (a release or an in-place step cannot reuse it meanwhile: both wait for
// the last owner).
grpc::Slice TensorSlice(const kernels::Tensor& tensor, uint64_t offset, uint64_t bytes) {
  auto* owner = new std::shared_ptr<kernels::Storage>(tensor.storage);
  return grpc::Slice(
      static_cast<char*>(tensor.raw()) + offset, bytes,
      [](void* kept) { delete static_cast<std::shared_ptr<kernels::Storage>*>(kept); }, owner);
}

}  // namespace

absl::Status CheckDownloadOffset(uint64_t buffer_id, uint64_t offset,
                                 const kernels::Tensor& tensor) {
  if (offset <= tensor.nbytes()) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat("download of buffer ", buffer_id, " from byte ", offset,
                                            ": it has ", tensor.nbytes(), " bytes"));
}

absl::StatusOr<std::unique_ptr<DownloadSender>> DownloadSender::Start(
    SessionManager& sessions, kernels::Backend& backend, const v1::DownloadRequest& request,
    int64_t default_chunk_bytes, int64_t max_chunk_bytes) {
  absl::StatusOr<SessionRef> session = sessions.Acquire(request.session_id());
  if (!session.ok()) return session.status();
  kernels::QueueScope queue((*session)->queue());
  absl::StatusOr<kernels::Tensor> tensor = (*session)->Get(request.buffer_id());
  if (!tensor.ok()) return tensor.status();
  const bool shared = !request.shared_memory_name().empty();
  if (shared && request.offset() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("download of buffer ", request.buffer_id(),
                     ": an offset goes with the stream, not shared memory"));
  }
  if (absl::Status in_range = CheckDownloadOffset(request.buffer_id(), request.offset(), *tensor);
      !in_range.ok()) {
    return in_range;
  }

  uint64_t chunk = request.chunk_bytes() != 0 ? request.chunk_bytes()
                                              : static_cast<uint64_t>(default_chunk_bytes);
  chunk =
      std::clamp<uint64_t>(chunk, 1, static_cast<uint64_t>(std::max<int64_t>(max_chunk_bytes, 1)));
  if (shared) {
    // Same host: the bytes go into the client's region, none on the stream.
    absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
        (*session)->Region(request.shared_memory_name());
    if (!region.ok()) return region.status();
    const uint64_t total_bytes = tensor->nbytes();
    absl::Status copied =
        (*region)->CopyInFromTensor(request.shared_memory_offset(), total_bytes, backend, *tensor);
    if (!copied.ok()) return copied;
  }
  return std::unique_ptr<DownloadSender>(new DownloadSender(
      *std::move(session), backend, *std::move(tensor), chunk, shared, request.offset()));
}

absl::StatusOr<std::optional<grpc::ByteBuffer>> DownloadSender::Next() {
  const uint64_t total_bytes = tensor_.nbytes();
  if (sent_first_ && (shared_ || offset_ >= total_bytes)) return std::nullopt;
  v1::DownloadResponse header;
  if (!sent_first_) {
    core::TypeToProto(tensor_.type, header.mutable_spec());
    header.set_total_bytes(total_bytes);
  }
  sent_first_ = true;
  const uint64_t bytes = shared_ ? 0 : std::min(chunk_bytes_, total_bytes - offset_);
  header.set_offset(offset_);
  std::string prefix = header.SerializeAsString();
  if (bytes == 0) {
    grpc::Slice only(prefix);
    return grpc::ByteBuffer(&only, 1);
  }
  prefix += core::BytesFieldPrefix(v1::DownloadResponse::kDataFieldNumber, bytes);
  grpc::Slice slices[2] = {grpc::Slice(prefix), grpc::Slice()};
  if (backend_.HostAddressable()) {
    slices[1] = TensorSlice(tensor_, offset_, bytes);
  } else {
    kernels::QueueScope queue(session_->queue());
    grpc::Slice staging(static_cast<size_t>(bytes));
    absl::Status copied =
        backend_.CopyToHost(tensor_, offset_, bytes, const_cast<uint8_t*>(staging.begin()));
    if (!copied.ok()) return copied;
    slices[1] = std::move(staging);
  }
  offset_ += bytes;
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace ferry::server
