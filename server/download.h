#ifndef FERRY_SERVER_DOWNLOAD_H_
#define FERRY_SERVER_DOWNLOAD_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"

namespace ferry::server {

// Streams a resident buffer to `write` in chunks of request.chunk_bytes (0: of
// `default_chunk_bytes`; never more than `max_chunk_bytes`). The first message carries
// the spec and total_bytes; every message carries its offset, so buffers past 4 GiB
// stream like small ones. A zero-byte buffer is one message with no data. NOT_FOUND for
// an unknown session or buffer; CANCELLED when `write` returns false (the client left).
absl::Status SendDownload(SessionManager& sessions, kernels::Backend& backend,
                          const v1::DownloadRequest& request, int64_t default_chunk_bytes,
                          int64_t max_chunk_bytes,
                          absl::FunctionRef<bool(const v1::DownloadResponse&)> write);

}  // namespace ferry::server

#endif  // FERRY_SERVER_DOWNLOAD_H_
