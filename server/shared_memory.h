#ifndef FERRY_SERVER_SHARED_MEMORY_H_
#define FERRY_SERVER_SHARED_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/backend.h"

namespace ferry::server {

// A client's POSIX shared-memory region, mapped into the daemon (the same-host fast path
// for Upload and Download). Unmapped when the last reference goes: a transfer in flight
// keeps it mapped past an Unregister or the session's end.
class SharedMemoryRegion {
 public:
  // Bytes at the region's start that must equal the nonce the client registered with:
  // only a process that can write this very region (so on this host) passes.
  static constexpr size_t kNonceBytes = 16;

  // Opens and maps `name` read-write. Errors, all with "[shared_memory]" in front:
  //   INVALID_ARGUMENT a name not of the form "/" then 1-200 of [A-Za-z0-9._-], a size of 0,
  //                    or a nonce not of kNonceBytes bytes;
  //   NOT_FOUND        no such region on the daemon's host (the client is elsewhere);
  //   PERMISSION_DENIED the daemon's user may not open it;
  //   OUT_OF_RANGE     the region is smaller than `size_bytes`;
  //   FAILED_PRECONDITION the region does not start with `nonce` (another host's region of
  //                    the same name, or a stale one).
  static absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> Open(absl::string_view name,
                                                                  uint64_t size_bytes,
                                                                  absl::string_view nonce);

  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }

  // Streams the region's bytes [offset, offset + bytes) to `sink` in chunks (a chunk's
  // bytes, and where it starts relative to `offset`), or fills them from `source` likewise.
  // OUT_OF_RANGE when the bytes are not all inside the region, or when the client shrinks
  // the region before or during the copy: the region is only ever touched by a copy that
  // turns the resulting SIGBUS into that status, so a client cannot take the daemon down.
  using ChunkSink = std::function<absl::Status(const char* chunk, uint64_t at, uint64_t bytes)>;
  using ChunkSource = std::function<absl::Status(char* chunk, uint64_t at, uint64_t bytes)>;
  absl::Status CopyOut(uint64_t offset, uint64_t bytes, const ChunkSink& sink) const;
  absl::Status CopyIn(uint64_t offset, uint64_t bytes, const ChunkSource& source) const;
  // Page-locks the region for `backend` where it has use for that (CUDA): its copies
  // with the region are then one DMA each, no bounce buffer. Until the region goes.
  void Pin(kernels::Backend& backend);
  bool pinned() const { return pinned_ != nullptr; }
  // Between the region's bytes [offset, offset + bytes) and a tensor of `backend`, the
  // whole tensor: in place for a host-addressable backend, one DMA when pinned, else in
  // chunks through CopyOut/CopyIn.
  absl::Status CopyOutToTensor(uint64_t offset, uint64_t bytes, kernels::Backend& backend,
                               const kernels::Tensor& tensor) const;
  absl::Status CopyInFromTensor(uint64_t offset, uint64_t bytes, kernels::Backend& backend,
                                const kernels::Tensor& tensor) const;

 private:
  // Straight from or into host memory (a host-addressable backend's tensor): one guarded
  // copy, no chunks.
  absl::Status CopyOutTo(uint64_t offset, uint64_t bytes, char* dst) const;
  absl::Status CopyInFrom(uint64_t offset, uint64_t bytes, const char* src) const;
  // Checks the range as the copies promise, and returns where it starts.
  absl::StatusOr<char*> Span(uint64_t offset, uint64_t bytes) const;
  absl::Status Shrank() const;

  SharedMemoryRegion(std::string name, int fd, char* data, uint64_t size)
      : name_(std::move(name)), fd_(fd), data_(data), size_(size) {}

  const std::string name_;
  const int fd_;
  char* const data_;
  const uint64_t size_;
  // Set once, by Pin before the region is shared; released before the unmapping. (A
  // client that shrinks a pinned region cannot fault the DMA: the pages stay locked.)
  std::shared_ptr<void> pinned_;
};

// OK for a name of the form "/" then 1-200 of [A-Za-z0-9._-] (no other slash, not "/." or
// "/.."), else INVALID_ARGUMENT.
absl::Status CheckSharedMemoryName(absl::string_view name);

}  // namespace ferry::server

#endif  // FERRY_SERVER_SHARED_MEMORY_H_
