#ifndef FERRY_SERVER_RING_COMMUNICATOR_H_
#define FERRY_SERVER_RING_COMMUNICATOR_H_

// A group's rank over TCP, as Gloo's and MLX's ring backends: each rank sends to the next
// rank and receives from the previous one, so a reduction over n ranks moves 2(n-1)/n of
// the data through every link, whatever n is (reduce-scatter, then all-gather). Sends and
// receives go between ring neighbours only (MLX's ring has the same rule), over either link
// in either direction.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/stream_socket.h"
#include "kernels/collectives.h"
#include "server/collective_stats.h"

namespace ferry::server {

// One connection of the ring and how to end it (its socket belongs to whoever opened or
// accepted it).
struct PeerLink {
  std::unique_ptr<core::ByteStream> stream;
  std::function<void()> close;
};

class RingCommunicator : public kernels::Communicator {
 public:
  // What a call's header on the wire says it is.
  enum CallKind : uint32_t {
    kAllReduce = 1,
    kAllGather = 2,
    kReduceScatter = 3,
    kSend = 4,
    kAllToAll = 5,
    kSmallAllReduce = 6,  // an all-reduce whose arrays go whole with the header
  };

  // `to_next` reaches rank (rank + 1) % size, `from_previous` comes from rank
  // (rank + size - 1) % size (both empty when size is 1). A peer that sends or takes
  // nothing for `timeout` fails the call with DEADLINE_EXCEEDED. Calls, their time and their
  // bytes are added to `stats` (when not null).
  RingCommunicator(int rank, int size, PeerLink to_next, PeerLink from_previous,
                   absl::Duration timeout, std::shared_ptr<CollectiveStats> stats = nullptr);
  ~RingCommunicator() override;  // closes both links

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  using kernels::Communicator::AllReduce;
  absl::Status AllReduce(kernels::ReduceOp op, core::DType dtype, const void* in, void* out,
                         int64_t count) override;
  absl::Status AllGather(const void* mine, size_t bytes, void* all) override;
  using kernels::Communicator::ReduceScatter;
  absl::Status ReduceScatter(kernels::ReduceOp op, core::DType dtype, const void* in, void* data,
                             int64_t count) override;
  // Blocks relayed around the ring: at step k each rank passes on the n - k blocks that
  // rank - k + 1 sent, keeping its own. Each link carries (n - 1) / 2 times the array,
  // against (n - 1) / n for direct links: fine for the few ranks of a ring.
  absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) override;
  absl::Status Send(int dst, core::DType dtype, const void* data, int64_t count,
                    std::shared_ptr<const void> keep) override;
  absl::Status Recv(int src, core::DType dtype, void* data, int64_t count) override;
  void Abort(const std::string& why) override;
  bool Busy() override;
  kernels::DeviceCollectives* device() override;
  // Gives the group the collectives its ranks' backends joined (NCCL between GPUs), before
  // any call: device() then runs them, each agreed between the ranks first, as the calls
  // above are (so ranks that disagree fail with the same message, and a silent peer with
  // DEADLINE_EXCEEDED, before any device work is queued).
  void SetDevice(std::unique_ptr<kernels::DeviceCollectives> device);

