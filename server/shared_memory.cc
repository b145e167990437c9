#include "server/shared_memory.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/copy_in_halves.h"

namespace ferry::server {
namespace {

constexpr size_t kMaxNameChars = 200;
// Copies go through a bounce buffer this size, small enough to stay in cache.
constexpr uint64_t kBounceBytes = uint64_t{1} << 20;

// Where a SIGBUS raised by this thread's guarded copy returns to; null outside one.
// (volatile: the stores around the memcpy must not be merged away.)
thread_local sigjmp_buf* volatile guarded_copy_exit = nullptr;

void OnSigbus(int signal_number, siginfo_t*, void*) {
  if (guarded_copy_exit != nullptr) siglongjmp(*guarded_copy_exit, 1);
  // Not ours: die as the default action would.
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// memcpy that returns false instead of crashing when a page of the region is gone (the
// client truncated it). Only the memcpy runs under the guard, so the jump skips no
// destructor and leaves no lock held.
bool GuardedMemcpy(void* dst, const void* src, size_t bytes) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, nullptr);
  });
  sigjmp_buf exit;
  if (sigsetjmp(exit, 1) != 0) {
    guarded_copy_exit = nullptr;
    return false;
  }
  guarded_copy_exit = &exit;
  std::memcpy(dst, src, bytes);
  guarded_copy_exit = nullptr;
  return true;
}

absl::Status Error(absl::StatusCode code, absl::string_view message) {
  return absl::Status(code, absl::StrCat("[shared_memory] ", message));
}

}  // namespace

absl::Status CheckSharedMemoryName(absl::string_view name) {
  bool ok = name.size() >= 2 && name.size() <= kMaxNameChars + 1 && name[0] == '/' &&
            name != "/." && name != "/..";
  for (size_t i = 1; ok && i < name.size(); ++i) {
    const char c = name[i];
    ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  }
  if (ok) return absl::OkStatus();
  return Error(absl::StatusCode::kInvalidArgument,
               absl::StrCat("region name \"", absl::CHexEscape(name.substr(0, kMaxNameChars)),
                            "\" is not \"/\" followed by 1-200 of [A-Za-z0-9._-]"));
}

absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> SharedMemoryRegion::Open(
    absl::string_view name, uint64_t size_bytes, absl::string_view nonce) {
  if (absl::Status valid = CheckSharedMemoryName(name); !valid.ok()) return valid;
  if (size_bytes < kNonceBytes) {
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("region ", name, " of ", size_bytes, " bytes: at least ", kNonceBytes,
                              " are needed"));
  }
  if (nonce.size() != kNonceBytes) {
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("the nonce of region ", name, " has ", nonce.size(), " bytes, not ",
                              kNonceBytes));
  }
  const std::string path(name);
  const int fd = shm_open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) {
    const int error = errno;
    const absl::StatusCode code = error == ENOENT   ? absl::StatusCode::kNotFound
                                  : error == EACCES ? absl::StatusCode::kPermissionDenied
                                                    : absl::StatusCode::kInternal;
    return Error(code, absl::StrCat("cannot open region ", name,
                                    " on the daemon's host: ", std::strerror(error),
                                    error == ENOENT ? " (is the client on another host?)" : ""));
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<uint64_t>(info.st_size) < size_bytes) {
    close(fd);
    return Error(absl::StatusCode::kOutOfRange,
                 absl::StrCat("region ", name, " has ", static_cast<int64_t>(info.st_size),
                              " bytes, fewer than the ", size_bytes, " registered"));
  }
  void* data = mmap(nullptr, size_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    const int error = errno;
    close(fd);
    return Error(absl::StatusCode::kResourceExhausted,
                 absl::StrCat("cannot map region ", name, ": ", std::strerror(error)));
  }
  std::shared_ptr<SharedMemoryRegion> region(
      new SharedMemoryRegion(path, fd, static_cast<char*>(data), size_bytes));
  if (std::memcmp(region->data_, nonce.data(), kNonceBytes) != 0) {
    return Error(absl::StatusCode::kFailedPrecondition,
                 absl::StrCat("region ", name,
                              " does not start with the client's nonce: it is not the client's "
                              "region (is the client on another host?)"));
  }
  return region;
}

SharedMemoryRegion::~SharedMemoryRegion() {
  pinned_.reset();
  munmap(data_, size_);
  close(fd_);
}

