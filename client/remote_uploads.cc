// The remote device's uploads: host arrays onto the daemon through a region it maps, the
// bulk channel or Upload streams, asking its upload cache first where it may hold them.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bulk_call.h"
#include "client/bulk_socket.h"
#include "client/device.h"
#include "client/error.h"
#include "client/profile_log.h"
#include "client/remote_device.h"
#include "client/status.h"
#include "core/bytes_field.h"
#include "core/codec.h"
#include "core/content_digest.h"
#include "core/copy_in_halves.h"
#include "core/page_aligned.h"

namespace ferry::detail {
namespace {

constexpr char kUploadMethod[] = "/ferry.v1.Ferry/Upload";

// Threads that hash an upload for the upload cache: this machine's cores, up to 8.
int DigestThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}

}  // namespace

std::shared_ptr<Buffer> RemoteDevice::FromHostBytes(const core::TensorType& type,
                                                    const void* data) {
  return FromHost(type, static_cast<const char*>(data), "");
}

std::shared_ptr<HostMemory> RemoteDevice::AllocateHost(size_t bytes) {
  std::unique_ptr<SharedRegion> region = session_->MappedRegion(core::kPageBytes + bytes);
  if (region == nullptr) return DeviceImpl::AllocateHost(bytes);
  return std::make_shared<SharedHostMemory>(std::move(region), bytes, session_);
}

std::vector<std::shared_ptr<Buffer>> RemoteDevice::FromHostReader(
    const std::vector<core::TensorType>& types, const HostReader& read) {
  size_t largest_streamed = 0;
  for (const core::TensorType& type : types) {
    const size_t nbytes = core::NumBytes(type);
    if (session_->StreamsUpload(nbytes)) largest_streamed = std::max(largest_streamed, nbytes);
  }
  const std::shared_ptr<HostMemory> streamed =
      largest_streamed > 0 ? AllocateHost(largest_streamed) : nullptr;
  std::vector<char> small;  // reused: FromHost uploads or copies before it returns
  auto read_into_memory = [&](size_t i) -> char* {
    const size_t nbytes = core::NumBytes(types[i]);
    char* dst = nullptr;
    if (streamed != nullptr && session_->StreamsUpload(nbytes)) {
      dst = streamed->data();
    } else {
      small.resize(nbytes);
      dst = small.data();
    }
    read(i, dst);
    return dst;
  };
  std::vector<std::string> digests(types.size());
  std::vector<size_t> asked;
  std::vector<core::TensorType> asked_types;
  std::vector<std::string> asked_digests;
  for (size_t i = 0; i < types.size(); ++i) {
    const size_t nbytes = core::NumBytes(types[i]);
    if (!session_->CachesUpload(nbytes)) continue;
    digests[i] = core::ContentDigest(read_into_memory(i), nbytes, DigestThreads());
    asked.push_back(i);
    asked_types.push_back(types[i]);
    asked_digests.push_back(digests[i]);
  }
  std::vector<uint64_t> cached(types.size(), 0);
  if (!asked.empty()) {
    const auto asked_at = std::chrono::steady_clock::now();
    const std::vector<uint64_t> ids = FromCache(asked_types, asked_digests);
    for (size_t k = 0; k < asked.size(); ++k) cached[asked[k]] = ids[k];
    if (ProfileLog* log = RecordingLog()) {  // the hits: one round trip for them all
      const double begin_us = log->Since(asked_at);
      const double end_us = log->Since(std::chrono::steady_clock::now());
      for (size_t k = 0; k < asked.size(); ++k) {
        if (ids[k] == 0) continue;
        log->AddTransfer({description(), true, static_cast<int64_t>(core::NumBytes(asked_types[k])),
                          "upload cache", begin_us, end_us});
      }
    }
  }
  std::vector<std::shared_ptr<Buffer>> buffers;
  for (size_t i = 0; i < types.size(); ++i) {
    if (cached[i] != 0) {
      buffers.push_back(
          std::make_shared<RemoteBuffer>(types[i], session_, cached[i], std::nullopt));
      continue;
    }
    buffers.push_back(FromHost(types[i], read_into_memory(i), digests[i]));
  }
  return buffers;
}

