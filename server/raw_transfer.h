#ifndef FERRY_SERVER_RAW_TRANSFER_H_
#define FERRY_SERVER_RAW_TRANSFER_H_

// A tensor's raw bytes over a byte stream (the bulk channel, a copy between daemons),
// between the socket and the tensor's own memory where the host can address it.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/stream_socket.h"
#include "kernels/backend.h"
#include "kernels/tensor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/upload.h"

namespace ferry::server {

// Bytes move in runs of this size: a device's staging buffer, and what an upload whose
// connection breaks loses at most (the runs before it count).
inline constexpr size_t kRawRunBytes = size_t{4} << 20;

// The bulk channel's answer saying `status` (its code and message).
v1::BulkResponse BulkAnswer(const absl::Status& status);

// Sends `tensor`'s bytes from `offset` on: from its own memory on a host-addressable
// backend, else through a staging buffer, copied on `queue`.
absl::Status SendTensorBytes(core::ByteStream& stream, kernels::Backend& backend,
                             kernels::Queue* queue, const kernels::Tensor& tensor, uint64_t offset);

// Receives `bytes` raw bytes into `receiver` (begun), in runs; once `accepted` is not OK (or
// turns so) reads past them instead, so the stream stays in step. Returns the stream's own
// failure, with `*left` the bytes that did not arrive.
absl::Status ReceiveTensorBytes(core::ByteStream& stream, UploadReceiver& receiver,
                                absl::Status& accepted, uint64_t bytes, uint64_t* left);

}  // namespace ferry::server

#endif  // FERRY_SERVER_RAW_TRANSFER_H_