absl::StatusOr<char*> SharedMemoryRegion::Span(uint64_t offset, uint64_t bytes) const {
  if (offset > size_ || bytes > size_ - offset) {
    return Error(absl::StatusCode::kOutOfRange,
                 absl::StrCat("bytes [", offset, ", ", offset + bytes, ") are not inside region ",
                              name_, " of ", size_, " bytes"));
  }
  struct stat info {};
  if (fstat(fd_, &info) != 0 || static_cast<uint64_t>(info.st_size) < offset + bytes) {
    return Error(absl::StatusCode::kOutOfRange,
                 absl::StrCat("region ", name_, " shrank to ", static_cast<int64_t>(info.st_size),
                              " bytes after it was registered"));
  }
  return data_ + offset;
}

absl::Status SharedMemoryRegion::Shrank() const {
  struct stat info {};
  fstat(fd_, &info);
  return Error(absl::StatusCode::kOutOfRange,
               absl::StrCat("region ", name_, " shrank to ", static_cast<int64_t>(info.st_size),
                            " bytes during the copy"));
}

absl::Status SharedMemoryRegion::CopyOut(uint64_t offset, uint64_t bytes,
                                         const ChunkSink& sink) const {
  absl::StatusOr<char*> start = Span(offset, bytes);
  if (!start.ok()) return start.status();
  std::vector<char> bounce(std::min(bytes, kBounceBytes));
  for (uint64_t at = 0; at < bytes; at += bounce.size()) {
    const uint64_t n = std::min<uint64_t>(bounce.size(), bytes - at);
    if (!GuardedMemcpy(bounce.data(), *start + at, n)) return Shrank();
    if (absl::Status sunk = sink(bounce.data(), at, n); !sunk.ok()) return sunk;
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryRegion::CopyIn(uint64_t offset, uint64_t bytes,
                                        const ChunkSource& source) const {
  absl::StatusOr<char*> start = Span(offset, bytes);
  if (!start.ok()) return start.status();
  std::vector<char> bounce(std::min(bytes, kBounceBytes));
  for (uint64_t at = 0; at < bytes; at += bounce.size()) {
    const uint64_t n = std::min<uint64_t>(bounce.size(), bytes - at);
    if (absl::Status filled = source(bounce.data(), at, n); !filled.ok()) return filled;
    if (!GuardedMemcpy(*start + at, bounce.data(), n)) return Shrank();
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryRegion::CopyOutTo(uint64_t offset, uint64_t bytes, char* dst) const {
  absl::StatusOr<char*> start = Span(offset, bytes);
  if (!start.ok()) return start.status();
  if (!core::CopyInHalves(dst, *start, bytes, GuardedMemcpy)) return Shrank();
  return absl::OkStatus();
}

absl::Status SharedMemoryRegion::CopyInFrom(uint64_t offset, uint64_t bytes,
                                            const char* src) const {
  absl::StatusOr<char*> start = Span(offset, bytes);
  if (!start.ok()) return start.status();
  if (!core::CopyInHalves(*start, src, bytes, GuardedMemcpy)) return Shrank();
  return absl::OkStatus();
}

void SharedMemoryRegion::Pin(kernels::Backend& backend) {
  if (!backend.HostAddressable()) pinned_ = backend.PinHostMemory(data_, size_);
}

absl::Status SharedMemoryRegion::CopyOutToTensor(uint64_t offset, uint64_t bytes,
                                                 kernels::Backend& backend,
                                                 const kernels::Tensor& tensor) const {
  if (backend.HostAddressable()) return CopyOutTo(offset, bytes, static_cast<char*>(tensor.raw()));
  if (pinned()) {
    absl::StatusOr<char*> start = Span(offset, bytes);
    if (!start.ok()) return start.status();
    return backend.CopyFromPinnedHost(*start, bytes, tensor, 0);
  }
  return CopyOut(offset, bytes, [&](const char* chunk, uint64_t at, uint64_t n) {
    return backend.CopyFromHost(chunk, n, tensor, at);
  });
}

absl::Status SharedMemoryRegion::CopyInFromTensor(uint64_t offset, uint64_t bytes,
                                                  kernels::Backend& backend,
                                                  const kernels::Tensor& tensor) const {
  if (backend.HostAddressable()) {
    return CopyInFrom(offset, bytes, static_cast<const char*>(tensor.raw()));
  }
  if (pinned()) {
    absl::StatusOr<char*> start = Span(offset, bytes);
    if (!start.ok()) return start.status();
    return backend.CopyToPinnedHost(tensor, 0, bytes, *start);
  }
  return CopyIn(offset, bytes, [&](char* chunk, uint64_t at, uint64_t n) {
    return backend.CopyToHost(tensor, at, n, chunk);
  });
}

}  // namespace ferry::server