void RemoteDevice::MakeResident(const std::vector<std::shared_ptr<Buffer>>& buffers) {
  for (const std::shared_ptr<Buffer>& buffer : buffers) {
    auto& remote = static_cast<RemoteBuffer&>(*buffer);
    std::lock_guard<std::mutex> lock(remote.mu());
    if (remote.id() == 0) Upload(remote);
  }
}

v1::UploadRequest RemoteDevice::NewUpload(const core::TensorType& type, size_t nbytes,
                                          const std::string& digest) {
  v1::UploadRequest request;
  request.set_buffer_id(session_->NewBufferId());
  core::TypeToProto(type, request.mutable_spec());
  request.set_total_bytes(nbytes);
  request.set_content_digest(digest);
  return request;
}

std::shared_ptr<Buffer> RemoteDevice::FromHost(const core::TensorType& type, const char* data,
                                               const std::string& digest) {
  const size_t nbytes = core::NumBytes(type);
  if (!session_->StreamsUpload(nbytes)) {
    return std::make_shared<RemoteBuffer>(type, session_, 0, std::string(data, nbytes));
  }
  auto buffer = std::make_shared<RemoteBuffer>(type, session_, 0, std::nullopt);
  UploadBytes(*buffer, data, nbytes, digest);
  return buffer;
}

void RemoteDevice::Upload(RemoteBuffer& buffer) {
  const std::string& bytes = *buffer.host();
  if (!session_->StreamsUpload(bytes.size()) && session_->pipeline() != nullptr) {
    const uint64_t id = session_->NewBufferId();
    v1::PipelineRequest step;
    step.mutable_upload()->set_buffer_id(id);
    core::TypeToProto(buffer.type(), step.mutable_upload()->mutable_tensor()->mutable_spec());
    step.mutable_upload()->mutable_tensor()->set_data(bytes);
    session_->pipeline()->Send(std::move(step));
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.uploads;
      stats.upload_bytes += static_cast<int64_t>(bytes.size());
    });
    buffer.set_id(id);
    return;
  }
  UploadBytes(buffer, bytes.data(), bytes.size());
}

void RemoteDevice::SendReleases() {
  std::vector<uint64_t> ids = session_->TakeReleases();
  if (ids.empty()) return;
  v1::ReleaseRequest release;
  for (uint64_t id : ids) release.add_buffer_ids(id);
  if (session_->pipeline() != nullptr) {
    v1::PipelineRequest step;
    *step.mutable_release() = std::move(release);
    session_->pipeline()->Send(std::move(step));
    return;
  }
  release.set_session_id(session_->id());
  v1::ReleaseResponse response;
  UnaryCall("Release", [&](grpc::ClientContext* context) {
    return session_->stub().Release(context, release, &response);
  });
}

void RemoteDevice::UploadBytes(RemoteBuffer& buffer, const char* data, size_t nbytes,
                               const std::string& known_digest) {
  RemoteSession::Transfer transfer(*session_);
  TransferTimer timer(*this, /*upload=*/true, static_cast<int64_t>(nbytes));
  if (std::optional<RemoteSession::SharedPlace> place = session_->HostPlace(data, nbytes)) {
    SendReleases();
    buffer.set_id(UploadFromRegion(buffer.type(), nbytes, *place, known_digest));
    session_->UpdateStats([](DeviceStats& stats) { ++stats.in_place_transfers; });
    timer.Done("host buffer");
    return;
  }
  std::string digest = known_digest;  // offers the bytes to the daemon's upload cache
  if (digest.empty() && session_->CachesUpload(nbytes)) {
    digest = core::ContentDigest(data, nbytes, DigestThreads());
    const uint64_t id = FromCache({buffer.type()}, {digest}).front();
    if (id != 0) {
      buffer.set_id(id);
      timer.Done("upload cache");
      return;
    }
  }
  if (UploadBulk(buffer, data, nbytes, transfer, digest)) {
    timer.Done("bulk channel");
    return;
  }
  if (transfer.Cancelled()) throw TransferCancelled();
  SendReleases();
  const core::TensorType& type = buffer.type();
  if (std::optional<uint64_t> id = UploadShared(type, data, nbytes)) {
    buffer.set_id(*id);
    timer.Done("shared memory");
    return;
  }
  const v1::UploadRequest header = NewUpload(type, nbytes, digest);
  absl::Status status = UploadStream(header, data);
  if (!status.ok() && transfer.Cancelled()) {
    session_->QueueRelease(header.buffer_id());  // what the daemon kept of it
    throw TransferCancelled();
  }
  if (!status.ok() && status.code() == absl::StatusCode::kUnavailable && session_->resumable()) {
    status = ResumeUpload(header, data, nullptr, &transfer);
  }
  if (!status.ok()) throw ToError(status, session_->address());
  buffer.set_id(header.buffer_id());
  timer.Done("grpc");
}

