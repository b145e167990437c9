#include "kernels/collectives.h"

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"

namespace ferry::kernels {
namespace {

thread_local const CommunicatorDirectory* current_groups = nullptr;

int64_t IntAttr(const core::Node& node, const char* name) {
  return std::get<int64_t>(node.attrs.values().at(name));
}

// The tensor's bytes in host memory: the tensor's own where the backend's memory is the
// host's, else a copy in `staging`.
absl::StatusOr<char*> HostBytes(Backend& backend, const Tensor& tensor, std::string& staging) {
  if (backend.HostAddressable()) return static_cast<char*>(tensor.raw());
  staging.resize(tensor.nbytes());
  if (absl::Status copied = backend.CopyToHost(tensor, 0, tensor.nbytes(), staging.data());
      !copied.ok()) {
    return copied;
  }
  return staging.data();
}

// Where a result's host bytes go: the tensor's own where the backend's memory is the host's,
// else `staging` (which Store then copies to the device).
char* ResultBytes(Backend& backend, const Tensor& out, std::string& staging) {
  if (backend.HostAddressable()) return static_cast<char*>(out.raw());
  staging.resize(out.nbytes());
  return staging.data();
}

// Puts `bytes` at `src` into `out` (nothing to do when they are its own host bytes).
absl::Status Store(Backend& backend, const char* src, size_t bytes, const Tensor& out) {
  if (backend.HostAddressable()) {
    if (src != out.raw()) std::memmove(out.raw(), src, bytes);
    return absl::OkStatus();
  }
  return backend.CopyFromHost(src, bytes, out, 0);
}

class SingleRank : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  absl::Status AllReduce(ReduceOp, core::DType dtype, const void* in, void* out,
                         int64_t count) override {
    if (in != out) std::memcpy(out, in, static_cast<size_t>(count) * core::SizeOf(dtype));
    return absl::OkStatus();
  }
  absl::Status AllGather(const void* mine, size_t bytes, void* all) override {
    std::memmove(all, mine, bytes);
    return absl::OkStatus();
  }
  absl::Status ReduceScatter(ReduceOp, core::DType dtype, const void* in, void* data,
                             int64_t count) override {
    if (in != data) std::memcpy(data, in, static_cast<size_t>(count) * core::SizeOf(dtype));
    return absl::OkStatus();
  }
  absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) override {
    std::memmove(all, mine, block_bytes);
    return absl::OkStatus();
  }
  absl::Status Send(int dst, core::DType, const void*, int64_t,
                    std::shared_ptr<const void>) override {
    return NoOne("send to", dst);
  }
  absl::Status Recv(int src, core::DType, void*, int64_t) override {
    return NoOne("receive from", src);
  }

 private:
  static absl::Status NoOne(const char* verb, int peer) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank 0 of a group of 1 cannot ", verb, " rank ", peer,
                     ": sends and receives go between ring neighbours, and it has none"));
  }
};

ReduceOp ReduceOpOf(const std::string& op) {
  return op == "all_max" ? ReduceOp::kMax : op == "all_min" ? ReduceOp::kMin : ReduceOp::kSum;
}

// Runs the collective `node` straight between device tensors when the group's device
// collectives carry it; nullopt (nothing done) when they do not: sends, receives, and
// reductions of dtypes they lack stage through host memory.
std::optional<absl::Status> RunOnDevice(DeviceCollectives& device, int ranks,
                                        const core::Node& node, const Tensor& in,
                                        const Tensor& out) {
  if (node.op == "all_gather") return device.AllGather(in.raw(), in.nbytes(), out.raw());
  if (node.op == "all_to_all") {
    return device.AllToAll(in.raw(), in.nbytes() / static_cast<size_t>(ranks), out.raw());
  }
  if (node.op == "send" || node.op == "recv") return std::nullopt;
  const ReduceOp op = ReduceOpOf(node.op);
  if (!device.Reduces(op, in.dtype())) return std::nullopt;
  if (node.op == "sum_scatter") {
    return device.ReduceScatter(op, in.dtype(), in.raw(), out.raw(), out.size());
  }
  return device.AllReduce(op, in.dtype(), in.raw(), out.raw(), in.size());
}

}  // namespace

std::shared_ptr<Communicator> MakeSingleRankCommunicator() {
  return std::make_shared<SingleRank>();
}

