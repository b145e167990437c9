#include "server/raw_transfer.h"

#include <algorithm>
#include <string>

namespace ferry::server {

v1::BulkResponse BulkAnswer(const absl::Status& status) {
  v1::BulkResponse answer;
  answer.set_code(static_cast<int32_t>(status.code()));
  answer.set_message(std::string(status.message()));
  return answer;
}

absl::Status SendTensorBytes(core::ByteStream& stream, kernels::Backend& backend,
                             kernels::Queue* queue, const kernels::Tensor& tensor,
                             uint64_t offset) {
  const uint64_t total_bytes = tensor.nbytes();
  if (backend.HostAddressable()) {
    return stream.Send(static_cast<const char*>(tensor.raw()) + offset, total_bytes - offset);
  }
  kernels::QueueScope scope(queue);
  std::string staging(static_cast<size_t>(std::min<uint64_t>(total_bytes, kRawRunBytes)), '\0');
  absl::Status sent;
  for (uint64_t at = offset; at < total_bytes && sent.ok(); at += staging.size()) {
    const uint64_t run = std::min<uint64_t>(total_bytes - at, staging.size());
    sent = backend.CopyToHost(tensor, at, run, staging.data());
    if (sent.ok()) sent = stream.Send(staging.data(), run);
  }
  return sent;
}

absl::Status ReceiveTensorBytes(core::ByteStream& stream, UploadReceiver& receiver,
                                absl::Status& accepted, uint64_t bytes, uint64_t* left) {
  *left = bytes;
  std::string staging;
  absl::Status received;
  while (*left > 0 && received.ok()) {
    const size_t run = static_cast<size_t>(std::min<uint64_t>(*left, kRawRunBytes));
    if (char* cursor = accepted.ok() ? receiver.HostCursor() : nullptr; cursor != nullptr) {
      received = stream.Receive(cursor, run);
      if (received.ok()) receiver.Advance(run);
    } else {
      staging.resize(run);
      received = stream.Receive(staging.data(), run);
      if (received.ok() && accepted.ok()) accepted = receiver.Append(staging.data(), run);
    }
    if (received.ok()) *left -= run;
  }
  return received;
}

}  // namespace ferry::server
