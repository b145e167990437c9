#ifndef FERRY_SERVER_UPLOAD_H_
#define FERRY_SERVER_UPLOAD_H_

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"

namespace ferry::server {

// Receives one Upload stream; `read` yields its messages in order and returns false at
// its end. The first message names the session, the buffer (a new nonzero handle), its
// spec and total_bytes, which must equal the spec's byte count; every message's data is
// written at the running offset. The buffer becomes resident only when exactly
// total_bytes arrived; otherwise nothing is stored and the error says how far it got:
//   INVALID_ARGUMENT "upload of buffer 5: chunk ends at byte 300, past the declared 256 bytes"
//   INVALID_ARGUMENT "upload of buffer 5 ended after 128 of 256 bytes"
// plus NOT_FOUND for an unknown session, ALREADY_EXISTS for a resident handle, and
// RESOURCE_EXHAUSTED when the buffer does not fit the daemon's memory.
absl::StatusOr<v1::UploadResponse> ReceiveUpload(SessionManager& sessions,
                                                 kernels::Backend& backend,
                                                 absl::FunctionRef<bool(v1::UploadRequest*)> read);

}  // namespace ferry::server

#endif  // FERRY_SERVER_UPLOAD_H_
