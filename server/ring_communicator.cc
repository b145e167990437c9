#include "server/ring_communicator.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
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
    case 1:
      return "an all-reduce";
    case 2:
      return "an all-gather";
    default:
      return "a reduce-scatter";
  }
}

}  // namespace

RingCommunicator::RingCommunicator(int rank, int size, PeerLink to_next, PeerLink from_previous,
                                   absl::Duration timeout)
    : rank_(rank), size_(size), next_(std::move(to_next)), previous_(std::move(from_previous)) {
  SetTimeouts(next_, timeout);
  SetTimeouts(previous_, timeout);
}

RingCommunicator::~RingCommunicator() {
  for (PeerLink* link : {&next_, &previous_}) {
    if (link->stream != nullptr) shutdown(link->stream->fd(), SHUT_RDWR);
    link->stream.reset();
    if (link->close) link->close();
  }
}

absl::Status RingCommunicator::Break(absl::Status cause) {
  broken_ = cause;
  for (PeerLink* link : {&next_, &previous_}) {
    if (link->stream != nullptr) shutdown(link->stream->fd(), SHUT_RDWR);
  }
  return cause;
}

absl::Status RingCommunicator::Exchange(
    const char* send, size_t send_bytes, char* receive, size_t receive_bytes,
    const std::function<absl::Status(size_t, size_t)>& arrived) {
  absl::Status sent;
  std::thread sender;
  if (send_bytes <= kInlineSendBytes) {
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
  return absl::OkStatus();
}

absl::Status RingCommunicator::Agree(Call call) {
  Call theirs;
  absl::Status exchanged = Exchange(reinterpret_cast<const char*>(&call), sizeof(call),
                                    reinterpret_cast<char*>(&theirs), sizeof(theirs), nullptr);
  if (!exchanged.ok()) return exchanged;
  if (std::memcmp(&call, &theirs, sizeof(call)) == 0) return absl::OkStatus();
  auto describe = [](const Call& c) {
    return absl::StrCat(
        KindName(c.kind), " of ", c.elements, " ",
        c.kind == 2 ? "bytes"
                    : absl::StrCat(core::DTypeName(static_cast<core::DType>(c.dtype)), " elements"),
        " (its collective number ", c.sequence + 1, ")");
  };
  return absl::InvalidArgumentError(
      absl::StrCat("the ranks ran different collectives: rank ", (rank_ + size_ - 1) % size_,
                   " ran ", describe(theirs), ", rank ", rank_, " ", describe(call),
                   "; every rank must evaluate the same collectives in the same order"));
}

absl::Status RingCommunicator::Begin(Call call) {
  if (!broken_.ok()) return broken_;
  if (size_ == 1) return absl::OkStatus();
  call.sequence = calls_++;
  absl::Status agreed = Agree(call);
  return agreed.ok() ? agreed : Break(agreed);
}

absl::Status RingCommunicator::RingReduceScatter(kernels::ReduceOp op, core::DType dtype,
                                                 char* data, size_t element_bytes,
                                                 const std::function<int64_t(int)>& bounds) {
  auto chunk_bytes = [&](int c) {
    return static_cast<size_t>(bounds(c + 1) - bounds(c)) * element_bytes;
  };
  std::string incoming;
  for (int step = 0; step < size_ - 1; ++step) {
    const int send_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    const int receive_chunk = ((rank_ - step - 2) % size_ + size_) % size_;
    char* target = data + bounds(receive_chunk) * element_bytes;
    incoming.resize(chunk_bytes(receive_chunk));
    absl::Status s =
        Exchange(data + bounds(send_chunk) * element_bytes, chunk_bytes(send_chunk),
                 incoming.data(), incoming.size(), [&](size_t at, size_t bytes) {
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

absl::Status RingCommunicator::AllReduce(kernels::ReduceOp op, core::DType dtype, void* data,
                                         int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = Begin({0, 1, static_cast<uint32_t>(op), static_cast<uint32_t>(dtype), 0,
                          static_cast<uint64_t>(count)});
  if (!s.ok() || size_ == 1) return s;
  // Uneven chunks when size does not divide count; empty ones are fine.
  auto bounds = [&](int c) { return count * c / size_; };
  char* bytes = static_cast<char*>(data);
  const size_t element_bytes = core::SizeOf(dtype);
  s = RingReduceScatter(op, dtype, bytes, element_bytes, bounds);
  if (s.ok()) s = RingAllGather(bytes, element_bytes, bounds);
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::AllGather(const void* mine, size_t bytes, void* all) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = Begin({0, 2, 0, 0, 0, bytes});
  if (!s.ok()) return s;
  char* out = static_cast<char*>(all);
  std::memmove(out + static_cast<size_t>(rank_) * bytes, mine, bytes);
  if (size_ == 1) return s;
  auto bounds = [&](int c) { return static_cast<int64_t>(bytes) * c; };
  s = RingAllGather(out, 1, bounds);
  return s.ok() ? s : Break(s);
}

absl::Status RingCommunicator::ReduceScatter(kernels::ReduceOp op, core::DType dtype, void* data,
                                             int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = Begin({0, 3, static_cast<uint32_t>(op), static_cast<uint32_t>(dtype), 0,
                          static_cast<uint64_t>(count)});
  if (!s.ok() || size_ == 1) return s;
  auto bounds = [&](int c) { return count / size_ * c; };
  s = RingReduceScatter(op, dtype, static_cast<char*>(data), core::SizeOf(dtype), bounds);
  return s.ok() ? s : Break(s);
}

}  // namespace ferry::server
