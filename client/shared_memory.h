#ifndef FERRY_CLIENT_SHARED_MEMORY_H_
#define FERRY_CLIENT_SHARED_MEMORY_H_

// The client's side of the same-host fast path (ConnectOptions::shared_memory): a POSIX
// shared-memory region the daemon maps after the client registers it. Internal.

#include <cstddef>
#include <memory>
#include <string>

namespace ferry::detail {

class SharedRegion {
 public:
  static constexpr size_t kNonceBytes = 16;  // server::SharedMemoryRegion::kNonceBytes

  // Whether this platform has POSIX shared memory (Linux, macOS, the BSDs).
  static bool Supported();

  // Creates a fresh region of `size` bytes (at least kNonceBytes) under a random name, mode
  // 0600, with a random nonce at its start. Throws Error.
  static std::unique_ptr<SharedRegion> Create(size_t size);

  ~SharedRegion();  // unmaps it and removes its name
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;

  const std::string& name() const { return name_; }
  const std::string& nonce() const { return nonce_; }
  char* data() const { return data_; }
  size_t size() const { return size_; }

  // Removes the name once the daemon has mapped the region: its memory lives on in both
  // mappings, and nothing is left behind in /dev/shm if either process dies.
  void Unlink();

 private:
  SharedRegion(std::string name, std::string nonce, int fd, char* data, size_t size)
      : name_(std::move(name)), nonce_(std::move(nonce)), fd_(fd), data_(data), size_(size) {}

  const std::string name_;
  const std::string nonce_;
  const int fd_;
  char* const data_;
  const size_t size_;
  bool linked_ = true;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_SHARED_MEMORY_H_
