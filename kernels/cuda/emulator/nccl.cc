// A CPU stand-in for the NCCL calls ferry makes (kernels/cuda/nccl_loader.h), used only by the
// CUDA emulation tests and never shipped. Built as libnccl.so.2, it is what the loader dlopens when
// the tests run the CUDA backend on the CPU emulation of CUDA, where device memory is host memory
// and a stream's work completes as it is queued: so each call runs on the calling thread, reads and
// writes the buffers directly and ignores its stream.
//
// The ranks (ferryd processes on one host, or threads of a test) talk over TCP. ncclGetUniqueId
// listens on 127.0.0.1 (or $FERRY_NCCL_EMULATOR_ADDRESS) and writes that address and a random
// nonce into the id; rank 0 must be created in the process that made the id, which hands it the
// listening socket. Each other rank connects to rank 0, which answers with every rank's own
// listening address, and then to each rank below it: a full mesh. A collective goes through rank
// 0, which checks that all ranks called the same one, reduces in rank order (so that every rank
// gets the same bits) and sends each rank its part. A group's sends and receives go straight to
// their peers, all at once through poll(), once both sides of each pair have swapped and checked
// the sizes they expect. A peer that closes its connection (it exited or aborted) fails the waiting
// call and breaks the communicator, which shuts its own connections so that the failure spreads
// to the other ranks instead of leaving them waiting.

#include <arpa/inet.h>
#include <nccl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using Clock = std::chrono::steady_clock;

// The communicator type is a pointer to a struct NCCL leaves undefined; this is ours. It is never
// freed (a destroyed one keeps its zeroed magic), so that a call on a destroyed communicator, or
// one racing its destruction on another thread, fails instead of reading freed memory.
struct ncclComm {
  std::atomic<uint64_t> magic{0};
  int rank = 0;
  int nranks = 0;
  // ncclInProgress while the ranks connect, then ncclSuccess or the error that broke it.
  std::atomic<int> state{ncclInProgress};
  std::atomic<bool> aborted{false};  // by ncclCommAbort or ncclCommDestroy: every wait ends
  std::mutex mu;                     // guards fds, listen_fd and active against a teardown
  std::condition_variable idle;
  int active = 0;            // calls running in it
  std::vector<int> fds;      // fds[r]: the connection to rank r; -1 for this rank
  int listen_fd = -1;        // while the ranks connect
  std::thread init;          // the nonblocking ncclCommInitRankConfig's connecting
  uint64_t collectives = 0;  // rank 0 checks that every rank has made as many
};

