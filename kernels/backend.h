#ifndef FERRY_KERNELS_BACKEND_H_
#define FERRY_KERNELS_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/graph.h"
#include "kernels/fusion.h"
#include "kernels/tensor.h"

namespace ferry::kernels {

class DeviceCollectives;

// What a backend tells about its device (reported by GetInfo).
struct DeviceFacts {
  std::string backend;  // "cpu", "cuda"
  std::string name;
  int64_t memory_bytes = 0;
  std::string compute_capability;
  std::string driver_version;
  std::string runtime_version;
};

// An ordered queue of a backend's work (a CUDA stream): the daemon gives each session one,
// so sessions do not wait on each other. Backends that run synchronously have none.
class Queue {
 public:
  virtual ~Queue() = default;
};

// Binds `queue` to this thread while alive: the backend calls the thread makes go to that
// queue (nullptr: the backend's default queue). Scopes nest; the previous binding returns.
class QueueScope {
 public:
  explicit QueueScope(Queue* queue);
  ~QueueScope();
  QueueScope(const QueueScope&) = delete;
  QueueScope& operator=(const QueueScope&) = delete;

  // The queue bound to this thread, or nullptr.
  static Queue* Current();

 private:
  Queue* previous_;
};

// One kind of device: memory, copies to and from the host, and a kernel per op. Backends
// compute only; the executor decides what runs when. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual const DeviceFacts& facts() const = 0;
  virtual MemoryBudget& budget() = 0;

  // An uninitialised tensor of `type`, or RESOURCE_EXHAUSTED past the budget.
  virtual absl::StatusOr<Tensor> Allocate(const core::TensorType& type) = 0;

  // Copies between host memory and a tensor's bytes [offset, offset + bytes).
  virtual absl::Status CopyFromHost(const void* src, size_t bytes, const Tensor& dst,
                                    size_t dst_offset) = 0;
  virtual absl::Status CopyToHost(const Tensor& src, size_t src_offset, size_t bytes,
                                  void* dst) = 0;
  // Whether a tensor's raw() is ordinary host memory, which transfers may then read and
  // write in place instead of through CopyFromHost/CopyToHost.
  virtual bool HostAddressable() const { return false; }

  // Page-locks host memory for copies straight between it and tensors (CUDA's
  // cudaHostRegister: one DMA, no staging), for as long as the handle lives; null where
  // the backend has no use for it or cannot (the copies then stage as CopyFromHost's do).
  virtual std::shared_ptr<void> PinHostMemory(void* data, size_t bytes) { return nullptr; }
  // Copies between a tensor and host memory inside a range PinHostMemory pinned; done when
  // they return, so the caller may reuse the memory at once.
  virtual absl::Status CopyFromPinnedHost(const void* src, size_t bytes, const Tensor& dst,
                                          size_t dst_offset) {
    return CopyFromHost(src, bytes, dst, dst_offset);
  }
  virtual absl::Status CopyToPinnedHost(const Tensor& src, size_t src_offset, size_t bytes,
                                        void* dst) {
    return CopyToHost(src, src_offset, bytes, dst);
  }

  // Computes `node` from `inputs` into `out`, which the executor allocated with node.out's
  // type. The node has passed validation. UNIMPLEMENTED for an op without a kernel here.
  // For an elementwise op (kernels::IsElementwise) `out` may be the very memory of a dying
  // input of out's shape (the executor works in place), so each element is read before
  // the same position is written.
  virtual absl::Status Run(const core::Node& node, absl::Span<const Tensor> inputs,
                           const Tensor& out) = 0;

  // Whether RunFused computes fused elementwise groups. The executor plans fused steps only
  // for a backend that says so; every other backend gets each node as its own Run.
  virtual bool SupportsFusion() const { return false; }

  // What RunFused can work out once for `fused` instead of on every call (the ops, a
  // compiled program), which the executor keeps in the plan as `fused.compiled`; null when
  // nothing is worth keeping. RunFused still takes an expression without it.
  virtual std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused) const {
    return nullptr;
  }

  // Computes `fused`'s expression with its parameters bound to `inputs` (which may
  // broadcast to out's shape) into `out`. `out` may share memory with an input of out's
  // shape, so elements are read before the same position is written.
  virtual absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs,
                                const Tensor& out);

  // Waits for the work queued on this thread's queue (a no-op on the CPU). A fault in that
  // work is INTERNAL.
  virtual absl::Status Synchronize() { return absl::OkStatus(); }

  // A new queue for one client's work (see QueueScope), or nullptr where work is not
  // queued (the CPU).
  virtual std::shared_ptr<Queue> NewQueue() { return nullptr; }

  // Collectives on this backend's memory between the ranks of a group (NCCL between GPUs).
  // A group's rank 0 makes the id that every rank then joins with, all at once; a rank
  // that cannot join within `join_within` fails, and a call of the group's that does not
  // finish within `call_timeout` fails it. Backends without them say UNIMPLEMENTED, and a
  // group's collectives then stage through host memory.
  virtual bool HasDeviceCollectives() const { return false; }
  virtual absl::StatusOr<std::string> NewDeviceGroupId();
  virtual absl::StatusOr<std::unique_ptr<DeviceCollectives>> JoinDeviceGroup(
      const std::string& id, int rank, int size, absl::Duration join_within,
      absl::Duration call_timeout);
};

// A host tensor copied into the backend's memory, and back.
absl::StatusOr<Tensor> TensorFromHost(Backend& backend, const core::HostTensor& host);
absl::StatusOr<core::HostTensor> TensorToHost(Backend& backend, const Tensor& tensor);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_BACKEND_H_
