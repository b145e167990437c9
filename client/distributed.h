#ifndef FERRY_CLIENT_DISTRIBUTED_H_
#define FERRY_CLIENT_DISTRIBUTED_H_

// Work that outgrows one GPU: MLX's mx.distributed, driven from one client. A group joins
// sessions on several daemons (one rank each); collectives built on a rank's arrays run
// daemon to daemon when evaluated, the bytes never passing through the client:
//
//   auto group = ferry::distributed::init({ferry::connect("node0:7070"),
//                                          ferry::connect("node1:7070")});
//   std::vector<ferry::Array> grads = ...;            // one per rank, on group.device(r)
//   for (auto& g : grads) g = ferry::distributed::all_sum(g, group) / group.size();
//   ferry::eval(grads);                                // every rank's graph at once
//
// Every rank must evaluate the same collectives in the same order, and each send with its
// recv, as in MLX: an eval that leaves a rank out waits for it until the group's timeout
// (DEADLINE_EXCEEDED), and ranks that disagree fail with INVALID_ARGUMENT naming both. A
// failed collective leaves the group failed; init a new one. Besides MLX's collectives and
// send/recv: all_to_all (MoE dispatch) and average_gradients (bucketed all_sums).

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/device.h"

namespace ferry::distributed {

struct GroupOptions {
  // How long joining, and each collective, waits for a peer before failing.
  std::chrono::milliseconds timeout{60000};
  // "host:port" of each rank's bulk channel as the daemons reach one another, by rank;
  // empty: the host of each device's address (or its ConnectOptions::bulk_address) and the
  // port its daemon names. Set it when the client reaches the daemons through tunnels or
  // port-forwards that the daemons cannot use among themselves.
  std::vector<std::string> peer_addresses;
};

class Group {
 public:
  int size() const;
  // The device of rank `rank`; throws INVALID_ARGUMENT out of range.
  const Device& device(int rank) const;
  const std::vector<Device>& devices() const;
  // The rank of `device`; throws INVALID_ARGUMENT when it is not in the group.
  int rank(const Device& device) const;
  // How its collectives move, as PyTorch's get_backend tells: "nccl" between the GPUs'
  // memories, "ring" between the daemons through host memory (MLX's ring backend),
  // "singleton" for the in-process device's group of one.
  const std::string& backend() const;

  struct State;
  explicit Group(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  const State& state() const { return *state_; }

 private:
  std::shared_ptr<const State> state_;
};

// Joins one session per device (rank r: devices[r]; several may be sessions on one daemon)
// into a group, linking the daemons' ring. A session may be a rank of several groups: init
// over some of a group's devices makes a sub-group (MLX's split). The local device is a
// group of its own only (init({local()}): each collective is its input, as MLX's singleton
// group), so code written for many ranks runs on it unchanged. Throws ferry::Error:
// FAILED_PRECONDITION for a device that cannot join (the local device among others; a daemon
// whose bulk channel is off or in TLS without --peer_ca), DEADLINE_EXCEEDED when the daemons
// cannot reach one another.
Group init(const std::vector<Device>& devices, const GroupOptions& options = {});

// The collectives; `x` lives on one of the group's devices, whose rank it stands for.
// Elementwise over every rank's x (same shape and dtype on every rank; no bool):
Array all_sum(const Array& x, const Group& group);
Array all_max(const Array& x, const Group& group);
Array all_min(const Array& x, const Group& group);
// The ranks' arrays one after another along axis 0 (a scalar gives a vector of size()).
Array all_gather(const Array& x, const Group& group);
// Axis 0 (divisible by size()) cut into size() parts, part j sent to rank j; part i of the
// result is what rank i sent this rank (PyTorch's all_to_all_single; MoE expert dispatch).
// Each link relays (size() - 1) / 2 of the array: meant for the few ranks of a ring.
Array all_to_all(const Array& x, const Group& group);
// This rank's share of the sum: axis 0 (divisible by size()) cut into size() parts, part
// rank of the sum over ranks.
Array sum_scatter(const Array& x, const Group& group);

// Point to point, MLX's send/recv: between ring neighbours only (rank r's are r - 1 and
// r + 1, modulo size(): MLX's ring backend has the same rule), both evaluated in one eval
// (a receive with no send waits out the group's timeout). Each link keeps its order: a
// rank's sends to one neighbour are received there in the order they were sent. A send
// never waits for its receiver, so neighbours may send to each other in one eval.
// x (on a rank's device) to rank dst; gives x, to evaluate with dst's recv.
Array send(const Array& x, int dst, const Group& group);
// What rank src sends to the rank of `device` (its send: this shape's element count, this
// dtype).
Array recv(const Shape& shape, Dtype dtype, int src, const Group& group, const Device& device);
// recv(x.shape(), x.dtype(), src, group, x.device()).
Array recv_like(const Array& x, int src, const Group& group);

// all_sum(per_rank[r], group) for every rank r (per_rank[r] on group.device(r)); eval them
// together.
std::vector<Array> all_sum(const std::vector<Array>& per_rank, const Group& group);

// The mean over ranks of each of one rank's gradients (all on that rank's device; floating
// dtypes), as MLX's nn.average_gradients: arrays of one dtype are packed, in order, into
// buckets of up to `bucket_bytes`, one all_sum each (PyTorch DDP's buckets), so a model of
// many small parameters pays a few collectives' latency instead of one per array. Every
// rank must pass gradients of the same shapes and dtypes in the same order; 0 bytes: one
// all_sum per array.
std::vector<Array> average_gradients(const std::vector<Array>& gradients, const Group& group,
                                     size_t bucket_bytes = size_t{32} << 20);
// The same for gradients by name, as nn::value_and_grad gives them (names kept).
std::vector<std::pair<std::string, Array>> average_gradients(
    const std::vector<std::pair<std::string, Array>>& gradients, const Group& group,
    size_t bucket_bytes = size_t{32} << 20);

}  // namespace ferry::distributed

#endif  // FERRY_CLIENT_DISTRIBUTED_H_
