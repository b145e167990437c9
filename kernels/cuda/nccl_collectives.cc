#include "kernels/cuda/nccl_collectives.h"

#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/cuda/nccl_loader.h"

namespace ferry::kernels::cuda {
namespace {

// Communicators that never block their caller (ncclConfig_t.blocking = 0) came in 2.14.
constexpr int kMinVersion = 21400;

std::optional<ncclDataType_t> NcclType(core::DType dtype) {
  switch (dtype) {
    case core::DType::kInt8:
      return ncclInt8;
    case core::DType::kUInt8:
      return ncclUint8;
    case core::DType::kInt32:
      return ncclInt32;
    case core::DType::kUInt32:
      return ncclUint32;
    case core::DType::kInt64:
      return ncclInt64;
    case core::DType::kUInt64:
      return ncclUint64;
    case core::DType::kFloat16:
      return ncclFloat16;
    case core::DType::kBFloat16:
      return ncclBfloat16;
    case core::DType::kFloat32:
    case core::DType::kComplex64:  // summed as its float32 parts
      return ncclFloat32;
    case core::DType::kFloat64:
      return ncclFloat64;
    default:  // bool and the 16-bit integers: NCCL has none
      return std::nullopt;
  }
}

ncclRedOp_t NcclOp(ReduceOp op) {
  return op == ReduceOp::kMax ? ncclMax : op == ReduceOp::kMin ? ncclMin : ncclSum;
}

absl::StatusCode CodeOf(ncclResult_t result) {
  // A peer gone or its network down; anything else is a misuse of NCCL here, or its fault.
  return result == ncclRemoteError || result == ncclSystemError ? absl::StatusCode::kUnavailable
                                                                : absl::StatusCode::kInternal;
}

class NcclGroup : public DeviceCollectives {
 public:
  NcclGroup(const Nccl& nccl, ncclComm_t comm, int rank, int size, absl::Duration timeout,
            StreamOfThisThread streams, int generation)
      : nccl_(nccl),
        comm_(comm),
        rank_(rank),
        size_(size),
        timeout_(timeout),
        streams_(std::move(streams)),
        generation_(generation) {}
  // Aborted rather than destroyed: destroying waits for the peers, which may be gone.
  ~NcclGroup() override {
    std::lock_guard<std::mutex> lock(mu_);
    AbortLocked();
  }

  std::string name() const override { return "nccl"; }

  bool Reduces(ReduceOp op, core::DType dtype) const override {
    // NCCL's max and min of floats skip NaN (fmax); NumPy's and the host path's propagate it.
    return NcclType(dtype).has_value() &&
           (op == ReduceOp::kSum || !(core::IsFloating(dtype) || core::IsComplex(dtype)));
  }

  absl::Status AllReduce(ReduceOp op, core::DType dtype, const void* in, void* out,
                         int64_t count) override {
    return Run("all-reduce", [&](cudaStream_t stream) {
      return nccl_.AllReduce(in, out, Elements(dtype, count), *NcclType(dtype), NcclOp(op), comm_,
                             stream);
    });
  }

  absl::Status AllGather(const void* mine, size_t bytes, void* all) override {
    return Run("all-gather", [&](cudaStream_t stream) {
      return nccl_.AllGather(mine, all, bytes, ncclUint8, comm_, stream);
    });
  }

  absl::Status ReduceScatter(ReduceOp op, core::DType dtype, const void* in, void* out,
                             int64_t chunk_count) override {
    return Run("reduce-scatter", [&](cudaStream_t stream) {
      return nccl_.ReduceScatter(in, out, Elements(dtype, chunk_count), *NcclType(dtype),
                                 NcclOp(op), comm_, stream);
    });
  }

  absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) override {
    return Run("all-to-all", [&](cudaStream_t stream) {
      // NCCL's all-to-all: a send and a receive per peer in one group call.
      ncclResult_t result = nccl_.GroupStart();
      for (int peer = 0; peer < size_ && Queued(result); ++peer) {
        const size_t at = static_cast<size_t>(peer) * block_bytes;
        result = nccl_.Send(static_cast<const char*>(mine) + at, block_bytes, ncclUint8, peer,
                            comm_, stream);
        if (Queued(result)) {
          result =
              nccl_.Recv(static_cast<char*>(all) + at, block_bytes, ncclUint8, peer, comm_, stream);
        }
      }
      const ncclResult_t ended = nccl_.GroupEnd();
      return Queued(result) ? ended : result;
    });
  }

  void Abort() override {
    abort_requested_.store(true);
    std::lock_guard<std::mutex> lock(mu_);
    // A call in progress sees the request and aborts the communicator itself, since NCCL's
    // calls are not safe against an abort from another thread.
    if (!busy_) AbortLocked();
  }

 private:
  static bool Queued(ncclResult_t result) {
    return result == ncclSuccess || result == ncclInProgress;
  }
  static size_t Elements(core::DType dtype, int64_t count) {
    return static_cast<size_t>(count) * (dtype == core::DType::kComplex64 ? 2 : 1);
  }

  absl::Status Error(const char* what, ncclResult_t result) const {
    const char* last = nccl_.GetLastError(comm_);
    return absl::Status(
        CodeOf(result),
        absl::StrCat("[nccl] rank ", rank_, "'s ", what, " failed: ", nccl_.GetErrorString(result),
                     last != nullptr && *last != '\0' ? ": " : "", last != nullptr ? last : ""));
  }

