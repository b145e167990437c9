#ifndef FERRY_KERNELS_COLLECTIVES_H_
#define FERRY_KERNELS_COLLECTIVES_H_

// Collectives (core::IsCollective ops) run by the executor, whatever the backend: the
// session's group moves host bytes between its ranks (server/ring_communicator.h), and the
// executor stages a device's tensors through host memory around it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/graph.h"
#include "kernels/tensor.h"

namespace ferry::kernels {

class Backend;

enum class ReduceOp { kSum, kMax, kMin };

// A group's collectives on a backend's own memory (NCCL between GPUs): every pointer is the
// backend's, and each call returns once its result is in place. The group's Communicator
// checks that the ranks agree on each call before it runs here, and carries sends.
class DeviceCollectives {
 public:
  virtual ~DeviceCollectives() = default;
  // What carries them ("nccl"), as Group::backend() reports it.
  virtual std::string name() const = 0;
  // Whether reductions `op` of `dtype` run here; the others stage through host memory.
  virtual bool Reduces(ReduceOp op, core::DType dtype) const = 0;
  virtual absl::Status AllReduce(ReduceOp op, core::DType dtype, const void* in, void* out,
                                 int64_t count) = 0;
  virtual absl::Status AllGather(const void* mine, size_t bytes, void* all) = 0;
  // `in` is size() chunks of `chunk_count` elements; `out` receives the reduction of chunk
  // rank() over the ranks.
  virtual absl::Status ReduceScatter(ReduceOp op, core::DType dtype, const void* in, void* out,
                                     int64_t chunk_count) = 0;
  virtual absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) = 0;
  // Ends the group's device side now, from any thread: a call in progress fails.
  virtual void Abort() = 0;
};

// One rank's end of a group. Every rank calls the same collectives in the same order; each
// call returns once this rank's part is done, or fails (DEADLINE_EXCEEDED when a peer stays
// silent, UNAVAILABLE when one is gone, INVALID_ARGUMENT when ranks disagree on the call).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // `out`'s `count` elements of `dtype` become the reduction over the ranks of their `in`
  // (which may be `out`; otherwise it is left as it is, and no copy of it is made first).
  virtual absl::Status AllReduce(ReduceOp op, core::DType dtype, const void* in, void* out,
                                 int64_t count) = 0;
  // In place: `data` is both.
  absl::Status AllReduce(ReduceOp op, core::DType dtype, void* data, int64_t count) {
    return AllReduce(op, dtype, data, data, count);
  }
  // `all` (size() * bytes) receives each rank's `bytes` from `mine`, in rank order.
  virtual absl::Status AllGather(const void* mine, size_t bytes, void* all) = 0;
  // `data` is size() equal chunks of `count` / size() elements; chunk rank() becomes the
  // reduction of that chunk over the ranks (the others are left scrambled).
  // Read from `in` when it is not `data` (which then takes only the reduced chunks).
  virtual absl::Status ReduceScatter(ReduceOp op, core::DType dtype, const void* in, void* data,
                                     int64_t count) = 0;
  absl::Status ReduceScatter(ReduceOp op, core::DType dtype, void* data, int64_t count) {
    return ReduceScatter(op, dtype, data, data, count);
  }
  // `mine` is size() blocks of `block_bytes`, block j for rank j; block i of `all` (as
  // large) receives rank i's block for this rank.
  virtual absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) = 0;
  // Point to point: `count` elements of `dtype` to rank `dst`, whose Recv from this rank
  // (same dtype and count) takes them. Send returns once they are queued: it never waits for
  // the receiver, so two ranks may send to each other before either receives; `data` stays
  // unchanged and `keep` (its owner) alive until they are sent. INVALID_ARGUMENT for a rank
  // this one has no link to.
  virtual absl::Status Send(int dst, core::DType dtype, const void* data, int64_t count,
                            std::shared_ptr<const void> keep) = 0;
  virtual absl::Status Recv(int src, core::DType dtype, void* data, int64_t count) = 0;
  // Ends this rank's part in the group now, from any thread, `why` ("its session closed"):
  // a call blocked on a peer fails at once (CANCELLED, saying why), as do later ones, and the
  // peers see the links close. Nothing to end for a group without links.
  virtual void Abort(const std::string& why) {}
  // Whether a call is in progress (one may be waiting for its peers); from any thread.
  virtual bool Busy() { return false; }
  // The group's collectives on device memory, agreed between the ranks as the calls above
  // are; null where its ranks' backends have none in common.
  virtual DeviceCollectives* device() { return nullptr; }
};

// The whole of a group of one rank: each collective is its input, and there is no one to
// send to or receive from (INVALID_ARGUMENT). The in-process device's groups are these, so
// code written for many ranks runs unchanged on one (MLX's singleton group).
std::shared_ptr<Communicator> MakeSingleRankCommunicator();

// The groups of one session, by the handle its client gave each.
class CommunicatorDirectory {
 public:
  virtual ~CommunicatorDirectory() = default;
  // NOT_FOUND naming the handle when the session formed no such group.
  virtual absl::StatusOr<std::shared_ptr<Communicator>> FindGroup(int64_t group) const = 0;
};

// Binds the session's groups to this thread for the graphs it runs (as QueueScope binds its
// queue); without one, collectives fail with FAILED_PRECONDITION.
class CommunicatorScope {
 public:
  explicit CommunicatorScope(const CommunicatorDirectory* groups);
  ~CommunicatorScope();
  CommunicatorScope(const CommunicatorScope&) = delete;
  CommunicatorScope& operator=(const CommunicatorScope&) = delete;
  static const CommunicatorDirectory* Current();

 private:
  const CommunicatorDirectory* previous_;
};

// Computes the collective `node` from `inputs` (none for recv) into `out` with the group
// bound to this thread. A send's `out` is its input (MLX's: send gives back what it sent).
absl::Status RunCollective(Backend& backend, const core::Node& node,
                           absl::Span<const Tensor> inputs, const Tensor& out);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_COLLECTIVES_H_