namespace {

constexpr uint64_t kCommMagic = 0x6665727279'4e63;  // "ferryNc": set in every live communicator
constexpr uint32_t kIdMagic = 0x6e63'6964;          // "ncid": in an id from ncclGetUniqueId
constexpr uint32_t kWireMagic = 0x6e63'6d67;        // "ncmg": opens every message

// What ncclGetUniqueId writes into the 128 bytes of an id.
struct IdData {
  uint32_t magic;
  uint32_t addr;  // IPv4, network order
  uint32_t port;
  uint32_t pad;
  uint64_t nonce;
};
static_assert(sizeof(IdData) <= sizeof(ncclUniqueId), "an id holds IdData");

// A rank's first message on each connection it makes.
struct Hello {
  uint32_t magic;
  int32_t rank;
  int32_t nranks;
  uint32_t addr;  // where it listens for the ranks above it (to rank 0 only)
  uint64_t nonce;
  uint32_t port;
  uint32_t pad;
};

// Rank 0's answer to a Hello: on success, followed by each rank's listening address.
struct Welcome {
  uint32_t magic;
  int32_t status;
};
struct Endpoint {
  uint32_t addr;
  uint32_t port;
};

enum Kind : uint32_t { kAllReduce = 1, kAllGather, kReduceScatter, kBroadcast, kP2p, kAnswer };

// Opens each operation's messages. To rank 0 a collective's header is followed by this rank's
// data; rank 0's kAnswer by the rank's result, or by why it refused (status != ncclSuccess).
struct Header {
  uint32_t magic;
  uint32_t kind;
  int32_t dtype;
  int32_t op;
  int32_t root;
  int32_t status;
  uint64_t count;  // elements; in a kP2p header, the sends to the peer
  uint64_t recvs;  // in a kP2p header, the receives from the peer
  uint64_t seq;
  uint64_t bytes;  // what follows the header
};

std::mutex error_mu;
char last_error[512] = "";

// Records the message ncclGetLastError returns and returns `result`.
ncclResult_t Error(ncclResult_t result, const char* format, ...) {
  char message[400];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  std::lock_guard<std::mutex> lock(error_mu);
  snprintf(last_error, sizeof last_error, "NCCL emulator: %s", message);
  return result;
}

const char* KindName(uint32_t kind) {
  static const char* const kNames[] = {"?",
                                       "ncclAllReduce",
                                       "ncclAllGather",
                                       "ncclReduceScatter",
                                       "ncclBroadcast",
                                       "ncclSend/ncclRecv"};
  return kind < kAnswer ? kNames[kind] : "an unknown call";
}

// 0 for the fp8 types, and anything else, which are refused.
size_t TypeSize(ncclDataType_t type) {
  // ncclInt8, Uint8, Int32, Uint32, Int64, Uint64, Float16, Float32, Float64, Bfloat16.
  static const size_t kSizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  return type >= 0 && type < ncclFloat8e4m3 ? kSizes[type] : 0;
}

// Calls f with a value of the C++ type of `type` (one TypeSize accepts).
template <typename F>
void ForType(ncclDataType_t type, F f) {
  switch (type) {
    case ncclInt8:
      return f(int8_t{});
    case ncclUint8:
      return f(uint8_t{});
    case ncclInt32:
      return f(int32_t{});
    case ncclUint32:
      return f(uint32_t{});
    case ncclInt64:
      return f(int64_t{});
    case ncclUint64:
      return f(uint64_t{});
    case ncclFloat16:
      return f(__half{});
    case ncclFloat32:
      return f(float{});
    case ncclFloat64:
      return f(double{});
    case ncclBfloat16:
      return f(__nv_bfloat16{});
    default:
      return;
  }
}

// Half and bfloat16 are reduced in float and rounded back after each step, as NCCL does.
template <typename T>
T Widen(T v) {
  return v;
}
float Widen(__half v) { return __half2float(v); }
float Widen(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
void Narrow(T v, T& out) {
  out = v;
}
void Narrow(float v, __half& out) { out = __float2half_rn(v); }
void Narrow(float v, __nv_bfloat16& out) { out = __float2bfloat16_rn(v); }

template <typename T>
T Apply(T a, T b, int op) {
  if constexpr (std::is_integral_v<T>) {
    // Sums and products wrap, as on a GPU, instead of overflowing a signed type.
    if (op == ncclSum || op == ncclAvg) {
      return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    }
    if (op == ncclProd) return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    if (op == ncclSum || op == ncclAvg) return a + b;
    if (op == ncclProd) return a * b;
  }
  return op == ncclMax ? (b > a ? b : a) : (b < a ? b : a);
}

// dst[i] = dst[i] op src[i].
void Reduce(ncclDataType_t type, void* dst, const void* src, size_t count, int op) {
  ForType(type, [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(dst);
    const T* s = static_cast<const T*>(src);
    for (size_t i = 0; i < count; ++i) Narrow(Apply(Widen(d[i]), Widen(s[i]), op), d[i]);
  });
}

// ncclAvg's last step: the sum divided by the ranks (integers: truncated).
void Divide(ncclDataType_t type, void* data, size_t count, int by) {
  ForType(type, [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(data);
    for (size_t i = 0; i < count; ++i) {
      auto v = Widen(d[i]);
      Narrow(static_cast<decltype(v)>(v / by), d[i]);
    }
  });
}

std::chrono::seconds ConnectTimeout() {
  const char* env = getenv("FERRY_NCCL_EMULATOR_TIMEOUT_S");
  const int seconds = env != nullptr ? atoi(env) : 0;
  return std::chrono::seconds(seconds > 0 ? seconds : 60);
}

// The next poll()'s wait: short, so that an abort is seen even where shutdown() wakes nothing.
int WaitMs(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return 100;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
}

bool Transient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Shuts every connection (and the listener), which ends any wait on them at once.
void ShutdownAll(ncclComm* comm) {
  std::lock_guard<std::mutex> lock(comm->mu);
  for (int fd : comm->fds) {
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  if (comm->listen_fd >= 0) shutdown(comm->listen_fd, SHUT_RDWR);
}

void CloseAll(ncclComm* comm) {
  std::lock_guard<std::mutex> lock(comm->mu);
  for (int& fd : comm->fds) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (comm->listen_fd >= 0) close(comm->listen_fd);
  comm->listen_fd = -1;
}

// A communicator that lost a peer or fell out of step: every later call reports `result`, and
// its connections are shut so that the other ranks' calls fail too instead of waiting for it.
ncclResult_t Break(ncclComm* comm, ncclResult_t result) {
  int expected = ncclSuccess;
  comm->state.compare_exchange_strong(expected, result);
  ShutdownAll(comm);
  return result;
}

// The bytes to move over one connection: `out` to write and `in` to read into, each in order.
struct Flow {
  int fd;
  int peer;  // for messages; -1 while unknown
  std::vector<std::pair<const char*, size_t>> out;
  std::vector<std::pair<char*, size_t>> in;
  size_t next_out = 0, next_in = 0;

  Flow(int fd, int peer) : fd(fd), peer(peer) {}
  Flow& Out(const void* data, size_t size) {
    out.emplace_back(static_cast<const char*>(data), size);
    return *this;
  }
  Flow& In(void* data, size_t size) {
    in.emplace_back(static_cast<char*>(data), size);
    return *this;
  }
};

ncclResult_t Aborted(const ncclComm* comm) {
  return Error(ncclSystemError, "rank %d: the communicator was aborted", comm->rank);
}

ncclResult_t Lost(const ncclComm* comm, int peer, const char* why) {
  if (comm->aborted) return Aborted(comm);
  return Error(ncclRemoteError,
               "rank %d lost its connection to rank %d (%s): that rank exited, aborted or failed",
               comm->rank, peer, why);
}

// Moves all flows' bytes at once, so that no two ranks wait on each other's full socket buffers.
// Fails on a closed connection, an error, the deadline or an abort; the caller decides whether
// that breaks the communicator.
ncclResult_t Exchange(ncclComm* comm, std::vector<Flow>& flows, Clock::time_point deadline) {
  std::vector<pollfd> polls;
  std::vector<Flow*> polled;
  for (;;) {
    polls.clear();
    polled.clear();
    for (Flow& f : flows) {
      while (f.next_out < f.out.size() && f.out[f.next_out].second == 0) ++f.next_out;
      while (f.next_in < f.in.size() && f.in[f.next_in].second == 0) ++f.next_in;
      const short events = static_cast<short>((f.next_out < f.out.size() ? POLLOUT : 0) |
                                              (f.next_in < f.in.size() ? POLLIN : 0));
      if (events != 0 && f.fd < 0) return Lost(comm, f.peer, "no connection");
      if (events != 0) {
        polls.push_back({f.fd, events, 0});
        polled.push_back(&f);
      }
    }
    if (polls.empty()) return ncclSuccess;
    if (comm->aborted) return Aborted(comm);
    if (Clock::now() >= deadline) {
      return Error(ncclSystemError, "rank %d timed out waiting for rank %d", comm->rank,
                   polled[0]->peer);
    }
    if (poll(polls.data(), polls.size(), WaitMs(deadline)) < 0) {
      if (errno == EINTR) continue;
      return Error(ncclSystemError, "poll: %s", strerror(errno));
    }
    for (size_t i = 0; i < polls.size(); ++i) {
      const short revents = polls[i].revents;
      Flow& f = *polled[i];
      if (revents == 0) continue;
      if (revents & POLLNVAL) return Lost(comm, f.peer, "has no connection");
      if (f.next_in < f.in.size() && (revents & (POLLIN | POLLHUP | POLLERR))) {
        auto& [data, size] = f.in[f.next_in];
        const ssize_t n = recv(f.fd, data, size, MSG_DONTWAIT);
        if (n == 0) return Lost(comm, f.peer, "closed");
        if (n < 0 && !Transient(errno)) return Lost(comm, f.peer, strerror(errno));
        if (n > 0) data += n, size -= static_cast<size_t>(n);
      }
      if (f.next_out < f.out.size() && (revents & (POLLOUT | POLLHUP | POLLERR))) {
        auto& [data, size] = f.out[f.next_out];
        const ssize_t n = send(f.fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && !Transient(errno)) return Lost(comm, f.peer, strerror(errno));
        if (n > 0) data += n, size -= static_cast<size_t>(n);
      }
    }
  }
}

ncclResult_t Move(ncclComm* comm, Flow flow, Clock::time_point deadline) {
  std::vector<Flow> flows{std::move(flow)};
  return Exchange(comm, flows, deadline);
}

// ---- Connecting the ranks ----

int Socket() { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A socket listening on `addr` (network order) at a port of the kernel's choice, put in *port.
int Listen(uint32_t addr, uint32_t* port) {
  const int fd = Socket();
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = addr;
  socklen_t len = sizeof sa;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

// Records fd as the connection to `peer` (or, for peer -1, the listener) where a teardown can shut
// it; closes it and fails if the communicator is already being torn down.
ncclResult_t Adopt(ncclComm* comm, int fd, int peer) {
  std::lock_guard<std::mutex> lock(comm->mu);
  if (comm->aborted) {
    close(fd);
    return Aborted(comm);
  }
  (peer < 0 ? comm->listen_fd : comm->fds[peer]) = fd;
  return ncclSuccess;
}

// Connects to rank `peer` at addr:port, retrying for a few seconds (its listener may be new).
ncclResult_t Connect(ncclComm* comm, Endpoint at, int peer, Clock::time_point deadline) {
  const Clock::time_point give_up = std::min(deadline, Clock::now() + std::chrono::seconds(10));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = at.addr;
  sa.sin_port = htons(static_cast<uint16_t>(at.port));
  for (;;) {
    if (comm->aborted) return Aborted(comm);
    const int fd = Socket();
    if (fd < 0) return Error(ncclSystemError, "socket: %s", strerror(errno));
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      NoDelay(fd);
      return Adopt(comm, fd, peer);
    }
    const int err = errno;
    close(fd);
    if (Clock::now() >= give_up) {
      char host[INET_ADDRSTRLEN] = "?";
      inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
      return Error(ncclSystemError, "rank %d cannot connect to rank %d at %s:%u: %s", comm->rank,
                   peer, host, at.port, strerror(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The next connection on the communicator's listener, with its Hello, from a process that holds
// the same id; *fd is -1 for one that does not (a stranger, dropped).
ncclResult_t Accept(ncclComm* comm, uint64_t nonce, Clock::time_point deadline, int* fd,
                    Hello* hello) {
  *fd = -1;
  for (;;) {
    if (comm->aborted) return Aborted(comm);
    if (Clock::now() >= deadline) {
      return Error(ncclSystemError, "rank %d timed out waiting for the other ranks to join",
                   comm->rank);
    }
    pollfd p{comm->listen_fd, POLLIN, 0};
    const int ready = poll(&p, 1, WaitMs(deadline));
    if (ready < 0 && errno != EINTR) return Error(ncclSystemError, "poll: %s", strerror(errno));
    if (ready <= 0) continue;
    const int conn = accept4(comm->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (Transient(errno) || errno == ECONNABORTED) continue;
      return Error(ncclSystemError, "accept: %s", strerror(errno));
    }
    NoDelay(conn);
    // One that sends nothing must not hold up the ranks behind it for long.
    const ncclResult_t read = Move(comm, Flow(conn, -1).In(hello, sizeof *hello),
                                   std::min(deadline, Clock::now() + std::chrono::seconds(5)));
    if (read == ncclSuccess && hello->magic == kWireMagic && hello->nonce == nonce) {
      *fd = conn;
      return ncclSuccess;
    }
    close(conn);
    if (comm->aborted) continue;  // reported above
  }
}

// Rank 0: takes each rank's Hello on the listener from ncclGetUniqueId, then answers them all
// with the table of where each listens, or with why the communicator cannot be made.
ncclResult_t ConnectRoot(ncclComm* comm, const IdData& id, Clock::time_point deadline) {
  const int n = comm->nranks;
  std::vector<Endpoint> table(n);
  std::vector<int> refused;  // connections told of the failure, then closed
  ncclResult_t result = ncclSuccess;
  for (int joined = 1; joined < n && result == ncclSuccess;) {
    int fd;
    Hello hello;
    result = Accept(comm, id.nonce, deadline, &fd, &hello);
    if (result != ncclSuccess) break;
    if (hello.nranks != n || hello.rank <= 0 || hello.rank >= n || comm->fds[hello.rank] >= 0) {
      refused.push_back(fd);
      result = Error(ncclInvalidUsage,
                     "rank 0 of %d: a process joined as rank %d of %d (a rank twice, or the ranks "
                     "disagree on the number of ranks)",
                     n, hello.rank, hello.nranks);
      break;
    }
    table[hello.rank] = {hello.addr, hello.port};
    result = Adopt(comm, fd, hello.rank);
    ++joined;
  }
  const Welcome welcome{kWireMagic, static_cast<int32_t>(result)};
  std::vector<Flow> flows;
  for (int r = 1; r < n; ++r) {
    if (comm->fds[r] < 0) continue;
    flows.emplace_back(comm->fds[r], r).Out(&welcome, sizeof welcome);
    if (result == ncclSuccess) flows.back().Out(table.data(), n * sizeof(Endpoint));
  }
  for (int fd : refused) flows.emplace_back(fd, -1).Out(&welcome, sizeof welcome);
  if (result != ncclSuccess) {
    Exchange(comm, flows, Clock::now() + std::chrono::seconds(1));  // best effort
    for (int fd : refused) close(fd);
    return result;
  }
  return Exchange(comm, flows, deadline);
}

// Rank r > 0: joins through rank 0, then connects to ranks 1..r-1 and takes r+1..n-1's connections.
ncclResult_t ConnectPeer(ncclComm* comm, const IdData& id, Clock::time_point deadline) {
  const int n = comm->nranks, rank = comm->rank;
  ncclResult_t result = Connect(comm, {id.addr, id.port}, 0, deadline);
  if (result != ncclSuccess) return result;
  // Listen where rank 0 sees this rank, which the others can reach too.
  sockaddr_in self{};
  socklen_t len = sizeof self;
  uint32_t port = 0;
  if (getsockname(comm->fds[0], reinterpret_cast<sockaddr*>(&self), &len) != 0) {
    return Error(ncclSystemError, "getsockname: %s", strerror(errno));
  }
  const int listener = Listen(self.sin_addr.s_addr, &port);
  if (listener < 0) {
    return Error(ncclSystemError, "rank %d cannot listen: %s", rank, strerror(errno));
  }
  if ((result = Adopt(comm, listener, -1)) != ncclSuccess) return result;

  const Hello hello{kWireMagic, rank, n, self.sin_addr.s_addr, id.nonce, port, 0};
  Welcome welcome{};
  result = Move(comm, Flow(comm->fds[0], 0).Out(&hello, sizeof hello).In(&welcome, sizeof welcome),
                deadline);
  if (result != ncclSuccess) return result;
  if (welcome.magic != kWireMagic) {
    return Error(ncclSystemError, "rank %d: not rank 0's answer", rank);
  }
  if (welcome.status != ncclSuccess) {
    return Error(static_cast<ncclResult_t>(welcome.status),
                 "rank %d: rank 0 refused the communicator (%s): a rank joined twice, or the "
                 "ranks disagree on the number of ranks",
                 rank, ncclGetErrorString(static_cast<ncclResult_t>(welcome.status)));
  }
  std::vector<Endpoint> table(n);
  result = Move(comm, Flow(comm->fds[0], 0).In(table.data(), n * sizeof(Endpoint)), deadline);
  if (result != ncclSuccess) return result;

  for (int peer = 1; peer < rank; ++peer) {
    if ((result = Connect(comm, table[peer], peer, deadline)) != ncclSuccess) return result;
    result = Move(comm, Flow(comm->fds[peer], peer).Out(&hello, sizeof hello), deadline);
    if (result != ncclSuccess) return result;
  }
  for (int joined = rank + 1; joined < n; ++joined) {
    int fd;
    Hello theirs;
    if ((result = Accept(comm, id.nonce, deadline, &fd, &theirs)) != ncclSuccess) return result;
    if (theirs.nranks != n || theirs.rank <= rank || theirs.rank >= n ||
        comm->fds[theirs.rank] >= 0) {
      close(fd);
      return Error(ncclInvalidUsage, "rank %d of %d: a process joined as rank %d of %d", rank, n,
                   theirs.rank, theirs.nranks);
    }
    if ((result = Adopt(comm, fd, theirs.rank)) != ncclSuccess) return result;
  }
  return ncclSuccess;
}

ncclResult_t Bootstrap(ncclComm* comm, const IdData& id, Clock::time_point deadline) {
  const ncclResult_t result =
      comm->rank == 0 ? ConnectRoot(comm, id, deadline) : ConnectPeer(comm, id, deadline);
  std::lock_guard<std::mutex> lock(comm->mu);
  if (comm->listen_fd >= 0) close(comm->listen_fd);
  comm->listen_fd = -1;
  return result;
}

// The listeners ncclGetUniqueId opened, by (port, nonce), for the rank 0 of the same process.
std::mutex ids_mu;
std::map<std::pair<uint32_t, uint64_t>, int>& Listeners() {
  static auto* listeners = new std::map<std::pair<uint32_t, uint64_t>, int>;
  return *listeners;
}

// Torn-down communicators, kept (see ncclComm) and reachable for the leak checker.
std::mutex dead_mu;
std::vector<ncclComm*>& Dead() {
  static auto* dead = new std::vector<ncclComm*>;
  return *dead;
}

// ---- Calls in a communicator ----

bool Live(const ncclComm* comm) { return comm != nullptr && comm->magic == kCommMagic; }

ncclResult_t NotLive(const ncclComm* comm) {
  return Error(ncclInvalidArgument,
               comm == nullptr ? "null communicator" : "not a live communicator (destroyed?)");
}

// Counts a call in `comm` for the duration of a scope, so that a teardown waits for it.
class Call {
 public:
  explicit Call(ncclComm* comm) : comm_(comm), result_(Enter(comm)) {}
  ~Call() {
    if (result_ != ncclSuccess) return;
    std::lock_guard<std::mutex> lock(comm_->mu);
    if (--comm_->active == 0) comm_->idle.notify_all();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ncclResult_t result() const { return result_; }

 private:
  static ncclResult_t Enter(ncclComm* comm) {
    if (comm == nullptr) return NotLive(comm);
    std::lock_guard<std::mutex> lock(comm->mu);
    if (comm->magic != kCommMagic) return NotLive(comm);
    const int state = comm->state;
    if (state == ncclInProgress) {
      return Error(ncclInvalidUsage,
                   "rank %d: the communicator is still connecting (see ncclCommGetAsyncError)",
                   comm->rank);
    }
    if (state != ncclSuccess) {
      return Error(static_cast<ncclResult_t>(state),
                   "rank %d: the communicator failed earlier (%s)", comm->rank,
                   ncclGetErrorString(static_cast<ncclResult_t>(state)));
    }
    ++comm->active;
    return ncclSuccess;
  }

  ncclComm* comm_;
  ncclResult_t result_;
};

// What rank r sends rank 0 with its header, and what rank 0 sends rank r back.
size_t Contribution(Kind kind, size_t bytes, int nranks, int r, int root) {
  return kind == kReduceScatter ? nranks * bytes : kind == kBroadcast && r != root ? 0 : bytes;
}
size_t Result(Kind kind, size_t bytes, int nranks, int r, int root) {
  return kind == kAllGather ? nranks * bytes : kind == kBroadcast && r == root ? 0 : bytes;
}

// Rank 0's part of a collective: checks every rank's header against its own, gathers and reduces
// their data in rank order, and sends each its part.
ncclResult_t Root(ncclComm* comm, const Header& mine, const void* send, void* recv) {
  const int n = comm->nranks;
  const Kind kind = static_cast<Kind>(mine.kind);
  const auto dtype = static_cast<ncclDataType_t>(mine.dtype);
  const size_t count = mine.count, bytes = count * TypeSize(dtype);
  std::vector<Header> theirs(n);
  std::vector<Flow> flows;
  for (int r = 1; r < n; ++r) flows.emplace_back(comm->fds[r], r).In(&theirs[r], sizeof(Header));
  ncclResult_t result = Exchange(comm, flows, Clock::time_point::max());
  if (result != ncclSuccess) return Break(comm, result);

  std::string why;
  for (int r = 1; r < n && why.empty(); ++r) {
    const Header& h = theirs[r];
    if (h.magic != kWireMagic) {
      return Break(comm, Error(ncclSystemError, "rank 0: garbage from rank %d", r));
    }
    if (h.kind != mine.kind || h.dtype != mine.dtype || h.op != mine.op || h.root != mine.root ||
        h.count != mine.count || h.seq != mine.seq ||
        h.bytes != Contribution(kind, bytes, n, r, mine.root)) {
      char text[300];
      snprintf(
          text, sizeof text,
          "the ranks called different collectives: rank 0 called %s #%llu of %llu elements "
          "(type %d, op %d, root %d), rank %d called %s #%llu of %llu (type %d, op %d, root %d)",
          KindName(mine.kind), static_cast<unsigned long long>(mine.seq),
          static_cast<unsigned long long>(mine.count), mine.dtype, mine.op, mine.root, r,
          KindName(h.kind), static_cast<unsigned long long>(h.seq),
          static_cast<unsigned long long>(h.count), h.dtype, h.op, h.root);
      why = text;
    }
  }
  if (!why.empty()) {
    // Reads and drops what each rank sent, so the connections stay in step and usable.
    std::vector<char> sink(1 << 20);
    for (int r = 1; r < n; ++r) {
      for (uint64_t left = theirs[r].bytes; left > 0;) {
        const size_t part = std::min<uint64_t>(left, sink.size());
        result = Move(comm, Flow(comm->fds[r], r).In(sink.data(), part), Clock::time_point::max());
        if (result != ncclSuccess) return Break(comm, result);
        left -= part;
      }
    }
    Header refusal{kWireMagic, kAnswer};
    refusal.status = ncclInvalidUsage;
    refusal.bytes = why.size();
    flows.clear();
    for (int r = 1; r < n; ++r) {
      flows.emplace_back(comm->fds[r], r).Out(&refusal, sizeof refusal).Out(why.data(), why.size());
    }
    result = Exchange(comm, flows, Clock::time_point::max());
    if (result != ncclSuccess) return Break(comm, result);
    return Error(ncclInvalidUsage, "rank 0: %s", why.c_str());
  }

  // The result, and where rank r's part of it starts.
  const char* out = static_cast<const char*>(recv);
  std::vector<char> sum;  // ReduceScatter's full reduction
  size_t stride = 0;      // ReduceScatter: rank r's part starts at r * bytes
  const auto gather_from = [&](int r, void* into, size_t size) {
    return Move(comm, Flow(comm->fds[r], r).In(into, size), Clock::time_point::max());
  };
  if (kind == kAllReduce || kind == kReduceScatter) {
    const size_t total = kind == kAllReduce ? bytes : n * bytes;
    char* acc = static_cast<char*>(recv);
    if (kind == kReduceScatter) {
      sum.resize(total);
      acc = sum.data();
      out = acc;
      stride = bytes;
    }
    if (acc != send && total > 0) memmove(acc, send, total);
    std::vector<char> theirs_data(n > 1 ? total : 0);
    for (int r = 1; r < n; ++r) {
      if ((result = gather_from(r, theirs_data.data(), total)) != ncclSuccess) {
        return Break(comm, result);
      }
      Reduce(dtype, acc, theirs_data.data(), total / TypeSize(dtype), mine.op);
    }
    if (mine.op == ncclAvg) Divide(dtype, acc, total / TypeSize(dtype), n);
    if (kind == kReduceScatter && bytes > 0) memmove(recv, acc, bytes);
  } else if (kind == kAllGather) {
    if (recv != send && bytes > 0) memmove(recv, send, bytes);
    flows.clear();
    for (int r = 1; r < n; ++r) {
      flows.emplace_back(comm->fds[r], r).In(static_cast<char*>(recv) + r * bytes, bytes);
    }
    result = Exchange(comm, flows, Clock::time_point::max());
    if (result != ncclSuccess) return Break(comm, result);
  } else if (mine.root == 0) {  // kBroadcast
    if (recv != send && bytes > 0) memmove(recv, send, bytes);
  } else if ((result = gather_from(mine.root, recv, bytes)) != ncclSuccess) {
    return Break(comm, result);
  }

  std::vector<Header> answers(n, Header{kWireMagic, kAnswer});
  flows.clear();
  for (int r = 1; r < n; ++r) {
    answers[r].bytes = Result(kind, bytes, n, r, mine.root);
    flows.emplace_back(comm->fds[r], r)
        .Out(&answers[r], sizeof(Header))
        .Out(out + r * stride, answers[r].bytes);
  }
  result = Exchange(comm, flows, Clock::time_point::max());
  return result == ncclSuccess ? result : Break(comm, result);
}

ncclResult_t Collective(Kind kind, const void* send, void* recv, size_t count, ncclDataType_t dtype,
                        ncclRedOp_t op, int root, ncclComm* comm) {
  Call call(comm);
  if (call.result() != ncclSuccess) return call.result();
  const int n = comm->nranks, rank = comm->rank;
  const size_t size = TypeSize(dtype);
  const bool reduces = kind == kAllReduce || kind == kReduceScatter;
  if (size == 0) {
    return Error(ncclInvalidArgument, "%s: unsupported data type %d", KindName(kind), dtype);
  }
  if (reduces && (op < 0 || op >= ncclNumOps)) {
    return Error(ncclInvalidArgument, "%s: unsupported reduction %d", KindName(kind), op);
  }
  if (kind == kBroadcast && (root < 0 || root >= n)) {
    return Error(ncclInvalidArgument, "ncclBroadcast: root %d of %d ranks", root, n);
  }
  if (count > (SIZE_MAX / 4) / size / n) {
    return Error(ncclInvalidArgument, "%s: count %zu", KindName(kind), count);
  }
  if (count > 0 && (recv == nullptr || (send == nullptr && (kind != kBroadcast || rank == root)))) {
    return Error(ncclInvalidArgument, "%s: a null buffer", KindName(kind));
  }
  Header mine{kWireMagic, kind, static_cast<int32_t>(dtype), reduces ? static_cast<int32_t>(op) : 0,
              kind == kBroadcast ? root : 0};
  mine.count = count;
  mine.seq = ++comm->collectives;
  mine.bytes = Contribution(kind, count * size, n, rank, mine.root);
  try {
    if (rank == 0) return Root(comm, mine, send, recv);
    Header answer{};
    ncclResult_t result = Move(comm,
                               Flow(comm->fds[0], 0)
                                   .Out(&mine, sizeof mine)
                                   .Out(send, mine.bytes)
                                   .In(&answer, sizeof answer),
                               Clock::time_point::max());
    if (result != ncclSuccess) return Break(comm, result);
    if (answer.magic != kWireMagic || answer.kind != kAnswer) {
      return Break(comm, Error(ncclInvalidUsage,
                               "rank %d: rank 0 is not in %s (the ranks' calls are out of step)",
                               rank, KindName(kind)));
    }
    if (answer.status != ncclSuccess) {
      char why[512] = "";
      if (answer.bytes >= sizeof why) {
        return Break(comm, Error(ncclInternalError, "rank %d: garbage from rank 0", rank));
      }
      result = Move(comm, Flow(comm->fds[0], 0).In(why, answer.bytes), Clock::time_point::max());
      if (result != ncclSuccess) return Break(comm, result);
      return Error(static_cast<ncclResult_t>(answer.status), "rank %d: %s", rank, why);
    }
    if (answer.bytes != Result(kind, count * size, n, rank, root)) {
      return Break(comm, Error(ncclInternalError, "rank %d: rank 0 answered %llu bytes", rank,
                               static_cast<unsigned long long>(answer.bytes)));
    }
    result = Move(comm, Flow(comm->fds[0], 0).In(recv, answer.bytes), Clock::time_point::max());
    if (result != ncclSuccess) return Break(comm, result);
    if (kind == kBroadcast && rank == root && recv != send && count > 0) {
      memmove(recv, send, count * size);
    }
    return ncclSuccess;
  } catch (const std::exception& e) {
    return Error(ncclSystemError, "rank %d: %s: %s", rank, KindName(kind), e.what());
  }
}

// ---- Sends and receives ----

struct P2pOp {
  ncclComm* comm;
  bool send;
  char* data;
  size_t bytes;
  int peer;
};

// The calls between ncclGroupStart and ncclGroupEnd on this thread.
struct Group {
  int depth = 0;
  std::vector<P2pOp> ops;
  ncclResult_t error = ncclSuccess;  // the first refused call's, for ncclGroupEnd
};
thread_local Group group;

// Runs one communicator's sends and receives of a group: swaps with each peer how many and how
// large, then moves the data of every pair that agrees, all at once.
ncclResult_t RunP2p(ncclComm* comm, const std::vector<P2pOp>& ops) {
  Call call(comm);
  if (call.result() != ncclSuccess) return call.result();
  const int n = comm->nranks, me = comm->rank;
  try {
    std::vector<std::vector<const P2pOp*>> sends(n), recvs(n);
    for (const P2pOp& op : ops) (op.send ? sends : recvs)[op.peer].push_back(&op);
    std::string why;
    // A send to itself pairs with its receive from itself.
    if (sends[me].size() == recvs[me].size()) {
      for (size_t i = 0; i < sends[me].size(); ++i) {
        if (sends[me][i]->bytes != recvs[me][i]->bytes) {
          why = "its sends to itself and receives from itself differ";
        }
      }
      for (size_t i = 0; i < sends[me].size() && why.empty(); ++i) {
        if (sends[me][i]->bytes > 0) {
          memmove(recvs[me][i]->data, sends[me][i]->data, sends[me][i]->bytes);
        }
      }
    } else {
      why = "its sends to itself and receives from itself differ";
    }

    std::vector<int> peers;
    for (int p = 0; p < n; ++p) {
      if (p != me && (!sends[p].empty() || !recvs[p].empty())) peers.push_back(p);
    }
    std::vector<Header> mine(n), theirs(n);
    std::vector<Flow> flows;
    for (int p : peers) {
      mine[p] = Header{kWireMagic, kP2p};
      mine[p].count = sends[p].size();
      mine[p].recvs = recvs[p].size();
      flows.emplace_back(comm->fds[p], p)
          .Out(&mine[p], sizeof(Header))
          .In(&theirs[p], sizeof(Header));
    }
    ncclResult_t result = Exchange(comm, flows, Clock::time_point::max());
    if (result != ncclSuccess) return Break(comm, result);

    // The sizes: each side's sends, then its receives.
    std::vector<std::vector<uint64_t>> my_sizes(n), their_sizes(n);
    flows.clear();
    for (int p : peers) {
      const Header& h = theirs[p];
      if (h.magic != kWireMagic || h.kind != kP2p) {
        return Break(comm,
                     Error(ncclInvalidUsage,
                           "rank %d: rank %d is in %s, not a send or receive with it (the ranks' "
                           "calls are out of step)",
                           me, p, KindName(h.kind)));
      }
      if (h.count + h.recvs > (uint64_t{1} << 24)) {
        return Break(comm, Error(ncclSystemError, "rank %d: garbage from rank %d", me, p));
      }
      for (const P2pOp* op : sends[p]) my_sizes[p].push_back(op->bytes);
      for (const P2pOp* op : recvs[p]) my_sizes[p].push_back(op->bytes);
      their_sizes[p].resize(h.count + h.recvs);
      flows.emplace_back(comm->fds[p], p)
          .Out(my_sizes[p].data(), my_sizes[p].size() * sizeof(uint64_t))
          .In(their_sizes[p].data(), their_sizes[p].size() * sizeof(uint64_t));
    }
    if ((result = Exchange(comm, flows, Clock::time_point::max())) != ncclSuccess) {
      return Break(comm, result);
    }

    flows.clear();
    for (int p : peers) {
      const std::vector<uint64_t>& s = their_sizes[p];
      const size_t their_sends = theirs[p].count;
      bool agree = their_sends == recvs[p].size() && s.size() - their_sends == sends[p].size();
      for (size_t i = 0; agree && i < recvs[p].size(); ++i) agree = s[i] == recvs[p][i]->bytes;
      for (size_t i = 0; agree && i < sends[p].size(); ++i) {
        agree = s[their_sends + i] == sends[p][i]->bytes;
      }
      if (!agree) {
        if (why.empty()) {
          why = "its sends to and receives from rank " + std::to_string(p) +
                " differ in number or size from that rank's receives and sends";
        }
        continue;
      }
      Flow& f = flows.emplace_back(comm->fds[p], p);
      for (const P2pOp* op : sends[p]) f.Out(op->data, op->bytes);
      for (const P2pOp* op : recvs[p]) f.In(op->data, op->bytes);
    }
    if ((result = Exchange(comm, flows, Clock::time_point::max())) != ncclSuccess) {
      return Break(comm, result);
    }
    return why.empty() ? ncclSuccess : Error(ncclInvalidUsage, "rank %d: %s", me, why.c_str());
  } catch (const std::exception& e) {
    return Error(ncclSystemError, "rank %d: ncclSend/ncclRecv: %s", me, e.what());
  }
}

// ncclSend and ncclRecv: checked, then queued in the group or, outside one, run alone.
ncclResult_t P2p(bool send, const void* data, size_t count, ncclDataType_t dtype, int peer,
                 ncclComm* comm) {
  const char* name = send ? "ncclSend" : "ncclRecv";
  const size_t size = TypeSize(dtype);
  ncclResult_t result = ncclSuccess;
  if (!Live(comm)) {
    result = NotLive(comm);
  } else if (size == 0) {
    result = Error(ncclInvalidArgument, "%s: unsupported data type %d", name, dtype);
  } else if (peer < 0 || peer >= comm->nranks) {
    result = Error(ncclInvalidArgument, "%s: peer %d of %d ranks", name, peer, comm->nranks);
  } else if (count > SIZE_MAX / 4 / size || (count > 0 && data == nullptr)) {
    result = Error(ncclInvalidArgument, "%s: a null buffer or a count of %zu", name, count);
  }
  if (result != ncclSuccess) {
    if (group.depth > 0 && group.error == ncclSuccess) group.error = result;
    return result;
  }
  const P2pOp op{comm, send, static_cast<char*>(const_cast<void*>(data)), count * size, peer};
  if (group.depth > 0) {
    try {
      group.ops.push_back(op);
      return ncclSuccess;
    } catch (const std::exception&) {
      return group.error = Error(ncclSystemError, "%s: out of memory", name);
    }
  }
  return RunP2p(comm, {op});
}

// ncclCommInitRank and ncclCommInitRankConfig.
ncclResult_t InitRank(ncclComm_t* out, int nranks, const ncclUniqueId& id, int rank,
                      const ncclConfig_t* config) {
  if (out == nullptr) return Error(ncclInvalidArgument, "ncclCommInitRank: null communicator");
  *out = nullptr;
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    return Error(ncclInvalidArgument, "ncclCommInitRank: rank %d of %d ranks", rank, nranks);
  }
  bool blocking = true;
  if (config != nullptr) {
    if (config->magic != 0xcafebeef ||
        config->size < offsetof(ncclConfig_t, blocking) + sizeof(int)) {
      return Error(ncclInvalidArgument,
                   "ncclCommInitRankConfig: a config not from NCCL_CONFIG_INITIALIZER");
    }
    blocking = config->blocking != 0;  // NCCL_CONFIG_UNDEF_INT blocks, as NCCL's default does
  }
  IdData data;
  memcpy(&data, id.internal, sizeof data);
  if (data.magic != kIdMagic) {
    return Error(ncclInvalidArgument, "ncclCommInitRank: an id not from ncclGetUniqueId");
  }
  int listener = -1;
  if (rank == 0) {
    std::lock_guard<std::mutex> lock(ids_mu);
    auto it = Listeners().find({data.port, data.nonce});
    if (it == Listeners().end()) {
      return Error(ncclInvalidUsage,
                   "ncclCommInitRank: rank 0 must be created once, in the process that called "
                   "ncclGetUniqueId for its id");
    }
    listener = it->second;
    Listeners().erase(it);
  }
  auto* comm = new (std::nothrow) ncclComm;
  if (comm == nullptr) {
    if (listener >= 0) close(listener);
    return Error(ncclSystemError, "ncclCommInitRank: out of memory");
  }
  comm->magic = kCommMagic;
  comm->rank = rank;
  comm->nranks = nranks;
  comm->fds.assign(nranks, -1);
  comm->listen_fd = listener;
  const Clock::time_point deadline = Clock::now() + ConnectTimeout();
  if (blocking) {
    const ncclResult_t result = Bootstrap(comm, data, deadline);
    if (result != ncclSuccess) {
      CloseAll(comm);
      delete comm;  // never seen by the caller
      return result;
    }
    comm->state = ncclSuccess;
    *out = comm;
    return ncclSuccess;
  }
  try {
    comm->init = std::thread([comm, data, deadline] {
      const ncclResult_t result = Bootstrap(comm, data, deadline);
      if (result != ncclSuccess) ShutdownAll(comm);
      comm->state = result;
    });
  } catch (const std::exception& e) {
    CloseAll(comm);
    delete comm;
    return Error(ncclSystemError, "ncclCommInitRankConfig: %s", e.what());
  }
  *out = comm;
  return ncclInProgress;
}

// ncclCommDestroy and ncclCommAbort: every call still running in it (on other threads) fails at
// once; then its connections close, which the other ranks see.
ncclResult_t Teardown(ncclComm* comm) {
  if (comm == nullptr) return NotLive(comm);
  {
    std::unique_lock<std::mutex> lock(comm->mu);
    if (comm->magic != kCommMagic) return NotLive(comm);
    comm->magic = 0;
    comm->aborted = true;
    for (int fd : comm->fds) {
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    if (comm->listen_fd >= 0) shutdown(comm->listen_fd, SHUT_RDWR);
    comm->idle.wait(lock, [comm] { return comm->active == 0; });
  }
  if (comm->init.joinable()) comm->init.join();
  CloseAll(comm);
  std::lock_guard<std::mutex> lock(dead_mu);
  try {
    Dead().push_back(comm);
  } catch (const std::exception&) {
    // Not kept reachable: only the leak checker would notice.
  }
  return ncclSuccess;
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  if (version == nullptr) return Error(ncclInvalidArgument, "ncclGetVersion: null version");
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  static const char* const kStrings[] = {
      "no error",
      "unhandled cuda error (run with NCCL_DEBUG=INFO for details)",
      "unhandled system error (run with NCCL_DEBUG=INFO for details)",
      "internal error - please report this issue to the NCCL developers",
      "invalid argument (run with NCCL_DEBUG=WARN for details)",
      "invalid usage (run with NCCL_DEBUG=WARN for details)",
      "remote process exited or there was a network error",
      "NCCL operation in progress",
  };
  return result >= 0 && result < ncclNumResults ? kStrings[result] : "unknown result code";
}

const char* ncclGetLastError(ncclComm_t /*comm*/) {
  // A copy per thread: another thread's error may overwrite the shared one meanwhile.
  thread_local char copy[sizeof last_error];
  std::lock_guard<std::mutex> lock(error_mu);
  memcpy(copy, last_error, sizeof copy);
  return copy;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  if (id == nullptr) return Error(ncclInvalidArgument, "ncclGetUniqueId: null id");
  uint32_t addr = htonl(INADDR_LOOPBACK);
  if (const char* host = getenv("FERRY_NCCL_EMULATOR_ADDRESS"); host != nullptr && *host != 0) {
    if (inet_pton(AF_INET, host, &addr) != 1) {
      return Error(ncclInvalidArgument, "FERRY_NCCL_EMULATOR_ADDRESS=%s is not an IPv4 address",
                   host);
    }
  }
  uint32_t port = 0;
  const int fd = Listen(addr, &port);
  if (fd < 0) return Error(ncclSystemError, "ncclGetUniqueId: cannot listen: %s", strerror(errno));
  uint64_t nonce = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^
                   (static_cast<uint64_t>(getpid()) << 40) ^ port;
  try {
    std::random_device random;
    nonce ^= (static_cast<uint64_t>(random()) << 32) ^ random();
  } catch (const std::exception&) {
    // The clock, pid and port alone still tell ids apart.
  }
  try {
    std::lock_guard<std::mutex> lock(ids_mu);
    Listeners()[{port, nonce}] = fd;
  } catch (const std::exception&) {
    close(fd);
    return Error(ncclSystemError, "ncclGetUniqueId: out of memory");
  }
  memset(id, 0, sizeof *id);
  const IdData data{kIdMagic, addr, port, 0, nonce};
  memcpy(id->internal, &data, sizeof data);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  return InitRank(comm, nranks, commId, rank, nullptr);
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank,
                                    ncclConfig_t* config) {
  return InitRank(comm, nranks, commId, rank, config);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  if (!Live(comm)) return NotLive(comm);
  if (asyncError == nullptr) {
    return Error(ncclInvalidArgument, "ncclCommGetAsyncError: null result");
  }
  *asyncError = static_cast<ncclResult_t>(comm->state.load());
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  if (!Live(comm)) return NotLive(comm);
  if (count == nullptr) return Error(ncclInvalidArgument, "ncclCommCount: null count");
  *count = comm->nranks;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  if (!Live(comm)) return NotLive(comm);
  if (rank == nullptr) return Error(ncclInvalidArgument, "ncclCommUserRank: null rank");
  *rank = comm->rank;
  return ncclSuccess;
}

ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int* device) {
  if (!Live(comm)) return NotLive(comm);
  if (device == nullptr) return Error(ncclInvalidArgument, "ncclCommCuDevice: null device");
  *device = 0;  // the emulator's one device
  return ncclSuccess;
}

// Every call has finished when it returns, so there is nothing left to flush.
ncclResult_t ncclCommFinalize(ncclComm_t comm) { return Live(comm) ? ncclSuccess : NotLive(comm); }

ncclResult_t ncclCommDestroy(ncclComm_t comm) { return Teardown(comm); }

ncclResult_t ncclCommAbort(ncclComm_t comm) { return Teardown(comm); }

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t /*stream*/) {
  return Collective(kAllReduce, sendbuff, recvbuff, count, datatype, op, 0, comm);
}

ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                           ncclDataType_t datatype, ncclComm_t comm, cudaStream_t /*stream*/) {
  return Collective(kAllGather, sendbuff, recvbuff, sendcount, datatype, ncclSum, 0, comm);
}

ncclResult_t ncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                               ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                               cudaStream_t /*stream*/) {
  return Collective(kReduceScatter, sendbuff, recvbuff, recvcount, datatype, op, 0, comm);
}

ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm,
                           cudaStream_t /*stream*/) {
  return Collective(kBroadcast, sendbuff, recvbuff, count, datatype, ncclSum, root, comm);
}

ncclResult_t ncclSend(const void* sendbuff, size_t count, ncclDataType_t datatype, int peer,
                      ncclComm_t comm, cudaStream_t /*stream*/) {
  return P2p(true, sendbuff, count, datatype, peer, comm);
}

ncclResult_t ncclRecv(void* recvbuff, size_t count, ncclDataType_t datatype, int peer,
                      ncclComm_t comm, cudaStream_t /*stream*/) {
  return P2p(false, recvbuff, count, datatype, peer, comm);
}

ncclResult_t ncclGroupStart() {
  ++group.depth;
  return ncclSuccess;
}

// Runs the group's sends and receives, one communicator after another in the order of their
// first call; collectives in a group ran when called.
ncclResult_t ncclGroupEnd() {
  if (group.depth == 0) return Error(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  if (--group.depth > 0) return ncclSuccess;
  std::vector<P2pOp> ops;
  ops.swap(group.ops);
  ncclResult_t result = group.error;
  group.error = ncclSuccess;
  try {
    std::vector<ncclComm*> comms;
    for (const P2pOp& op : ops) {
      if (std::find(comms.begin(), comms.end(), op.comm) == comms.end()) comms.push_back(op.comm);
    }
    for (ncclComm* comm : comms) {
      std::vector<P2pOp> mine;
      for (const P2pOp& op : ops) {
        if (op.comm == comm) mine.push_back(op);
      }
      const ncclResult_t r = RunP2p(comm, mine);
      if (result == ncclSuccess) result = r;
    }
  } catch (const std::exception&) {
    return Error(ncclSystemError, "ncclGroupEnd: out of memory");
  }
  return result;
}

}  // extern "C"
