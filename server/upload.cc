#include "server/upload.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/content_digest.h"
#include "core/shape.h"
#include "server/log.h"
#include "server/shared_memory.h"

namespace ferry::server {
namespace {

constexpr size_t kDeviceCopyBytes = size_t{4} << 20;

absl::Status BothSources(uint64_t buffer_id) {
  return absl::InvalidArgumentError(absl::StrCat(
      "upload of buffer ", buffer_id, ": data comes from shared memory or the stream, not both"));
}

}  // namespace

absl::Status UploadReceiver::NoDataForQuery() const {
  return absl::InvalidArgumentError(absl::StrCat(
      "upload of buffer ", buffer_id_, ": a resume_query or cache_query carries no data"));
}

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
  } else if (query_ && split->field_bytes != 0) {
    return NoDataForQuery();
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
  if (absl::Status fresh = (*session_)->CheckNewId(buffer_id_);
      !fresh.ok() && !first.resume_query()) {
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
  if (!first.content_digest().empty() &&
      first.content_digest().size() != core::kContentDigestBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload of buffer ", buffer_id_, ": content_digest has ", first.content_digest().size(),
        " bytes; a ContentDigest has ", core::kContentDigestBytes));
  }
  if (first.cache_query()) return FromCache(first, *type, data_bytes);
  content_digest_ = first.content_digest();
  // A resume first stops an upload of the id still in progress on a connection that went
  // silent, so what it received is kept.
  constexpr absl::Duration kInterruptWait = absl::Seconds(5);
  if (first.resume_query() || first.resume_offset() != 0) {
    (*session_)->InterruptUpload(buffer_id_, kInterruptWait);
  }
  if (first.resume_query()) {
    query_ = true;
    // A pipeline step may take the resumed upload: not the failure the break left.
    (*session_)->ForgetArrival(buffer_id_);
    if (data_bytes != 0) return NoDataForQuery();
    // Resident: the upload ended, and only its answer was lost.
    absl::StatusOr<kernels::Tensor> resident = (*session_)->Get(buffer_id_);
    held_ = resident.ok() ? (resident->type == *type ? total_bytes_ : 0)
                          : (*session_)->PartialUploadBytes(buffer_id_, *type);
    return absl::OkStatus();
  }
  // A new upload of the id from byte 0 ends a kept one; a resumed one takes it over.
  std::optional<Session::PartialUpload> kept = (*session_)->TakePartialUpload(buffer_id_);
  if (first.resume_offset() != 0) return Resume(first, *type, std::move(kept));
  kept.reset();  // its memory may take this upload
  if (absl::Status room = (*session_)->CheckRoom(static_cast<int64_t>(total_bytes_)); !room.ok()) {
    return Prefixed(room);
  }
  absl::StatusOr<kernels::Tensor> tensor = backend_.Allocate(*type);
  if (!tensor.ok()) return Prefixed(tensor.status());
  tensor_ = *std::move(tensor);
  if (first.shared_memory_name().empty()) {
    Track();
    return absl::OkStatus();
  }

  // Same host: the bytes come from the client's region, none on the stream.
  shared_ = true;
  if (data_bytes != 0) return BothSources(buffer_id_);
  absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> region =
      (*session_)->Region(first.shared_memory_name());
  if (!region.ok()) return Prefixed(region.status());
  absl::Status copied =
      (*region)->CopyOutToTensor(first.shared_memory_offset(), total_bytes_, backend_, *tensor_);
  if (!copied.ok()) return Prefixed(copied);
  received_ = total_bytes_;
  return absl::OkStatus();
}

absl::Status UploadReceiver::FromCache(const v1::UploadRequest& first, const core::TensorType& type,
                                       size_t data_bytes) {
  query_ = true;
  if (data_bytes != 0) return NoDataForQuery();
  if (first.content_digest().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of buffer ", buffer_id_, ": a cache_query needs content_digest"));
  }
  UploadCache* cache = sessions_.upload_cache();
  if (cache == nullptr) return absl::OkStatus();  // held_ 0: the client sends the bytes
  absl::StatusOr<std::optional<kernels::Tensor>> found =
      cache->Find((*session_)->cache_scope(), first.content_digest(), type);
  if (!found.ok()) return Prefixed(found.status());
  if (!found->has_value()) return absl::OkStatus();
  std::vector<std::pair<uint64_t, kernels::Tensor>> buffers;
  buffers.emplace_back(buffer_id_, **std::move(found));
  if (absl::Status stored = (*session_)->Put(std::move(buffers)); !stored.ok()) {
    return Prefixed(stored);
  }
  held_ = total_bytes_;
  return absl::OkStatus();
}