absl::Status RemoteDevice::UploadStream(const v1::UploadRequest& header, const char* data) {
  const size_t nbytes = header.total_bytes();
  const size_t chunk = session_->bulk_chunk_bytes();
  BorrowedSlices borrowed;  // outlives the call: waits until gRPC is done with `data`
  grpc::ClientContext context;
  session_->Prepare(context);
  session_->AddExecute(&context);  // ferry::cancel stops it
  BulkCall call(session_->bulk_stub(), context, kUploadMethod);
  int64_t sent = 0;
  size_t offset = header.resume_offset();
  const size_t from = offset;
  bool first = true;
  do {
    v1::UploadRequest message;
    if (first) {
      message = header;
      message.set_session_id(session_->id());
      first = false;
    }
    const size_t n = std::min(chunk, nbytes - offset);
    std::string prefix = message.SerializeAsString();
    if (n > 0) prefix += core::BytesFieldPrefix(v1::UploadRequest::kDataFieldNumber, n);
    grpc::Slice slices[2] = {grpc::Slice(prefix), grpc::Slice()};
    if (n > 0) slices[1] = borrowed.Borrow(data + offset, n);
    grpc::ByteBuffer wire(slices, n > 0 ? 2 : 1);
    sent += static_cast<int64_t>(prefix.size() + n);
    offset += n;
    if (!call.Write(wire)) break;  // the daemon ended the stream; Finish says why
  } while (offset < nbytes);
  call.WritesDone();
  grpc::ByteBuffer reply;
  int64_t received = 0;
  while (call.Read(&reply)) received += static_cast<int64_t>(reply.Length());
  grpc::Status status = call.Finish();
  session_->RemoveExecute(&context);
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    if (from == 0) {  // a resumed stream is the same upload
      ++stats.uploads;
      stats.upload_bytes += static_cast<int64_t>(nbytes);
    }
    stats.bytes_sent += sent;
    stats.bytes_received += received;
  });
  return FromGrpc(status);
}