CommunicatorScope::CommunicatorScope(const CommunicatorDirectory* groups)
    : previous_(current_groups) {
  current_groups = groups;
}
CommunicatorScope::~CommunicatorScope() { current_groups = previous_; }
const CommunicatorDirectory* CommunicatorScope::Current() { return current_groups; }

absl::Status RunCollective(Backend& backend, const core::Node& node,
                           absl::Span<const Tensor> inputs, const Tensor& out) {
  const int64_t handle = IntAttr(node, "group");
  const int64_t size = IntAttr(node, "size");
  if (current_groups == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("[", node.op,
                     "] needs the ranks of a group (ferry::distributed::init); "
                     "this device belongs to none"));
  }
  absl::StatusOr<std::shared_ptr<Communicator>> group = current_groups->FindGroup(handle);
  if (!group.ok()) return group.status();
  Communicator& ranks = **group;
  if (ranks.size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] was built for a group of ",
                                                   size, " ranks; group ", handle,
                                                   " of this session has ", ranks.size()));
  }
  if (DeviceCollectives* device = ranks.device();
      device != nullptr && !backend.HostAddressable() && !inputs.empty()) {
    if (std::optional<absl::Status> ran =
            RunOnDevice(*device, ranks.size(), node, inputs[0], out)) {
      return *ran;
    }
  }
  std::string in_staging;
  std::string out_staging;
  if (node.op == "recv") {
    char* data = ResultBytes(backend, out, out_staging);
    if (absl::Status s =
            ranks.Recv(static_cast<int>(IntAttr(node, "src")), out.dtype(), data, out.size());
        !s.ok()) {
      return s;
    }
    return Store(backend, data, out.nbytes(), out);
  }
  const Tensor& in = inputs[0];
  if (node.op == "send") {
    // Queued, not copied: holding the storage keeps it from being freed or written in place
    // (the executor reuses only buffers nothing else holds).
    const int dst = static_cast<int>(IntAttr(node, "dst"));
    if (backend.HostAddressable()) {
      return ranks.Send(dst, in.dtype(), in.raw(), in.size(), in.storage);
    }
    auto staged = std::make_shared<std::string>();
    absl::StatusOr<char*> mine = HostBytes(backend, in, *staged);
    if (!mine.ok()) return mine.status();
    return ranks.Send(dst, in.dtype(), *mine, in.size(), std::move(staged));
  }
  if (node.op == "all_to_all") {
    absl::StatusOr<char*> mine = HostBytes(backend, in, in_staging);
    if (!mine.ok()) return mine.status();
    char* all = ResultBytes(backend, out, out_staging);
    if (absl::Status s = ranks.AllToAll(*mine, in.nbytes() / ranks.size(), all); !s.ok()) {
      return s;
    }
    return Store(backend, all, out.nbytes(), out);
  }
  if (node.op == "all_gather") {
    absl::StatusOr<char*> mine = HostBytes(backend, in, in_staging);
    if (!mine.ok()) return mine.status();
    char* all = ResultBytes(backend, out, out_staging);
    if (absl::Status s = ranks.AllGather(*mine, in.nbytes(), all); !s.ok()) return s;
    return Store(backend, all, out.nbytes(), out);
  }
  const ReduceOp op = ReduceOpOf(node.op);
  // The reduction lands in the output's own host bytes where it can (read from the input,
  // which stays as it is), else works in place on staging.
  if (backend.HostAddressable() && node.op != "sum_scatter") {
    return ranks.AllReduce(op, in.dtype(), in.raw(), out.raw(), in.size());
  }
  // sum_scatter keeps only a part: the chunks are reduced into staging (read from the
  // input where the host can, else from a copy of it there).
  char* data = nullptr;
  const void* source = nullptr;
  if (backend.HostAddressable()) {
    in_staging.resize(in.nbytes());
    data = in_staging.data();
    source = in.raw();
  } else {
    absl::StatusOr<char*> staged = HostBytes(backend, in, in_staging);
    if (!staged.ok()) return staged.status();
    data = *staged;
  }
  if (node.op == "sum_scatter") {
    if (absl::Status s =
            ranks.ReduceScatter(op, in.dtype(), source != nullptr ? source : data, data, in.size());
        !s.ok()) {
      return s;
    }
    return Store(backend, data + static_cast<size_t>(ranks.rank()) * out.nbytes(), out.nbytes(),
                 out);
  }
  if (absl::Status s = ranks.AllReduce(op, in.dtype(), data, in.size()); !s.ok()) return s;
  return Store(backend, data, out.nbytes(), out);
}

}  // namespace ferry::kernels
