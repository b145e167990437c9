#include "server/upload.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/shape.h"
#include "server/shared_memory.h"

namespace ferry::server {
namespace {

constexpr size_t kDeviceCopyBytes = size_t{4} << 20;

absl::Status BothSources(uint64_t buffer_id) {
  return absl::InvalidArgumentError(absl::StrCat(
      "upload of buffer ", buffer_id, ": data comes from shared memory or the stream, not both"));
}

}  // namespace

// `status` with "upload of buffer N: " in front, keeping its code.
absl::Status UploadReceiver::Prefixed(const absl::Status& status) const {
  return absl::Status(status.code(),
                      absl::StrCat("upload of buffer ", buffer_id_, ": ", status.message()));
}

absl::Status UploadReceiver::CheckRoom(size_t bytes) const {
  if (bytes <= total_bytes_ - received_) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id_,
                                                 ": chunk ends at byte ", received_ + bytes,
                                                 ", past the declared ", total_bytes_, " bytes"));
}

absl::Status UploadReceiver::Receive(absl::Span<const core::ByteSpan> message) {
  absl::StatusOr<core::SplitMessage> split =
      core::SplitBytesField(message, v1::UploadRequest::kDataFieldNumber);
  if (!split.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload message ", messages_, ": ", split.status().message()));
  }
  v1::UploadRequest header;
  if (!header.ParseFromString(split->rest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload message ", messages_, " is not a ferry.v1.UploadRequest"));
  }
  const int64_t index = messages_++;
  if (index == 0) {
    if (absl::Status started = Start(header, split->field_bytes); !started.ok()) return started;
  } else if ((!header.session_id().empty() && header.session_id() != session_id_) ||
             (header.buffer_id() != 0 && header.buffer_id() != buffer_id_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload of buffer ", buffer_id_, ": message ", index, " names buffer ", header.buffer_id(),
        " of session ", header.session_id(), "; one upload stream carries one buffer"));
  }
  if (split->field_bytes == 0) return absl::OkStatus();
  if (shared_) return BothSources(buffer_id_);
  if (absl::Status room = CheckRoom(split->field_bytes); !room.ok()) return room;
  if (backend_.HostAddressable()) {
    for (const core::ByteSpan& piece : split->field) {
      if (absl::Status copied = Append(piece.data, piece.size); !copied.ok()) return copied;
    }
    return absl::OkStatus();
  }
  kernels::QueueScope queue((*session_)->queue());
  // A device copy has a fixed cost per call: gather gRPC's pieces (often 64 KiB) into
  // runs of kDeviceCopyBytes first.
  size_t left = split->field_bytes;
  for (const core::ByteSpan& piece : split->field) {
    gathered_.append(piece.data, piece.size);
    left -= piece.size;
    if (gathered_.size() < kDeviceCopyBytes && left > 0) continue;
    absl::Status copied =
        backend_.CopyFromHost(gathered_.data(), gathered_.size(), *tensor_, received_);
    if (!copied.ok()) return Prefixed(copied);
    received_ += gathered_.size();
    gathered_.clear();
  }
  return absl::OkStatus();
}

absl::Status UploadReceiver::Begin(const v1::UploadRequest& first) {
  ++messages_;
  return Start(first, 0);
}

absl::Status UploadReceiver::Append(const char* data, size_t bytes) {
  if (absl::Status room = CheckRoom(bytes); !room.ok()) return room;
  kernels::QueueScope queue((*session_)->queue());
  absl::Status copied = backend_.CopyFromHost(data, bytes, *tensor_, received_);
  if (!copied.ok()) return Prefixed(copied);
  received_ += bytes;
  return absl::OkStatus();
}

char* UploadReceiver::HostCursor() {
  if (!backend_.HostAddressable() || !tensor_.has_value()) return nullptr;
  return static_cast<char*>(tensor_->raw()) + received_;
}

absl::Status UploadReceiver::Start(const v1::UploadRequest& first, size_t data_bytes) {
  absl::StatusOr<SessionRef> session = sessions_.Acquire(first.session_id());
  if (!session.ok()) return session.status();
  session_.emplace(*std::move(session));
  kernels::QueueScope queue((*session_)->queue());
  session_id_ = first.session_id();
  buffer_id_ = first.buffer_id();
  if (absl::Status fresh = (*session_)->CheckNewId(buffer_id_); !fresh.ok()) {
    return Prefixed(fresh);
  }
  absl::StatusOr<core::TensorType> type = core::TypeFromProto(first.spec());
  if (!type.ok()) return Prefixed(type.status());
  if (absl::Status shape = core::CheckShape(type->shape); !shape.ok()) return Prefixed(shape);
  total_bytes_ = first.total_bytes();
  const uint64_t spec_bytes =
      static_cast<uint64_t>(core::NumElements(type->shape)) * core::SizeOf(type->dtype);
  if (total_bytes_ != spec_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of buffer ", buffer_id_, ": total_bytes is ", total_bytes_, " but ",
                     core::TypeToString(*type), " has ", spec_bytes, " bytes"));
  }
  if (absl::Status room = (*session_)->CheckRoom(static_cast<int64_t>(total_bytes_)); !room.ok()) {
    return Prefixed(room);
  }
  absl::StatusOr<kernels::Tensor> tensor = backend_.Allocate(*type);
  if (!tensor.ok()) return Prefixed(tensor.status());
  tensor_ = *std::move(tensor);
  if (first.shared_memory_name().empty()) return absl::OkStatus();

  // Same host: the bytes come from the client's region, none on the stream.
  shared_ = true;
  if (data_bytes != 0) return BothSources(buffer_id_);
  absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
      (*session_)->Region(first.shared_memory_name());
  if (!region.ok()) return Prefixed(region.status());
  absl::Status copied =
      backend_.HostAddressable()
          ? (*region)->CopyOutTo(first.shared_memory_offset(), total_bytes_,
                                 static_cast<char*>(tensor_->raw()))
          : (*region)->CopyOut(first.shared_memory_offset(), total_bytes_,
                               [&](const char* chunk, uint64_t at, uint64_t bytes) {
                                 return backend_.CopyFromHost(chunk, bytes, *tensor_, at);
                               });
  if (!copied.ok()) return Prefixed(copied);
  received_ = total_bytes_;
  return absl::OkStatus();
}

absl::StatusOr<kernels::Tensor> UploadReceiver::FinishTensor() {
  if (messages_ == 0) {
    return absl::InvalidArgumentError("upload stream ended before its first message");
  }
  if (received_ != total_bytes_) {
    tensor_.reset();  // its memory goes back now, not when the call is torn down
    return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id_, " ended after ",
                                                   received_, " of ", total_bytes_, " bytes"));
  }
  kernels::Tensor tensor = *std::move(tensor_);
  tensor_.reset();
  return tensor;
}

absl::StatusOr<v1::UploadResponse> UploadReceiver::Finish() {
  absl::StatusOr<kernels::Tensor> tensor = FinishTensor();
  if (!tensor.ok()) return tensor.status();
  kernels::QueueScope queue((*session_)->queue());
  std::vector<std::pair<uint64_t, kernels::Tensor>> buffers;
  buffers.emplace_back(buffer_id_, *std::move(tensor));
  if (absl::Status stored = (*session_)->Put(std::move(buffers)); !stored.ok()) {
    return Prefixed(stored);
  }
  v1::UploadResponse response;
  response.set_buffer_id(buffer_id_);
  response.set_bytes_received(received_);
  return response;
}

}  // namespace ferry::server
