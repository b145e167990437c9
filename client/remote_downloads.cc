// The remote device's downloads: resident buffers into the caller's memory through a
// region the daemon maps, the bulk channel or Download streams, going on where a broken
// connection stopped.

#include <cstring>
#include <memory>
#include <optional>
#include <string>
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
#include "core/copy_in_halves.h"

namespace ferry::detail {
namespace {

constexpr char kDownloadMethod[] = "/ferry.v1.Ferry/Download";

}  // namespace

template <typename Take>
void RemoteDevice::DownloadMessages(const v1::DownloadRequest& request, Take take) {
  bool malformed = false;
  std::vector<grpc::Slice> slices;
  std::vector<core::ByteSpan> pieces;
  grpc::Status status = OneMessageCall(kDownloadMethod, request, [&](grpc::ByteBuffer& message) {
    slices.clear();
    pieces.clear();
    message.Dump(&slices);
    for (const grpc::Slice& slice : slices) {
      pieces.push_back({reinterpret_cast<const char*>(slice.begin()), slice.size()});
    }
    absl::StatusOr<core::SplitMessage> split =
        core::SplitBytesField(pieces, v1::DownloadResponse::kDataFieldNumber);
    v1::DownloadResponse header;
    if (!split.ok() || !header.ParseFromString(split->rest)) {
      malformed = true;
      return;
    }
    take(header, *split);
  });
  session_->UpdateStats([](DeviceStats& stats) { ++stats.downloads; });
  if (!status.ok()) throw ToError(status, session_->address());
  if (malformed) {
    throw Error(ErrorCode::kDataLoss,
                absl::StrCat("download of buffer ", request.buffer_id(), " from ferryd at ",
                             session_->address(), ": a message was not a DownloadResponse"));
  }
}

void RemoteDevice::Read(Buffer& buffer, void* dst) {
  auto& remote = static_cast<RemoteBuffer&>(buffer);
  remote.MarkRead();
  std::lock_guard<std::mutex> lock(remote.mu());
  if (remote.pending().has_value()) {
    session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
  }
  Resolve(remote);
  // A resident result goes straight into `dst`, from the shared region or from the
  // slices gRPC read it into; no host copy is kept (it may be large, and a second read
  // is one more transfer, as PyTorch's .cpu() is).
  if (remote.host().has_value()) {
    if (!remote.host()->empty()) std::memcpy(dst, remote.host()->data(), remote.host()->size());
    return;
  }
  RemoteSession::Transfer transfer(*session_);
  const size_t nbytes = core::NumBytes(remote.type());
  TransferTimer timer(*this, /*upload=*/false, static_cast<int64_t>(nbytes));
  size_t done = 0;
  if (std::optional<RemoteSession::SharedPlace> place = session_->HostPlace(dst, nbytes)) {
    DownloadToRegion(remote, nbytes, *place);
    session_->UpdateStats([](DeviceStats& stats) { ++stats.in_place_transfers; });
    return timer.Done("host buffer");
  }
  if (DownloadShared(remote, dst)) return timer.Done("shared memory");
  if (DownloadBulk(remote, static_cast<char*>(dst), &done)) return timer.Done("bulk channel");
  if (transfer.Cancelled()) throw TransferCancelled();
  Download(remote, static_cast<char*>(dst), done, transfer);
  timer.Done("grpc");
}

Error RemoteDevice::TransferCancelled() const {
  return Error(ErrorCode::kCancelled,
               absl::StrCat("a transfer with ferryd at ", session_->address(),
                            " was cancelled by ferry::cancel"));
}

bool RemoteDevice::DownloadBulk(RemoteBuffer& buffer, char* dst, size_t* done) {
  std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
  if (bulk == nullptr) return false;
  const size_t nbytes = core::NumElements(buffer.type().shape) * core::SizeOf(buffer.type().dtype);
  absl::Status status = bulk->Download(buffer.id(), dst, nbytes, done);
  if (!status.ok() && bulk->broken()) {
    if (!session_->resumable()) *done = 0;
    return false;
  }
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    ++stats.downloads;
    ++stats.bulk_channel_transfers;
    stats.download_bytes += static_cast<int64_t>(nbytes);
    stats.bytes_received += static_cast<int64_t>(nbytes);
  });
  ThrowIfError(status);
  return true;
}

