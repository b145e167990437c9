#ifndef FERRY_CLIENT_HOST_BUFFER_H_
#define FERRY_CLIENT_HOST_BUFFER_H_

// Host memory for transfers with one device, as CUDA's pinned memory (cudaHostAlloc,
// PyTorch's pin_memory) and Triton's registered system shared memory: where the device is a
// ferryd on this host that offers shared memory (ferryd --shared_memory), the buffer is a
// region the daemon has mapped, and from_host from it and copy_to into it take one copy,
// the daemon's, instead of one here and one there. Elsewhere (the local device, a daemon on
// another host or without the feature) it is plain page-aligned memory and transfers go as
// they would from any memory.
//
//   ferry::HostBuffer batch(256 * 784 * sizeof(float), gpu);
//   loader.read_into(batch.data<float>());             // fill it in place
//   ferry::Array x = ferry::from_host(batch.data<float>(), {256, 784}, gpu);
//   ...
//   y.copy_to(batch.data(), y.nbytes());               // and read results into it
//
// from_host returns once the array holds its own copy, so the buffer may be refilled at
// once; copy_to returns once the bytes are in it. Not thread-safe against writes to the
// buffer during a transfer from or into it.

#include <cstddef>
#include <memory>

#include "client/device.h"

namespace ferry {

namespace detail {
class HostMemory;
}  // namespace detail

class HostBuffer {
 public:
  // `bytes` of memory, page-aligned, for transfers with `device`. Throws Error
  // (RESOURCE_EXHAUSTED) when the memory cannot be had.
  explicit HostBuffer(size_t bytes, const Device& device = default_device());
  HostBuffer(HostBuffer&&) noexcept = default;
  HostBuffer& operator=(HostBuffer&&) noexcept = default;

  void* data() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(data());
  }
  size_t size() const;
  // Whether the device's daemon reads and writes this memory in place (one copy per
  // transfer, none in this process); false where it is plain memory.
  bool in_place() const;

 private:
  std::shared_ptr<detail::HostMemory> memory_;  // null once moved from
};

}  // namespace ferry

#endif  // FERRY_CLIENT_HOST_BUFFER_H_
