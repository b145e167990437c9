#ifndef FERRY_SERVER_UPLOAD_H_
#define FERRY_SERVER_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/bytes_field.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"

namespace ferry::server {

// Receives one Upload stream, a serialized UploadRequest at a time, in the pieces gRPC
// hands over: a message's data goes from those pieces straight into the tensor, never
// through a parsed copy. The first message names the session, the buffer (a new nonzero
// handle), its spec and total_bytes, which must equal the spec's byte count; every
// message's data is written at the running offset (or, with shared_memory_name, all the
// bytes come from the client's region). The buffer becomes resident in Finish, only when
// exactly total_bytes arrived; otherwise it is not resident (what arrived is kept for a
// resume, below) and the error says how far it got:
//   INVALID_ARGUMENT "upload of buffer 5: chunk ends at byte 300, past the declared 256 bytes"
//   INVALID_ARGUMENT "upload of buffer 5 ended after 128 of 256 bytes (kept for a resume)"
//   INVALID_ARGUMENT "upload of buffer 5: bool element 2 is the byte 7; a bool is 0 or 1"
// plus NOT_FOUND for an unknown session, ALREADY_EXISTS for a resident handle, and
// RESOURCE_EXHAUSTED when the buffer does not fit the daemon's memory. After an error the
// stream is over: call neither method again.
// An upload that ends short keeps what arrived in the session (Session::KeepPartialUpload):
// a first message with resume_offset continues it, one with resume_query only asks how
// many bytes are kept (Finish answers them in bytes_received).
// With content_digest, a whole upload is offered to the daemon's upload cache; a first
// message with cache_query instead makes the buffer resident from the cache when it holds
// those bytes (Finish answers total_bytes in bytes_received, else 0).
class UploadReceiver {
 public:
  UploadReceiver(SessionManager& sessions, kernels::Backend& backend)
      : sessions_(sessions), backend_(backend) {}
  ~UploadReceiver();
  UploadReceiver(const UploadReceiver&) = delete;
  UploadReceiver& operator=(const UploadReceiver&) = delete;

  // How a resume of this upload arriving on another connection stops it, when its own
  // connection may have gone silent (Session::BeginUpload); set before the first message.
  void set_interrupt(std::function<void()> interrupt) { interrupt_ = std::move(interrupt); }

  absl::Status Receive(absl::Span<const core::ByteSpan> message);
  // After the stream's last message.
  absl::StatusOr<v1::UploadResponse> Finish();
  // As Finish, but hands the tensor over instead of making it resident.
  absl::StatusOr<kernels::Tensor> FinishTensor();

  // For a transport that reads the raw bytes itself (the bulk channel): `first` is the
  // only message, without data; then the bytes go in with Append, or are written at
  // HostCursor and counted with Advance, and Finish ends it as above.
  absl::Status Begin(const v1::UploadRequest& first);
  absl::Status Append(const char* data, size_t bytes);
  // Where the next bytes go in the tensor's own memory; null unless the backend is
  // host-addressable. At most total_bytes - received bytes may be written there.
  char* HostCursor();
  void Advance(size_t bytes) { received_ += bytes; }
  // The transport broke: the bytes received so far stay with the session for a resume.
  void KeepForResume();

 private:
  absl::Status Start(const v1::UploadRequest& first, size_t data_bytes);
  absl::Status Resume(const v1::UploadRequest& first, const core::TensorType& type,
                      std::optional<Session::PartialUpload> kept);
  // A cache_query: the buffer from the upload cache, when it holds the bytes.
  absl::Status FromCache(const v1::UploadRequest& first, const core::TensorType& type,
                         size_t data_bytes);
  absl::Status NoDataForQuery() const;
  // The upload has its tensor: a resume elsewhere may interrupt it until Ended.
  void Track();
  void Ended();
  absl::Status Prefixed(const absl::Status& status) const;
  absl::Status CheckRoom(size_t bytes) const;
  // Kernels read bool elements as C++ bools, for which a byte other than 0 or 1 is
  // undefined: INVALID_ARGUMENT naming the first. (Checked where the bytes are in host
  // memory; a GPU's kernels read any nonzero byte as true.)
  absl::Status CheckBools(const kernels::Tensor& tensor) const;

  SessionManager& sessions_;
  kernels::Backend& backend_;
  int64_t messages_ = 0;
  std::optional<SessionRef> session_;
  std::string session_id_;
  uint64_t buffer_id_ = 0;
  uint64_t total_bytes_ = 0;
  uint64_t received_ = 0;
  bool shared_ = false;         // the bytes came from a shared-memory region
  bool query_ = false;          // a resume_query or cache_query: nothing is written
  std::string content_digest_;  // offered to the upload cache once whole
  uint64_t held_ = 0;           // for a query: the bytes kept
  std::function<void()> interrupt_;
  int64_t tracked_ = 0;  // the session's token while tracked, else 0
  std::optional<kernels::Tensor> tensor_;
  std::string gathered_;  // payload pieces not yet copied to a device
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_UPLOAD_H_