bool RemoteDevice::DownloadShared(RemoteBuffer& buffer, void* dst) {
  const size_t nbytes = core::NumBytes(buffer.type());
  std::lock_guard<std::mutex> lock(session_->shared_mu());
  SharedRegion* region = session_->StagingRegion(nbytes);
  if (region == nullptr) return false;
  DownloadToRegion(buffer, nbytes, {region->name(), 0});
  core::CopyInHalves(static_cast<char*>(dst), region->data(), nbytes);
  return true;
}

void RemoteDevice::DownloadToRegion(RemoteBuffer& buffer, size_t nbytes,
                                    const RemoteSession::SharedPlace& place) {
  v1::DownloadRequest request;
  request.set_session_id(session_->id());
  request.set_buffer_id(buffer.id());
  request.set_shared_memory_name(place.name);
  request.set_shared_memory_offset(place.offset);
  uint64_t total_bytes = 0;
  bool unexpected_data = false;
  DownloadMessages(request,
                   [&](const v1::DownloadResponse& header, const core::SplitMessage& payload) {
                     if (header.total_bytes() != 0) total_bytes = header.total_bytes();
                     unexpected_data = unexpected_data || payload.field_bytes != 0;
                   });
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.shared_memory_transfers;
    stats.download_bytes += static_cast<int64_t>(nbytes);
  });
  if (unexpected_data || (nbytes > 0 && total_bytes != nbytes)) {
    throw Error(
        ErrorCode::kDataLoss,
        absl::StrCat("download of buffer ", buffer.id(), " from ferryd at ", session_->address(),
                     " through shared memory gave ", total_bytes, " of ", nbytes, " bytes"));
  }
}

void RemoteDevice::Download(RemoteBuffer& buffer, char* dst, size_t done,
                            const RemoteSession::Transfer& transfer) {
  const size_t nbytes = core::NumElements(buffer.type().shape) * core::SizeOf(buffer.type().dtype);
  const size_t from = done;
  bool resumed = done > 0;  // the bulk channel broke part way
  v1::DownloadRequest request;
  request.set_session_id(session_->id());
  request.set_buffer_id(buffer.id());
  request.set_chunk_bytes(session_->bulk_chunk_bytes());
  std::string overflow;  // what came out of place, if anything did: nothing after it is kept
  for (int attempt = 1;; ++attempt) {
    request.set_offset(done);
    try {
      DownloadMessages(
          request, [&](const v1::DownloadResponse& header, const core::SplitMessage& payload) {
            if (!overflow.empty()) return;
            if (header.offset() != done || payload.field_bytes > nbytes - done) {
              overflow =
                  absl::StrCat(payload.field_bytes, " bytes at offset ", header.offset(),
                               header.offset() != done ? absl::StrCat(" where ", done, " was next")
                                                       : ", past its end");
              return;
            }
            char* at = dst + done;
            for (const core::ByteSpan& piece : payload.field) {
              std::memcpy(at, piece.data, piece.size);
              at += piece.size;
            }
            done += payload.field_bytes;
          });
      break;
    } catch (const Error& e) {
      if (transfer.Cancelled()) throw TransferCancelled();
      if (e.code() != ErrorCode::kUnavailable || !session_->resumable() ||
          attempt == kTransferAttempts || !overflow.empty()) {
        throw;
      }
    }
    resumed = true;
    session_->AwaitGrpcTransfers();
  }
  session_->UpdateStats([&](DeviceStats& stats) {
    stats.download_bytes += static_cast<int64_t>(done - from);
    // Once per download that went on where it broke (here, or on the bulk channel).
    if (resumed) ++stats.resumed_transfers;
  });
  if (!overflow.empty() || done != nbytes) {
    throw Error(ErrorCode::kDataLoss,
                absl::StrCat("download of buffer ", buffer.id(), " from ferryd at ",
                             session_->address(), " gave ", done, " of ", nbytes, " bytes",
                             overflow.empty() ? "" : absl::StrCat(", then ", overflow)));
  }
}

}  // namespace ferry::detail
