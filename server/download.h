#ifndef FERRY_SERVER_DOWNLOAD_H_
#define FERRY_SERVER_DOWNLOAD_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"

namespace ferry::server {

// Streams one resident buffer as serialized DownloadResponse messages of
// request.chunk_bytes each (0: `default_chunk_bytes`; never more than `max_chunk_bytes`).
// The first message carries the spec and total_bytes; every message carries its offset,
// so buffers past 4 GiB stream like small ones. A zero-byte buffer is one message with no
// data. A request's offset starts it there (a download that broke goes on). Where the backend is
// host-addressable a message's data is the tensor's own memory (kept alive until gRPC has sent it),
// so no copy is made on this side. OUT_OF_RANGE when a download of `tensor` from byte `offset`
// (DownloadRequest.offset) would start past its end.
absl::Status CheckDownloadOffset(uint64_t buffer_id, uint64_t offset,
                                 const kernels::Tensor& tensor);

class DownloadSender {
 public:
  // NOT_FOUND for an unknown session or buffer. With request.shared_memory_name the whole
  // buffer is copied into the client's region here, and the one message says only its
  // spec and total_bytes.
  static absl::StatusOr<std::unique_ptr<DownloadSender>> Start(SessionManager& sessions,
                                                               kernels::Backend& backend,
                                                               const v1::DownloadRequest& request,
                                                               int64_t default_chunk_bytes,
                                                               int64_t max_chunk_bytes);

  // The next message, or nullopt after the last.
  absl::StatusOr<std::optional<grpc::ByteBuffer>> Next();

 private:
  DownloadSender(SessionRef session, kernels::Backend& backend, kernels::Tensor tensor,
                 uint64_t chunk_bytes, bool shared, uint64_t offset)
      : session_(std::move(session)),
        backend_(backend),
        tensor_(std::move(tensor)),
        chunk_bytes_(chunk_bytes),
        shared_(shared),
        offset_(offset) {}

  SessionRef session_;
  kernels::Backend& backend_;
  kernels::Tensor tensor_;
  const uint64_t chunk_bytes_;
  const bool shared_;
  uint64_t offset_;
  bool sent_first_ = false;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_DOWNLOAD_H_
