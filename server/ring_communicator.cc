#include "server/ring_communicator.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/cpu/collective_reduce.h"

namespace ferry::server {
namespace {

// Pieces received are combined as they come, while the rest is still on the wire.
constexpr size_t kPieceBytes = size_t{1} << 20;
// A send this small fits in any socket's buffers: it goes before the receive, on the same
// thread, instead of on a thread of its own (a call's header, a scalar's chunks).
constexpr size_t kInlineSendBytes = 4096;

void SetTimeouts(const PeerLink& link, absl::Duration timeout) {
  if (link.stream == nullptr) return;
  const timeval limit = absl::ToTimeval(timeout);
  setsockopt(link.stream->fd(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(link.stream->fd(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
}

const char* KindName(uint32_t kind) {
  switch (kind) {
    case RingCommunicator::kAllReduce:
    case RingCommunicator::kSmallAllReduce:
      return "an all-reduce";
    case RingCommunicator::kAllGather:
      return "an all-gather";
    case RingCommunicator::kReduceScatter:
      return "a reduce-scatter";
    case RingCommunicator::kAllToAll:
      return "an all-to-all";
    default:
      return "a send";
  }
}

std::string Elements(uint64_t elements, uint32_t kind, uint32_t dtype) {
  return absl::StrCat(
      elements, " ",
      kind == RingCommunicator::kAllGather || kind == RingCommunicator::kAllToAll
          ? "bytes"
          : absl::StrCat(core::DTypeName(static_cast<core::DType>(dtype)), " elements"));
}

// A call's header as the message that explains a mismatch names it.
template <typename Call>
std::string Describe(const Call& call) {
  return absl::StrCat(
      KindName(call.kind), " of ", Elements(call.elements, call.kind, call.dtype),
      call.kind == RingCommunicator::kSend ? absl::StrCat(" to rank ", call.peer) : "",
      " (its call number ", call.sequence + 1, " on that link)");
}

// Counts one call of `kind` and its time in `stats` (when there are any).
class CountedCall {
 public:
  CountedCall(CollectiveStats* stats, CollectiveStats::Kind kind)
      : stats_(stats), kind_(kind), start_(absl::Now()) {}
  ~CountedCall() {
    if (stats_ == nullptr) return;
    ++stats_->calls[kind_];
    stats_->nanoseconds[kind_] += absl::ToInt64Nanoseconds(absl::Now() - start_);
  }

 private:
  CollectiveStats* const stats_;
  const CollectiveStats::Kind kind_;
  const absl::Time start_;
};

void AddBytes(CollectiveStats* stats, size_t sent, size_t received) {
  if (stats == nullptr) return;
  stats->bytes_sent += static_cast<int64_t>(sent);
  stats->bytes_received += static_cast<int64_t>(received);
}

constexpr char kMatchOrder[] =
    "every rank must evaluate the same collectives in the same order, and each send with "
    "its receive";

}  // namespace

// The backend's device collectives, each call agreed between the ranks first.
class RingCommunicator::AgreedDevice : public kernels::DeviceCollectives {
 public:
  AgreedDevice(RingCommunicator& ring, std::unique_ptr<kernels::DeviceCollectives> inner)
      : ring_(ring), inner_(std::move(inner)) {}

  std::string name() const override { return inner_->name(); }
  bool Reduces(kernels::ReduceOp op, core::DType dtype) const override {
    return inner_->Reduces(op, dtype);
  }
  absl::Status AllReduce(kernels::ReduceOp op, core::DType dtype, const void* in, void* out,
                         int64_t count) override {
    return ring_.OnDevice(CollectiveStats::kAllReduce,
                          {0, kAllReduce, static_cast<uint32_t>(op), static_cast<uint32_t>(dtype),
                           0, static_cast<uint64_t>(count)},
                          [&] { return inner_->AllReduce(op, dtype, in, out, count); });
  }
  absl::Status AllGather(const void* mine, size_t bytes, void* all) override {
    return ring_.OnDevice(CollectiveStats::kAllGather, {0, kAllGather, 0, 0, 0, bytes},
                          [&] { return inner_->AllGather(mine, bytes, all); });
  }
  absl::Status ReduceScatter(kernels::ReduceOp op, core::DType dtype, const void* in, void* out,
                             int64_t chunk_count) override {
    // Described by the whole array, as the host call is.
    return ring_.OnDevice(
        CollectiveStats::kReduceScatter,
        {0, kReduceScatter, static_cast<uint32_t>(op), static_cast<uint32_t>(dtype), 0,
         static_cast<uint64_t>(chunk_count) * ring_.size_},
        [&] { return inner_->ReduceScatter(op, dtype, in, out, chunk_count); });
  }
  absl::Status AllToAll(const void* mine, size_t block_bytes, void* all) override {
    return ring_.OnDevice(CollectiveStats::kAllToAll,
                          {0, kAllToAll, 0, 0, 0, block_bytes * ring_.size_},
                          [&] { return inner_->AllToAll(mine, block_bytes, all); });
  }
  void Abort() override { inner_->Abort(); }

 private:
  RingCommunicator& ring_;
  const std::unique_ptr<kernels::DeviceCollectives> inner_;
};

RingCommunicator::RingCommunicator(int rank, int size, PeerLink to_next, PeerLink from_previous,
                                   absl::Duration timeout, std::shared_ptr<CollectiveStats> stats)
    : rank_(rank),
      size_(size),
      stats_(std::move(stats)),
      next_(std::move(to_next)),
      previous_(std::move(from_previous)) {
  SetTimeouts(next_, timeout);
  SetTimeouts(previous_, timeout);
}

RingCommunicator::~RingCommunicator() {
  // A writer stuck on a peer that stopped reading is freed by shutting the link.
  for (PeerLink* link : {&next_, &previous_}) {
    if (link->stream != nullptr) shutdown(link->stream->fd(), SHUT_RDWR);
  }
  for (Outbox& box : outboxes_) {
    {
      std::lock_guard<std::mutex> lock(box.mu);
      box.stopping = true;
    }
    box.changed.notify_all();
    if (box.writer.joinable()) box.writer.join();
  }
  for (PeerLink* link : {&next_, &previous_}) {
    link->stream.reset();
    if (link->close) link->close();
  }
}

kernels::DeviceCollectives* RingCommunicator::device() { return device_.get(); }

void RingCommunicator::SetDevice(std::unique_ptr<kernels::DeviceCollectives> device) {
  device_ = std::make_unique<AgreedDevice>(*this, std::move(device));
}

absl::Status RingCommunicator::OnDevice(CollectiveStats::Kind kind, Call call,
                                        const std::function<absl::Status()>& run) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), kind);
  if (stats_ != nullptr) ++stats_->device_calls;
  if (absl::Status agreed = Begin(call); !agreed.ok()) return agreed;  // Begin broke the group
  absl::Status s = run();
  return s.ok() ? s : Break(s);
}

void RingCommunicator::Abort(const std::string& why) {
  // Not under mu_, which a call blocked on a link holds: shutdown(2) wakes that call, whose
  // failure then Breaks the group.
  {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (abort_reason_.empty()) abort_reason_ = why;
  }
  aborted_.store(true);
  ShutLinks();
  if (device_ != nullptr) device_->Abort();
}

void RingCommunicator::ShutLinks() {
  for (PeerLink* link : {&next_, &previous_}) {
    if (link->stream != nullptr) shutdown(link->stream->fd(), SHUT_RDWR);
  }
}

bool RingCommunicator::Busy() {
  if (!mu_.try_lock()) return true;  // every call holds mu_ throughout
  mu_.unlock();
  return false;
}

absl::Status RingCommunicator::Break(absl::Status cause) {
  if (aborted_.load()) {
    std::lock_guard<std::mutex> lock(abort_mu_);
    cause = absl::CancelledError(absl::StrCat("rank ", rank_, " left the group: ", abort_reason_,
                                              " (", cause.message(), ")"));
  } else if (broken_.ok() && stats_ != nullptr) {
    ++stats_->groups_failed;
  }
  broken_ = cause;
  ShutLinks();
  // A device collective may have left its peers waiting in the middle of it.
  if (device_ != nullptr) device_->Abort();
  return cause;
}

void RingCommunicator::WriteQueued(Link which) {
  Outbox& box = outboxes_[which];
  const int peer = which == kNext ? (rank_ + 1) % size_ : (rank_ + size_ - 1) % size_;
  std::unique_lock<std::mutex> lock(box.mu);
  while (true) {
    box.changed.wait(lock, [&] { return box.stopping || !box.messages.empty(); });
    if (box.stopping) return;
    Outbox::Message message = std::move(box.messages.front());
    box.messages.pop_front();
    box.writing = true;
    lock.unlock();
    core::ByteStream& stream = *link(which).stream;
    absl::Status sent = stream.Send(&message.header, sizeof(message.header));
    if (sent.ok() && message.bytes > 0) sent = stream.Send(message.data, message.bytes);
    if (sent.ok()) AddBytes(stats_.get(), sizeof(message.header) + message.bytes, 0);
    message.keep.reset();
    lock.lock();
    box.writing = false;
    if (!sent.ok() && box.failed.ok()) {
      box.failed = absl::Status(sent.code(), absl::StrCat("rank ", rank_, " sending to rank ", peer,
                                                          ": ", sent.message()));
      box.messages.clear();
      // The receiver waits for bytes that will not come: fail it, and this rank's calls, now.
      for (PeerLink* each : {&next_, &previous_}) shutdown(each->stream->fd(), SHUT_RDWR);
    }
    box.changed.notify_all();
  }
}

absl::Status RingCommunicator::Drain(Link which) {
  Outbox& box = outboxes_[which];
  std::unique_lock<std::mutex> lock(box.mu);
  box.changed.wait(lock, [&] { return box.messages.empty() && !box.writing; });
  return box.failed;
}

absl::StatusOr<RingCommunicator::Link> RingCommunicator::PeerLinkTo(int peer, bool sending) const {
  const int next = (rank_ + 1) % size_;
  const int previous = (rank_ + size_ - 1) % size_;
  if (size_ > 1 && peer != rank_) {
    if (sending) {
      if (peer == next) return kNext;
      if (peer == previous) return kPrevious;
    } else {
      if (peer == previous) return kPrevious;
      if (peer == next) return kNext;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "rank ", rank_, " of a group of ", size_, " cannot ", sending ? "send to" : "receive from",
      " rank ", peer, ": sends and receives go between ring neighbours (rank ", rank_,
      "'s are ranks ", previous, " and ", next, ")"));
}

absl::Status RingCommunicator::Exchange(
    const char* send, size_t send_bytes, char* receive, size_t receive_bytes,
    const std::function<absl::Status(size_t, size_t)>& arrived) {
  absl::Status sent;
  std::thread sender;
  if (send_bytes == 0) {
    // Nothing to send: only to receive.
  } else if (send_bytes <= kInlineSendBytes) {
    sent = next_.stream->Send(send, send_bytes);
  } else {
    sender = std::thread([&] { sent = next_.stream->Send(send, send_bytes); });
  }
  absl::Status received;
  for (size_t at = 0; at < receive_bytes && received.ok(); at += kPieceBytes) {
    const size_t piece = std::min(kPieceBytes, receive_bytes - at);
    received = previous_.stream->Receive(receive + at, piece);
    if (received.ok() && arrived) received = arrived(at, piece);
  }
  // A sender stuck on a peer that stopped reading is freed by shutting the link.
  if (!received.ok()) shutdown(next_.stream->fd(), SHUT_RDWR);
  if (sender.joinable()) sender.join();
  if (!received.ok()) {
    return absl::Status(received.code(),
                        absl::StrCat("rank ", rank_, " receiving from rank ",
                                     (rank_ + size_ - 1) % size_, ": ", received.message()));
  }
  if (!sent.ok()) {
    return absl::Status(sent.code(), absl::StrCat("rank ", rank_, " sending to rank ",
                                                  (rank_ + 1) % size_, ": ", sent.message()));
  }
  AddBytes(stats_.get(), send_bytes, receive_bytes);
  return absl::OkStatus();
}

absl::Status RingCommunicator::Agree(Call call, const char* payload, size_t payload_bytes) {
  call.sequence = sent_[kNext]++;
  Call expected = call;
  expected.sequence = received_[kPrevious]++;
  std::string message(reinterpret_cast<const char*>(&call), sizeof(call));
  message.append(payload, payload_bytes);
  Call theirs;
  absl::Status exchanged = Exchange(message.data(), message.size(),
                                    reinterpret_cast<char*>(&theirs), sizeof(theirs), nullptr);
  if (!exchanged.ok()) return exchanged;
  if (std::memcmp(&expected, &theirs, sizeof(call)) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "the ranks ran different collectives: rank ", (rank_ + size_ - 1) % size_, " ran ",
      Describe(theirs), ", rank ", rank_, " ", Describe(expected), "; ", kMatchOrder));
}

absl::Status RingCommunicator::Begin(Call call, const char* payload, size_t payload_bytes) {
  if (!broken_.ok()) return broken_;
  if (size_ == 1) return absl::OkStatus();
  // The call writes on the next link, after the sends queued there.
  absl::Status agreed = Drain(kNext);
  if (agreed.ok() && !previous_.stream->FullDuplex()) agreed = Drain(kPrevious);
  if (agreed.ok()) agreed = Agree(call, payload, payload_bytes);
  return agreed.ok() ? agreed : Break(agreed);
}

absl::Status RingCommunicator::RingReduceScatter(kernels::ReduceOp op, core::DType dtype,
                                                 const char* in, char* data, size_t element_bytes,
                                                 const std::function<int64_t(int)>& bounds) {
  auto chunk_bytes = [&](int c) {
    return static_cast<size_t>(bounds(c + 1) - bounds(c)) * element_bytes;
  };
  std::string incoming;
  for (int step = 0; step < size_ - 1; ++step) {
    // Step 0 sends a chunk of the rank's own; each later one the chunk reduced the step
    // before. Every chunk received is reduced with the rank's own into `data`, once.
    const int send_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    const int receive_chunk = ((rank_ - step - 2) % size_ + size_) % size_;
    const size_t receive_at = static_cast<size_t>(bounds(receive_chunk)) * element_bytes;
    char* target = data + receive_at;
    const char* own = in + receive_at;
    incoming.resize(chunk_bytes(receive_chunk));
    absl::Status s = Exchange(
        (step == 0 ? in : data) + bounds(send_chunk) * element_bytes, chunk_bytes(send_chunk),
        incoming.data(), incoming.size(), [&](size_t at, size_t bytes) {
          // Copied piece by piece as it is reduced, while in cache, instead of a pass over
          // the whole array before the first byte goes out.
          if (own != target) std::memcpy(target + at, own + at, bytes);
          return kernels::cpu::ReduceInto(op, dtype, target + at, incoming.data() + at,
                                          static_cast<int64_t>(bytes / element_bytes));
        });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RingCommunicator::RingAllGather(char* data, size_t element_bytes,
                                             const std::function<int64_t(int)>& bounds) {
  for (int step = 0; step < size_ - 1; ++step) {
    const int send_chunk = ((rank_ - step) % size_ + size_) % size_;
    const int receive_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    absl::Status s = Exchange(
        data + bounds(send_chunk) * element_bytes,
        static_cast<size_t>(bounds(send_chunk + 1) - bounds(send_chunk)) * element_bytes,
        data + bounds(receive_chunk) * element_bytes,
        static_cast<size_t>(bounds(receive_chunk + 1) - bounds(receive_chunk)) * element_bytes,
        nullptr);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RingCommunicator::AllReduce(kernels::ReduceOp op, core::DType dtype, const void* in,
                                         void* out, int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kAllReduce);
  const size_t element_bytes = core::SizeOf(dtype);
  char* bytes = static_cast<char*>(out);
  const bool small =
      size_ > 1 && sizeof(Call) + static_cast<size_t>(count) * element_bytes <= kInlineSendBytes;
  if ((small || size_ == 1) && in != out) {
    // A few KiB, or a group of one (its all-reduce is the input).
    std::memcpy(bytes, in, static_cast<size_t>(count) * element_bytes);
  }
  if (small) return SmallAllReduce(op, dtype, bytes, count);
  absl::Status s = Begin({0, kAllReduce, static_cast<uint32_t>(op), static_cast<uint32_t>(dtype), 0,
                          static_cast<uint64_t>(count)});
  if (!s.ok() || size_ == 1) return s;
  // Uneven chunks when size does not divide count; empty ones are fine.
  auto bounds = [&](int c) { return count * c / size_; };
  s = RingReduceScatter(op, dtype, static_cast<const char*>(in), bytes, element_bytes, bounds);
  if (s.ok()) s = RingAllGather(bytes, element_bytes, bounds);
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::SmallAllReduce(kernels::ReduceOp op, core::DType dtype, char* data,
                                              int64_t count) {
  const size_t bytes = static_cast<size_t>(count) * core::SizeOf(dtype);
  std::string slots(bytes * size_, '\0');  // every rank's array, by rank
  auto slot = [&](int rank) { return slots.data() + static_cast<size_t>(rank) * bytes; };
  std::memcpy(slot(rank_), data, bytes);
  absl::Status s = Begin({0, kSmallAllReduce, static_cast<uint32_t>(op),
                          static_cast<uint32_t>(dtype), 0, static_cast<uint64_t>(count)},
                         data, bytes);
  if (!s.ok()) return s;
  // Step k receives rank - k's array, and passes it on at step k + 1.
  for (int k = 1; k < size_ && s.ok(); ++k) {
    s = Exchange(slot((rank_ - k + 1 + size_) % size_), k == 1 ? 0 : bytes,
                 slot((rank_ - k + size_) % size_), bytes, nullptr);
  }
  if (!s.ok()) return Break(s);
  std::memcpy(data, slot(0), bytes);
  for (int rank = 1; rank < size_ && s.ok(); ++rank) {
    s = kernels::cpu::ReduceInto(op, dtype, data, slot(rank), count);
  }
  return s;
}

absl::Status RingCommunicator::AllGather(const void* mine, size_t bytes, void* all) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kAllGather);
  absl::Status s = Begin({0, kAllGather, 0, 0, 0, bytes});
  if (!s.ok()) return s;
  char* out = static_cast<char*>(all);
  std::memmove(out + static_cast<size_t>(rank_) * bytes, mine, bytes);
  if (size_ == 1) return s;
  auto bounds = [&](int c) { return static_cast<int64_t>(bytes) * c; };
  s = RingAllGather(out, 1, bounds);
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::AllToAll(const void* mine, size_t block_bytes, void* all) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kAllToAll);
  absl::Status s = Begin({0, kAllToAll, 0, 0, 0, block_bytes * size_});
  if (!s.ok()) return s;
  const char* own = static_cast<const char*>(mine);
  char* out = static_cast<char*>(all);
  auto block = [&](char* base, int index) {
    return base + static_cast<size_t>(index) * block_bytes;
  };
  std::memmove(block(out, rank_), own + static_cast<size_t>(rank_) * block_bytes, block_bytes);
  // Step 1 sends this rank's blocks for ranks rank + 1, ..., rank + n - 1, in that order:
  // straight from `mine` where they do not wrap around its end (ranks 0 and n - 1).
  const int first = (rank_ + 1) % size_;
  std::string outgoing, incoming;
  const char* sending = own + static_cast<size_t>(first) * block_bytes;
  if (first + size_ - 1 > size_) {
    outgoing.resize(block_bytes * (size_ - 1));
    for (int k = 1; k < size_; ++k) {
      std::memcpy(block(outgoing.data(), k - 1),
                  own + static_cast<size_t>((rank_ + k) % size_) * block_bytes, block_bytes);
    }
    sending = outgoing.data();
  }
  for (int k = 1; k < size_ && s.ok(); ++k) {
    // Received: rank - k's blocks for ranks rank, ..., rank + n - k - 1; the first is ours.
    // The last step's one block goes straight to its place.
    char* mine_from_them = block(out, (rank_ - k + size_) % size_);
    const bool last = k == size_ - 1;
    incoming.resize(last ? 0 : block_bytes * (size_ - k));
    s = Exchange(sending, block_bytes * (size_ - k), last ? mine_from_them : incoming.data(),
                 block_bytes * (size_ - k), nullptr);
    if (!s.ok() || last) break;
    std::memcpy(mine_from_them, incoming.data(), block_bytes);
    outgoing.assign(incoming, block_bytes, std::string::npos);
    sending = outgoing.data();
  }
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::ReduceScatter(kernels::ReduceOp op, core::DType dtype,
                                             const void* in, void* data, int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kReduceScatter);
  absl::Status s = Begin({0, kReduceScatter, static_cast<uint32_t>(op),
                          static_cast<uint32_t>(dtype), 0, static_cast<uint64_t>(count)});
  if (!s.ok()) return s;
  if (size_ == 1) {
    if (in != data) std::memcpy(data, in, static_cast<size_t>(count) * core::SizeOf(dtype));
    return s;
  }
  auto bounds = [&](int c) { return count / size_ * c; };
  s = RingReduceScatter(op, dtype, static_cast<const char*>(in), static_cast<char*>(data),
                        core::SizeOf(dtype), bounds);
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::Send(int dst, core::DType dtype, const void* data, int64_t count,
                                    std::shared_ptr<const void> keep) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kSend);
  absl::StatusOr<Link> which = PeerLinkTo(dst, /*sending=*/true);
  if (!which.ok()) return which.status();
  if (!broken_.ok()) return broken_;
  const Call header{sent_[*which]++,
                    kSend,
                    0,
                    static_cast<uint32_t>(dtype),
                    static_cast<uint32_t>(dst),
                    static_cast<uint64_t>(count)};
  Outbox::Message message{header, static_cast<const char*>(data),
                          static_cast<size_t>(count) * core::SizeOf(dtype), std::move(keep)};
  Outbox& box = outboxes_[*which];
  {
    std::lock_guard<std::mutex> queued(box.mu);
    if (!box.failed.ok()) return Break(box.failed);
    box.messages.push_back(std::move(message));
    if (!box.writer.joinable()) {
      box.writer = std::thread([this, link = *which] { WriteQueued(link); });
    }
  }
  box.changed.notify_all();
  return absl::OkStatus();
}

absl::Status RingCommunicator::Recv(int src, core::DType dtype, void* data, int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  CountedCall counted(stats_.get(), CollectiveStats::kRecv);
  absl::StatusOr<Link> which = PeerLinkTo(src, /*sending=*/false);
  if (!which.ok()) return which.status();
  if (!broken_.ok()) return broken_;
  core::ByteStream& stream = *link(*which).stream;
  if (!stream.FullDuplex()) {
    if (absl::Status drained = Drain(*which); !drained.ok()) return Break(drained);
  }
  const Call expected{
      received_[*which]++,         4, 0, static_cast<uint32_t>(dtype), static_cast<uint32_t>(rank_),
      static_cast<uint64_t>(count)};
  auto failed = [&](const absl::Status& s) {
    return Break(absl::Status(
        s.code(), absl::StrCat("rank ", rank_, " receiving from rank ", src, ": ", s.message())));
  };
  Call theirs;
  if (absl::Status s = stream.Receive(&theirs, sizeof(theirs)); !s.ok()) return failed(s);
  if (std::memcmp(&expected, &theirs, sizeof(theirs)) != 0) {
    return Break(absl::InvalidArgumentError(absl::StrCat(
        "rank ", src, " ran ", Describe(theirs), ", rank ", rank_, " a receive of ",
        Elements(count, kSend, expected.dtype), " from rank ", src, " (its call number ",
        expected.sequence + 1, " on that link); ", kMatchOrder)));
  }
  const size_t bytes = static_cast<size_t>(count) * core::SizeOf(dtype);
  absl::Status received = bytes == 0 ? absl::OkStatus() : stream.Receive(data, bytes);
  if (!received.ok()) return failed(received);
  AddBytes(stats_.get(), 0, sizeof(theirs) + bytes);
  return received;
}

}  // namespace ferry::server