absl::Status RemoteDevice::ResumeUpload(v1::UploadRequest header, const char* data,
                                        bool* to_pipeline,
                                        const RemoteSession::Transfer* transfer) {
  const bool pipelined = to_pipeline != nullptr && *to_pipeline;
  if (to_pipeline != nullptr) *to_pipeline = false;
  absl::Status status;
  for (int attempt = 2; attempt <= kTransferAttempts; ++attempt) {
    if (transfer != nullptr && transfer->Cancelled()) {
      session_->QueueRelease(header.buffer_id());  // what the daemon kept of it
      return absl::CancelledError(TransferCancelled().what());
    }
    std::shared_ptr<BulkSocket> bulk = session_->RedialBulk();
    if (bulk == nullptr) session_->AwaitGrpcTransfers();
    header.clear_resume_offset();
    v1::UploadRequest query = header;
    query.set_resume_query(true);
    absl::StatusOr<uint64_t> kept = bulk != nullptr ? bulk->HeldBytes(query) : HeldBytes(query);
    status = kept.status();
    if (kept.ok() && *kept == header.total_bytes()) {
      status = absl::OkStatus();  // it arrived whole: only the answer was lost
    } else if (kept.ok() && *kept > header.total_bytes()) {
      // Going on from there would send memory past the array's end.
      return absl::InternalError(absl::StrCat("ferryd says it holds ", *kept, " bytes of upload ",
                                              header.buffer_id(), " of ", header.total_bytes()));
    } else if (kept.ok()) {
      header.set_resume_offset(*kept);
      status =
          bulk != nullptr ? bulk->Upload(header, data, {}, pipelined) : UploadStream(header, data);
      if (to_pipeline != nullptr) *to_pipeline = status.ok() && bulk != nullptr && pipelined;
      if (bulk != nullptr) {
        session_->UpdateStats([&](DeviceStats& stats) {
          if (!pipelined) ++stats.round_trips;
          stats.bytes_sent += static_cast<int64_t>(header.total_bytes() - *kept);
        });
      }
    }
    if (status.code() != absl::StatusCode::kUnavailable) break;
  }
  session_->UpdateStats([](DeviceStats& stats) { ++stats.resumed_transfers; });
  return status;
}

absl::StatusOr<uint64_t> RemoteDevice::HeldBytes(const v1::UploadRequest& query) {
  absl::StatusOr<v1::UploadResponse> answer = UploadCall(query);
  if (!answer.ok()) return answer.status();
  return answer->bytes_received();
}

std::vector<uint64_t> RemoteDevice::FromCache(const std::vector<core::TensorType>& types,
                                              const std::vector<std::string>& digests) {
  std::vector<v1::UploadRequest> queries(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    queries[i] = NewUpload(types[i], core::NumBytes(types[i]), digests[i]);
    queries[i].set_cache_query(true);
  }
  std::vector<absl::StatusOr<uint64_t>> held;
  std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
  for (size_t from = 0; from < queries.size(); from += BulkSocket::kMaxQueries) {
    const size_t to = std::min(queries.size(), from + BulkSocket::kMaxQueries);
    if (bulk != nullptr) {
      std::vector<absl::StatusOr<uint64_t>> answers = bulk->HeldBytes(
          std::vector<v1::UploadRequest>(queries.begin() + from, queries.begin() + to));
      held.insert(held.end(), answers.begin(), answers.end());
      session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    } else {
      for (size_t i = from; i < to; ++i) held.push_back(HeldBytes(queries[i]));
    }
  }
  std::vector<uint64_t> ids(types.size(), 0);
  int64_t hits = 0, hit_bytes = 0;
  for (size_t i = 0; i < types.size(); ++i) {
    if (!held[i].ok() || *held[i] != queries[i].total_bytes()) continue;
    ids[i] = queries[i].buffer_id();
    ++hits;
    hit_bytes += static_cast<int64_t>(queries[i].total_bytes());
  }
  session_->UpdateStats([&](DeviceStats& stats) {
    stats.uploads += hits;
    stats.cached_uploads += hits;
    stats.upload_bytes += hit_bytes;
    stats.cached_upload_bytes += hit_bytes;
  });
  return ids;
}

absl::StatusOr<v1::UploadResponse> RemoteDevice::UploadCall(v1::UploadRequest request) {
  request.set_session_id(session_->id());
  v1::UploadResponse response;
  grpc::Status status = OneMessageCall(kUploadMethod, request, [&](grpc::ByteBuffer& reply) {
    grpc::SerializationTraits<v1::UploadResponse>::Deserialize(&reply, &response);
  });
  if (!status.ok()) return FromGrpc(status);
  return response;
}

grpc::Status RemoteDevice::OneMessageCall(const std::string& method,
                                          const google::protobuf::MessageLite& request,
                                          const std::function<void(grpc::ByteBuffer&)>& take) {
  grpc::ClientContext context;
  session_->Prepare(context);
  session_->AddExecute(&context);  // ferry::cancel stops it
  BulkCall call(session_->bulk_stub(), context, method);
  grpc::Slice wire(request.SerializeAsString());
  call.Write(grpc::ByteBuffer(&wire, 1));
  call.WritesDone();
  grpc::ByteBuffer reply;
  int64_t received = 0;
  while (call.Read(&reply)) {
    received += static_cast<int64_t>(reply.Length());
    take(reply);
  }
  grpc::Status status = call.Finish();
  session_->RemoveExecute(&context);
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
    stats.bytes_received += received;
  });
  return status;
}