  // Queues `call` on this thread's stream and waits for it, within the group's timeout.
  absl::Status Run(const char* what, const std::function<ncclResult_t(cudaStream_t)>& call) {
    absl::StatusOr<BoundStream> bound = streams_();
    if (!bound.ok()) return bound.status();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (comm_ == nullptr || abort_requested_.load()) {
        return absl::CancelledError(
            absl::StrCat("[nccl] rank ", rank_, "'s communicator was aborted"));
      }
      if (bound->generation != generation_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "[nccl] the GPU was reset after a kernel fault since this group formed, and its "
            "NCCL communicator with it: init a new group"));
      }
      busy_ = true;
    }
    absl::Status s = Wait(what, call(bound->stream), *bound);
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    // A failed call leaves the peers where they stood in it: the communicator is done.
    if (!s.ok() || abort_requested_.load()) AbortLocked();
    return s;
  }

  absl::Status Wait(const char* what, ncclResult_t queued, const BoundStream& bound) {
    if (!Queued(queued)) return Error(what, queued);
    const absl::Time deadline = absl::Now() + timeout_;
    absl::Duration pause = absl::Microseconds(20);
    while (true) {
      ncclResult_t state = ncclSuccess;
      nccl_.CommGetAsyncError(comm_, &state);
      if (!Queued(state)) return Error(what, state);
      if (state == ncclSuccess) {  // queued; now done on the GPU?
        const cudaError_t done = cudaStreamQuery(bound.stream);
        if (done == cudaSuccess) return absl::OkStatus();
        if (done != cudaErrorNotReady) return bound.check(done);
      }
      if (abort_requested_.load()) {
        return absl::CancelledError(absl::StrCat("[nccl] rank ", rank_, "'s ", what,
                                                 " was abandoned: the group was aborted"));
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "[nccl] rank ", rank_, "'s ", what, " of a group of ", size_, " did not finish within ",
            absl::FormatDuration(timeout_), ": a peer stopped in the middle of it"));
      }
      // Polled, since a wait on the stream could not be given up: at most 0.2 ms late.
      absl::SleepFor(pause);
      pause = std::min(pause * 2, absl::Microseconds(200));
    }
  }

  void AbortLocked() {
    if (comm_ == nullptr) return;
    nccl_.CommAbort(comm_);
    comm_ = nullptr;
  }

  const Nccl& nccl_;
  std::mutex mu_;
  ncclComm_t comm_;  // guarded by mu_ (a call in progress uses it with busy_ set)
  bool busy_ = false;
  std::atomic<bool> abort_requested_{false};
  const int rank_;
  const int size_;
  const absl::Duration timeout_;
  const StreamOfThisThread streams_;
  const int generation_;
};

}  // namespace

absl::Status NcclUsable() {
  absl::StatusOr<const Nccl*> nccl = LoadNccl();
  if (!nccl.ok()) return nccl.status();
  int version = 0;
  (*nccl)->GetVersion(&version);
  if (version < kMinVersion) {
    return absl::FailedPreconditionError(absl::StrCat("NCCL ", version, " at ", (*nccl)->path,
                                                      " is older than 2.14, which ferry needs"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewNcclGroupId() {
  if (absl::Status usable = NcclUsable(); !usable.ok()) return usable;
  const Nccl& nccl = **LoadNccl();
  ncclUniqueId id;
  if (ncclResult_t result = nccl.GetUniqueId(&id); result != ncclSuccess) {
    return absl::UnavailableError(absl::StrCat("[nccl] no group id: ", nccl.GetErrorString(result),
                                               ": ", nccl.GetLastError(nullptr)));
  }
  return std::string(id.internal, sizeof(id.internal));
}

absl::StatusOr<std::unique_ptr<DeviceCollectives>> JoinNcclGroup(const std::string& id, int rank,
                                                                 int size,
                                                                 absl::Duration join_within,
                                                                 absl::Duration call_timeout,
                                                                 StreamOfThisThread streams) {
  if (absl::Status usable = NcclUsable(); !usable.ok()) return usable;
  const Nccl& nccl = **LoadNccl();
  ncclUniqueId unique;
  if (id.size() != sizeof(unique.internal)) {
    return absl::InvalidArgumentError(
        absl::StrCat("[nccl] a group id is ", sizeof(unique.internal), " bytes, not ", id.size()));
  }
  absl::StatusOr<BoundStream> bound = streams();
  if (!bound.ok()) return bound.status();
  std::memcpy(unique.internal, id.data(), id.size());
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t result = nccl.CommInitRankConfig(&comm, size, unique, rank, &config);
  const absl::Time deadline = absl::Now() + join_within;
  while (result == ncclInProgress && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
    nccl.CommGetAsyncError(comm, &result);
  }
  if (result == ncclSuccess) {
    return std::make_unique<NcclGroup>(nccl, comm, rank, size, call_timeout, std::move(streams),
                                       bound->generation);
  }
  absl::Status failed =
      result == ncclInProgress
          ? absl::DeadlineExceededError(absl::StrCat("[nccl] rank ", rank, " of ", size,
                                                     ": the other ranks did not join within ",
                                                     absl::FormatDuration(join_within)))
          : absl::Status(CodeOf(result),
                         absl::StrCat("[nccl] rank ", rank, " of ", size, " could not join: ",
                                      nccl.GetErrorString(result), ": ", nccl.GetLastError(comm)));
  if (comm != nullptr) nccl.CommAbort(comm);
  return failed;
}

}  // namespace ferry::kernels::cuda
