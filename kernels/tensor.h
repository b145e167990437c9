#ifndef FERRY_KERNELS_TENSOR_H_
#define FERRY_KERNELS_TENSOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "core/graph.h"

namespace ferry::kernels {

// Counts the bytes of every live Storage of a backend against a limit, so one daemon
// serving many sessions refuses an allocation instead of exhausting the machine.
class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  // Takes `bytes` from the budget, or RESOURCE_EXHAUSTED naming the sizes.
  absl::Status Reserve(int64_t bytes);
  // Asked when a reservation does not fit, with the bytes missing: frees what it can of
  // memory held only in case it is wanted later (ferryd: broken uploads kept for a resume)
  // and says how much; the reservation is then tried once more. It must not reserve. Set
  // before the budget is used, or cleared (nullptr) once nothing reserves any more.
  void set_reclaimer(std::function<int64_t(int64_t)> reclaimer) {
    reclaimer_ = std::move(reclaimer);
  }
  void Return(int64_t bytes) { in_use_.fetch_sub(bytes); }

  int64_t limit() const { return limit_; }
  int64_t in_use() const { return in_use_.load(); }
  // The most bytes in use at once since construction or the last ResetPeak().
  int64_t peak() const { return peak_.load(); }
  void ResetPeak() { peak_.store(in_use_.load()); }

 private:
  absl::Status TryReserve(int64_t bytes);

  const int64_t limit_;
  std::function<int64_t(int64_t)> reclaimer_;
  std::atomic<int64_t> in_use_{0};
  std::atomic<int64_t> peak_{0};
};

// A block of one backend's memory (host memory for the CPU backend, device memory for
// CUDA). Freed, and returned to its budget, when the last Tensor using it goes.
class Storage {
 public:
  Storage(void* data, size_t size) : data_(data), size_(size) {}
  virtual ~Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_;
  size_t size_;
};

// A dense row-major tensor: a type and a view into a Storage at a byte offset. Views share
// storage (reshape is free); kernels write only into tensors the executor allocated.
struct Tensor {
  core::TensorType type;
  std::shared_ptr<Storage> storage;
  size_t offset = 0;

  int64_t size() const { return core::NumElements(type.shape); }
  size_t nbytes() const { return static_cast<size_t>(size()) * core::SizeOf(type.dtype); }
  const core::Shape& shape() const { return type.shape; }
  core::DType dtype() const { return type.dtype; }
  void* raw() const { return static_cast<char*>(storage->data()) + offset; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw());
  }
};

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_TENSOR_H_