std::optional<uint64_t> RemoteDevice::UploadShared(const core::TensorType& type, const char* data,
                                                   size_t nbytes) {
  std::lock_guard<std::mutex> lock(session_->shared_mu());
  SharedRegion* region = session_->StagingRegion(nbytes);
  if (region == nullptr) return std::nullopt;
  core::CopyInHalves(region->data(), data, nbytes);
  return UploadFromRegion(type, nbytes, {region->name(), 0});
}

uint64_t RemoteDevice::UploadFromRegion(const core::TensorType& type, size_t nbytes,
                                        const RemoteSession::SharedPlace& place,
                                        const std::string& digest) {
  v1::UploadRequest request = NewUpload(type, nbytes, digest);
  const uint64_t id = request.buffer_id();
  request.set_shared_memory_name(place.name);
  request.set_shared_memory_offset(place.offset);
  absl::StatusOr<v1::UploadResponse> answer = UploadCall(std::move(request));
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.uploads;
    ++stats.shared_memory_transfers;
    stats.upload_bytes += static_cast<int64_t>(nbytes);
  });
  if (!answer.ok()) throw ToError(answer.status(), session_->address());
  return id;
}

bool RemoteDevice::UploadBulk(RemoteBuffer& buffer, const char* data, size_t nbytes,
                              const RemoteSession::Transfer& transfer, const std::string& digest) {
  std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
  if (bulk == nullptr || session_->SharedMemoryOn()) return false;
  const core::TensorType& type = buffer.type();
  // Dropped buffers go first, so their memory can take the upload (a 1 GiB tensor
  // otherwise faults in fresh pages): with the upload itself when no pipeline step could
  // still read them, else as a step of their own.
  std::vector<uint64_t> releases;
  PipelineStream* pipeline = session_->pipeline();
  if (pipeline == nullptr || pipeline->Idle()) {
    releases = session_->TakeReleases();
  } else {
    SendReleases();
  }
  const v1::UploadRequest request = NewUpload(type, nbytes, digest);
  const uint64_t id = request.buffer_id();
  absl::Status status = bulk->Upload(request, data, releases, pipeline != nullptr);
  bool step_takes_it = pipeline != nullptr;
  if (!status.ok() && bulk->broken()) {
    // Releasing twice is harmless: they go again with the next step or call.
    for (uint64_t released : releases) session_->QueueRelease(released);
    if (transfer.Cancelled()) {
      session_->QueueRelease(id);  // what the daemon kept of it
      throw TransferCancelled();
    }
    if (!session_->resumable()) return false;  // gRPC carries it again, whole
    status = ResumeUpload(request, data, &step_takes_it, &transfer);
    if (!status.ok()) throw ToError(status, session_->address());
  }
  if (step_takes_it) {
    v1::PipelineRequest step;
    step.mutable_upload()->set_buffer_id(id);
    *step.mutable_upload()->mutable_tensor()->mutable_spec() = request.spec();
    step.mutable_upload()->set_bulk_channel(true);
    step.set_want_reply(true);
    std::optional<StepReply> reply = pipeline->Send(std::move(step)).second;
    buffer.set_pending(*reply, 0);
  }
  session_->UpdateStats([&](DeviceStats& stats) {
    if (pipeline == nullptr) ++stats.round_trips;
    ++stats.uploads;
    ++stats.bulk_channel_transfers;
    stats.upload_bytes += static_cast<int64_t>(nbytes);
    stats.bytes_sent += static_cast<int64_t>(nbytes);
  });
  ThrowIfError(status);
  buffer.set_id(id);
  return true;
}

}  // namespace ferry::detail