 private:
  class AgreedDevice;
  enum Link { kNext = 0, kPrevious = 1 };
  // What a call is, which the ranks compare before any data moves: a collective's header
  // goes to the next rank, whose own must match it; a send's goes ahead of its bytes.
  struct Call {
    uint64_t sequence = 0;  // the headers sent before it on its link, in its direction
    uint32_t kind = 0;      // a CallKind
    uint32_t op = 0;
    uint32_t dtype = 0;
    uint32_t peer = 0;  // a send's destination rank
    uint64_t elements = 0;
  };
  // Sends queued on one link, written in order by a thread of their own, so that a send
  // never waits for its receiver.
  struct Outbox {
    std::mutex mu;
    std::condition_variable changed;
    struct Message {
      Call header;
      const char* data;
      size_t bytes;
      std::shared_ptr<const void> keep;  // data's owner
    };
    std::deque<Message> messages;
    bool writing = false;
    bool stopping = false;
    absl::Status failed;
    std::thread writer;
  };
  PeerLink& link(Link which) { return which == kNext ? next_ : previous_; }
  // The writer thread of `which`'s outbox.
  void WriteQueued(Link which);
  // Waits until the sends queued on `which` are written: OK, or why they were not.
  absl::Status Drain(Link which);
  // The link a send to (or receive from) `peer` uses, or INVALID_ARGUMENT when it is no
  // neighbour. With two ranks both links reach the other: a send takes the one its rank
  // dialled, so its peer's receive takes the one it accepted, the same connection.
  absl::StatusOr<Link> PeerLinkTo(int peer, bool sending) const;
  // Sends this call's description to the next rank, and `payload` (at most
  // kInlineSendBytes with it) in the same write, and checks the previous rank's description.
  absl::Status Agree(Call call, const char* payload, size_t payload_bytes);
  // With mu_ held, before a call's data moves: the group's earlier failure, or the ranks'
  // agreement on `call` (numbered here), `payload` sent with it; nothing to agree on for one
  // rank.
  absl::Status Begin(Call call, const char* payload = nullptr, size_t payload_bytes = 0);
  // An all-reduce of a few KiB: latency, not bandwidth. Every rank's array goes around the
  // ring whole (the first with the call's header: n - 1 exchanges, not 2n - 1), and each
  // rank reduces them in rank order, so every rank gets the same bits.
  absl::Status SmallAllReduce(kernels::ReduceOp op, core::DType dtype, char* data, int64_t count);
  // Sends [send, send + send_bytes) to the next rank while receiving `receive_bytes` from
  // the previous one; each piece received is handed to `arrived` (offset, bytes) at once.
  absl::Status Exchange(const char* send, size_t send_bytes, char* receive, size_t receive_bytes,
                        const std::function<absl::Status(size_t, size_t)>& arrived);
  // The ring's reduce-scatter over chunks [bounds(c), bounds(c + 1)) of elements of
  // `element_bytes`: chunk rank() of `data` ends reduced. The rank's own values come from
  // `in` (`data` itself, or an array as large that is not written): each chunk is read there
  // once, sent or reduced with what arrives into `data`.
  absl::Status RingReduceScatter(kernels::ReduceOp op, core::DType dtype, const char* in,
                                 char* data, size_t element_bytes,
                                 const std::function<int64_t(int)>& bounds);
  // The ring's all-gather: every rank's chunk rank() reaches every rank.
  absl::Status RingAllGather(char* data, size_t element_bytes,
                             const std::function<int64_t(int)>& bounds);
  // Runs `run` (a device collective) as the call `call`, counted as `kind`, once the ranks
  // agree on it; its failure breaks the group.
  absl::Status OnDevice(CollectiveStats::Kind kind, Call call,
                        const std::function<absl::Status()>& run);
  // Fails this call and every later one: the links may hold half a message. Both links are
  // shut, so the neighbours fail at once too instead of waiting out their timeout.
  absl::Status Break(absl::Status cause);
  // Shuts both links (any thread): their blocked reads and writes fail at once.
  void ShutLinks();

  const int rank_;
  const int size_;
  const std::shared_ptr<CollectiveStats> stats_;
  PeerLink next_;
  PeerLink previous_;
  std::mutex mu_;                  // one call at a time
  uint64_t sent_[2] = {0, 0};      // headers written on each link (by Link)
  uint64_t received_[2] = {0, 0};  // headers read from each link
  absl::Status broken_;
  std::atomic<bool> aborted_{false};
  std::mutex abort_mu_;
  std::string abort_reason_;  // guarded by abort_mu_; set before aborted_
  Outbox outboxes_[2];        // by Link
  std::unique_ptr<AgreedDevice> device_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_RING_COMMUNICATOR_H_
