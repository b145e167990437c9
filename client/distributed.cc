// Groups of sessions and their collectives (client/distributed.h).

#include "client/distributed.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <future>
#include <map>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/device_impl.h"
#include "client/error.h"
#include "client/ops.h"

namespace ferry {
namespace detail {

int JoinCancellation::Add(std::function<void()> stop) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return -1;
  stops_.emplace(next_id_, std::move(stop));
  return next_id_++;
}

void JoinCancellation::Remove(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  stops_.erase(id);
}

void JoinCancellation::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  for (auto& [id, stop] : stops_) stop();
}

std::string DeviceImpl::JoinGroup(const GroupJoin&) {
  throw Error(ErrorCode::kFailedPrecondition,
              absl::StrCat("[distributed::init] ", description(), " joins no groups"));
}

}  // namespace detail

namespace distributed {

struct Group::State {
  std::vector<Device> devices;
  uint64_t handle = 0;
  std::string backend;
};

namespace {

std::atomic<uint64_t> next_handle{1};

Array Collective(const std::string& op, const Array& x, const Group& group) {
  group.rank(x.device());  // throws when x lives elsewhere
  return detail::MakeOp(op, {x},
                        {{"group", static_cast<int64_t>(group.state().handle)},
                         {"size", static_cast<int64_t>(group.size())}});
}

// Throws INVALID_ARGUMENT unless `peer` is a ring neighbour of `rank`: the daemons link only
// those (server/ring_communicator.h).
void CheckNeighbour(const char* op, int rank, int peer, const Group& group) {
  const int size = group.size();
  if (size > 1 && peer != rank && (peer == (rank + 1) % size || peer == (rank + size - 1) % size)) {
    return;
  }
  throw Error(ErrorCode::kInvalidArgument,
              absl::StrCat("[distributed::", op, "] rank ", rank, " of a group of ", size,
                           " cannot reach rank ", peer,
                           ": sends and receives go between ring neighbours (ranks ",
                           (rank + size - 1) % size, " and ", (rank + 1) % size, ")"));
}

}  // namespace

int Group::size() const { return static_cast<int>(state_->devices.size()); }

const Device& Group::device(int rank) const {
  if (rank < 0 || rank >= size()) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[distributed] rank ", rank, " is not in a group of ", size()));
  }
  return state_->devices[rank];
}

const std::vector<Device>& Group::devices() const { return state_->devices; }

const std::string& Group::backend() const { return state_->backend; }

int Group::rank(const Device& device) const {
  for (int r = 0; r < size(); ++r) {
    if (state_->devices[r] == device) return r;
  }
  throw Error(ErrorCode::kInvalidArgument,
              absl::StrCat("[distributed] ", device.description(), " is not a rank of this group"));
}

Group init(const std::vector<Device>& devices, const GroupOptions& options) {
  const int size = static_cast<int>(devices.size());
  if (size == 0) {
    throw Error(ErrorCode::kInvalidArgument, "[distributed::init] needs at least one device");
  }
  if (!options.peer_addresses.empty() && options.peer_addresses.size() != devices.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[distributed::init] peer_addresses has ",
                             options.peer_addresses.size(), " entries for ", size, " devices"));
  }
  std::vector<std::string> peers = options.peer_addresses;
  for (int r = 0; r < size; ++r) {
    for (int other = 0; other < r; ++other) {
      if (devices[other] == devices[r]) {
        throw Error(ErrorCode::kInvalidArgument,
                    absl::StrCat("[distributed::init] devices ", other, " and ", r,
                                 " are the same session; connect once per rank"));
      }
    }
    const std::string address = devices[r].impl().PeerAddress();
    if (address.empty() && size > 1) {
      throw Error(ErrorCode::kFailedPrecondition,
                  absl::StrCat("[distributed::init] device ", r, " (", devices[r].description(),
                               ") cannot join a group: only a daemon offering \"collectives\" "
                               "can (a bulk channel: not --bulk_port=-1; with TLS, --peer_ca)"));
    }
    if (options.peer_addresses.empty()) peers.push_back(address);
  }
  auto state = std::make_shared<Group::State>();
  state->devices = devices;
  state->handle = next_handle.fetch_add(1);
  detail::GroupJoin join;
  join.handle = state->handle;
  join.size = size;
  join.peer_addresses = peers;
  join.key = detail::RandomKey();
  join.timeout = options.timeout;
  join.device_collectives = std::all_of(devices.begin(), devices.end(), [](const Device& device) {
    return device.impl().OffersDeviceCollectives();
  });
  // Every rank's JoinGroup at once: each returns only once its neighbours are linked. A
  // rank refused for good (not merely waiting for a peer) stops the others at once.
  std::vector<std::future<std::string>> joined;
  for (int r = 0; r < size; ++r) {
    detail::GroupJoin mine = join;
    mine.rank = r;
    joined.push_back(std::async(std::launch::async, [device = devices[r], mine] {
      try {
        return device.impl().JoinGroup(mine);
      } catch (const Error& error) {
        if (error.code() != ErrorCode::kDeadlineExceeded && error.code() != ErrorCode::kCancelled) {
          mine.cancellation->Cancel();
        }
        throw;
      }
    }));
  }
  // The most telling failure: a rank's own refusal before its neighbours' timeouts and
  // cancellations.
  std::exception_ptr failure;
  bool failure_is_timeout = false;
  for (std::future<std::string>& rank : joined) {
    try {
      // Every rank's answer is the same: the daemons agreed on it.
      state->backend = rank.get();
    } catch (const Error& error) {
      const bool timeout =
          error.code() == ErrorCode::kDeadlineExceeded || error.code() == ErrorCode::kCancelled;
      if (failure == nullptr || (failure_is_timeout && !timeout)) {
        failure = std::current_exception();
        failure_is_timeout = timeout;
      }
    }
  }
  if (failure != nullptr) std::rethrow_exception(failure);
  return Group(std::move(state));
}

