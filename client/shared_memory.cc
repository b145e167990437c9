#include "client/shared_memory.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/error.h"

#if defined(__unix__) || defined(__APPLE__)
#define FERRY_HAS_POSIX_SHM 1
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace ferry::detail {

#ifdef FERRY_HAS_POSIX_SHM

bool SharedRegion::Supported() { return true; }

std::unique_ptr<SharedRegion> SharedRegion::Create(size_t size) {
  if (size < kNonceBytes) size = kNonceBytes;
  std::random_device device;
  std::mt19937_64 random(
      (static_cast<uint64_t>(device()) << 32) ^ device() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  // Short: macOS allows 31 characters.
  char name[32];
  std::snprintf(name, sizeof(name), "/ferry-%d-%08llx", static_cast<int>(getpid()),
                static_cast<unsigned long long>(random() & 0xffffffffu));
  std::string nonce(kNonceBytes, '\0');
  for (size_t i = 0; i < kNonceBytes; i += 8) {
    const uint64_t bits = random();
    std::memcpy(nonce.data() + i, &bits, 8);
  }
  const int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    throw Error(ErrorCode::kInternal, absl::StrCat("[shared_memory] cannot create region ", name,
                                                   ": ", std::strerror(errno)));
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int error = errno;
    close(fd);
    shm_unlink(name);
    throw Error(ErrorCode::kResourceExhausted,
                absl::StrCat("[shared_memory] cannot size region ", name, " to ", size,
                             " bytes: ", std::strerror(error)));
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    const int error = errno;
    close(fd);
    shm_unlink(name);
    throw Error(ErrorCode::kResourceExhausted, absl::StrCat("[shared_memory] cannot map region ",
                                                            name, ": ", std::strerror(error)));
  }
  std::memcpy(data, nonce.data(), kNonceBytes);
  return std::unique_ptr<SharedRegion>(
      new SharedRegion(name, std::move(nonce), fd, static_cast<char*>(data), size));
}

SharedRegion::~SharedRegion() {
  munmap(data_, size_);
  close(fd_);
  Unlink();
}

void SharedRegion::Unlink() {
  if (linked_) shm_unlink(name_.c_str());
  linked_ = false;
}

#else  // no POSIX shared memory: the option is accepted and transfers stay on gRPC

bool SharedRegion::Supported() { return false; }

std::unique_ptr<SharedRegion> SharedRegion::Create(size_t) {
  throw Error(ErrorCode::kUnimplemented, "[shared_memory] not available on this platform");
}

SharedRegion::~SharedRegion() = default;
void SharedRegion::Unlink() {}

#endif

}  // namespace ferry::detail