absl::Status UploadReceiver::Resume(const v1::UploadRequest& first, const core::TensorType& type,
                                    std::optional<Session::PartialUpload> kept) {
  if (!first.shared_memory_name().empty()) {
    return Prefixed(absl::InvalidArgumentError(
        "a resumed upload's data comes on the stream, not from shared memory"));
  }
  const uint64_t offset = first.resume_offset();
  if (!kept.has_value() || kept->tensor.type != type || kept->received < offset) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upload of buffer ", buffer_id_, ": cannot resume at byte ", offset, ": ",
        !kept.has_value() ? "no broken upload of it is kept (restart it from byte 0)"
        : kept->tensor.type != type
            ? absl::StrCat("the kept bytes are of ", core::TypeToString(kept->tensor.type))
            : absl::StrCat("only ", kept->received, " bytes are kept")));
  }
  tensor_ = std::move(kept->tensor);
  received_ = offset;
  Track();
  sessions_.CountResumedUpload();
  Log(LogLevel::kInfo, absl::StrCat("session ", session_id_.substr(0, 8), "...: upload of buffer ",
                                    buffer_id_, " resumed at byte ", offset, " of ", total_bytes_));
  return absl::OkStatus();
}

UploadReceiver::~UploadReceiver() { Ended(); }

void UploadReceiver::Track() {
  if (interrupt_) tracked_ = (*session_)->BeginUpload(buffer_id_, interrupt_);
}

void UploadReceiver::Ended() {
  if (tracked_ == 0) return;
  (*session_)->EndUpload(buffer_id_, tracked_);
  tracked_ = 0;
}

void UploadReceiver::KeepForResume() {
  if (tensor_.has_value() && !shared_ && received_ > 0 && received_ < total_bytes_) {
    (*session_)->KeepPartialUpload(buffer_id_, {*std::move(tensor_), received_});
    tensor_.reset();
  }
  Ended();  // after keeping: a resume waiting for this upload then finds the bytes
}

absl::Status UploadReceiver::CheckBools(const kernels::Tensor& tensor) const {
  if (tensor.dtype() != core::DType::kBool || !backend_.HostAddressable()) return absl::OkStatus();
  const auto* bytes = static_cast<const uint8_t*>(tensor.raw());
  const uint8_t* bad =
      std::find_if(bytes, bytes + tensor.nbytes(), [](uint8_t b) { return b > 1; });
  if (bad == bytes + tensor.nbytes()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id_, ": bool element ",
                                                 bad - bytes, " is the byte ",
                                                 static_cast<int>(*bad), "; a bool is 0 or 1"));
}

absl::StatusOr<kernels::Tensor> UploadReceiver::FinishTensor() {
  if (messages_ == 0) {
    return absl::InvalidArgumentError("upload stream ended before its first message");
  }
  if (query_) return NoDataForQuery();
  if (received_ != total_bytes_) {
    const bool kept = received_ > 0 && tensor_.has_value() && !shared_;
    KeepForResume();
    tensor_.reset();  // its memory goes back now, not when the call is torn down
    return absl::InvalidArgumentError(absl::StrCat("upload of buffer ", buffer_id_, " ended after ",
                                                   received_, " of ", total_bytes_, " bytes",
                                                   kept ? " (kept for a resume)" : ""));
  }
  kernels::Tensor tensor = *std::move(tensor_);
  tensor_.reset();
  if (absl::Status bools = CheckBools(tensor); !bools.ok()) return bools;
  if (UploadCache* cache = sessions_.upload_cache(); cache != nullptr && !content_digest_.empty()) {
    cache->Offer((*session_)->cache_scope(), content_digest_, tensor, (*session_)->shared_queue());
  }
  return tensor;  // still tracked: until it is resident or handed on (the destructor)
}

absl::StatusOr<v1::UploadResponse> UploadReceiver::Finish() {
  if (query_ && messages_ > 0) {
    v1::UploadResponse response;
    response.set_buffer_id(buffer_id_);
    response.set_bytes_received(held_);
    return response;
  }
  absl::StatusOr<kernels::Tensor> tensor = FinishTensor();
  if (!tensor.ok()) return tensor.status();
  kernels::QueueScope queue((*session_)->queue());
  std::vector<std::pair<uint64_t, kernels::Tensor>> buffers;
  buffers.emplace_back(buffer_id_, *std::move(tensor));
  absl::Status stored = (*session_)->Put(std::move(buffers));
  Ended();
  if (!stored.ok()) return Prefixed(stored);
  v1::UploadResponse response;
  response.set_buffer_id(buffer_id_);
  response.set_bytes_received(received_);
  return response;
}

}  // namespace ferry::server