Array all_sum(const Array& x, const Group& group) { return Collective("all_sum", x, group); }
Array all_max(const Array& x, const Group& group) { return Collective("all_max", x, group); }
Array all_min(const Array& x, const Group& group) { return Collective("all_min", x, group); }
Array all_gather(const Array& x, const Group& group) { return Collective("all_gather", x, group); }
Array all_to_all(const Array& x, const Group& group) { return Collective("all_to_all", x, group); }
Array sum_scatter(const Array& x, const Group& group) {
  return Collective("sum_scatter", x, group);
}

Array send(const Array& x, int dst, const Group& group) {
  CheckNeighbour("send", group.rank(x.device()), dst, group);
  return detail::MakeOp("send", {x},
                        {{"dst", static_cast<int64_t>(dst)},
                         {"group", static_cast<int64_t>(group.state().handle)},
                         {"size", static_cast<int64_t>(group.size())}});
}

Array recv(const Shape& shape, Dtype dtype, int src, const Group& group, const Device& device) {
  CheckNeighbour("recv", group.rank(device), src, group);
  return detail::MakeLeaf("recv",
                          {{"dtype", dtype},
                           {"group", static_cast<int64_t>(group.state().handle)},
                           {"shape", shape},
                           {"size", static_cast<int64_t>(group.size())},
                           {"src", static_cast<int64_t>(src)}},
                          device);
}

Array recv_like(const Array& x, int src, const Group& group) {
  return recv(x.shape(), x.dtype(), src, group, x.device());
}

std::vector<Array> all_sum(const std::vector<Array>& per_rank, const Group& group) {
  if (static_cast<int>(per_rank.size()) != group.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[distributed::all_sum] got ", per_rank.size(), " arrays for ",
                             group.size(), " ranks"));
  }
  std::vector<Array> reduced;
  for (int r = 0; r < group.size(); ++r) {
    if (per_rank[r].device() != group.device(r)) {
      throw Error(ErrorCode::kInvalidArgument, absl::StrCat("[distributed::all_sum] array ", r,
                                                            " is not on rank ", r, "'s device"));
    }
    reduced.push_back(all_sum(per_rank[r], group));
  }
  return reduced;
}

std::vector<Array> average_gradients(const std::vector<Array>& gradients, const Group& group,
                                     size_t bucket_bytes) {
  const double scale = 1.0 / group.size();
  std::vector<std::optional<Array>> averaged(gradients.size());
  // The open bucket of each dtype: the indices of the gradients in it, and its bytes.
  std::map<Dtype, std::pair<std::vector<size_t>, size_t>> open;
  auto flush = [&](Dtype dtype) {
    auto& [members, bytes] = open[dtype];
    if (members.size() == 1) {
      averaged[members[0]] = all_sum(gradients[members[0]], group) * scale;
    } else if (members.size() > 1) {
      std::vector<Array> flat;
      for (size_t i : members) flat.push_back(reshape(gradients[i], {gradients[i].size()}));
      Array summed = all_sum(concatenate(flat), group) * scale;
      int64_t at = 0;
      for (size_t i : members) {
        const int64_t n = gradients[i].size();
        averaged[i] = reshape(slice(summed, {at}, {at + n}), gradients[i].shape());
        at += n;
      }
    }
    members.clear();
    bytes = 0;
  };
  for (size_t i = 0; i < gradients.size(); ++i) {
    const Array& g = gradients[i];
    group.rank(g.device());  // throws when g lives elsewhere
    if (!core::IsFloating(g.dtype())) {
      throw Error(ErrorCode::kInvalidArgument,
                  absl::StrCat("[distributed::average_gradients] gradient ", i, " is ",
                               core::DTypeName(g.dtype()), "; gradients are floating"));
    }
    const size_t bytes = static_cast<size_t>(g.nbytes());
    auto& bucket = open[g.dtype()];
    if (!bucket.first.empty() && bucket.second + bytes > bucket_bytes) flush(g.dtype());
    bucket.first.push_back(i);
    bucket.second += bytes;
  }
  for (auto& [dtype, bucket] : open) flush(dtype);
  std::vector<Array> result;
  for (std::optional<Array>& a : averaged) result.push_back(*std::move(a));
  return result;
}

std::vector<std::pair<std::string, Array>> average_gradients(
    const std::vector<std::pair<std::string, Array>>& gradients, const Group& group,
    size_t bucket_bytes) {
  std::vector<Array> arrays;
  for (const auto& [name, g] : gradients) arrays.push_back(g);
  std::vector<Array> averaged = average_gradients(arrays, group, bucket_bytes);
  std::vector<std::pair<std::string, Array>> named;
  for (size_t i = 0; i < gradients.size(); ++i) named.emplace_back(gradients[i].first, averaged[i]);
  return named;
}

}  // namespace distributed
}  // namespace ferry
