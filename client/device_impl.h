#ifndef FERRY_CLIENT_DEVICE_IMPL_H_
#define FERRY_CLIENT_DEVICE_IMPL_H_

// Internal to the client library: what a device must do for the Array layer.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/device.h"
#include "core/graph.h"
#include "core/page_aligned.h"

namespace ferry::detail {

// A materialized value on one device: a kernels::Tensor locally, a resident buffer (or
// host bytes not yet uploaded) on a daemon. Only its own device looks inside.
class Buffer {
 public:
  explicit Buffer(core::TensorType type) : type_(std::move(type)) {}
  virtual ~Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  const core::TensorType& type() const { return type_; }

 private:
  core::TensorType type_;
};

// Host memory behind a ferry::HostBuffer (DeviceImpl::AllocateHost): page-aligned
// (core::kPageBytes, as cudaHostAlloc's), and mapped by the device's daemon where it can
// be, so that transfers from and into it take no copy in this process.
class HostMemory {
 public:
  HostMemory(char* data, size_t size, bool in_place)
      : data_(data), size_(size), in_place_(in_place) {}
  virtual ~HostMemory() = default;
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }
  bool in_place() const { return in_place_; }

 private:
  char* const data_;
  const size_t size_;
  const bool in_place_;
};

// What JoinGroup asks of one rank's daemon (proto: JoinGroupRequest).
// Lets distributed::init stop the other ranks' JoinGroup calls once one has failed for good,
// rather than their waiting out the link timeout. Thread-safe.
class JoinCancellation {
 public:
  // Registers how to stop one call in flight: its id, or -1 when Cancel came first (then
  // the call should not start).
  int Add(std::function<void()> stop);
  void Remove(int id);
  // Stops every call registered, and refuses later ones.
  void Cancel();

 private:
  std::mutex mu_;
  bool cancelled_ = false;
  int next_id_ = 0;
  std::map<int, std::function<void()>> stops_;
};

struct GroupJoin {
  uint64_t handle = 0;
  int rank = 0;
  int size = 1;
  std::vector<std::string> peer_addresses;  // by rank
  std::string key;                          // 16 random bytes
  std::chrono::milliseconds timeout{60000};
  bool device_collectives = false;  // every rank's daemon offers them
  // Shared by the group's ranks (copies of one GroupJoin).
  std::shared_ptr<JoinCancellation> cancellation = std::make_shared<JoinCancellation>();
};

// A device behind ferry::Device. Both implementations run the same core::Graph; errors are
// thrown as ferry::Error. Thread-safe.
// What eval knows of a graph beyond its parameters' values (Lower).
struct ExecuteHints {
  // donatable[i]: only this graph uses parameter i's array, which the eval drops; a device
  // may then give its buffer to the run to write over (a daemon's "donation").
  std::vector<bool> donatable;
  // The outputs from this one on are not eval's targets but arrays the program holds that
  // were computed on the way (kept as MLX keeps them): a daemon returns them inline only
  // once the program has read them.
  size_t first_held_output = 0;
};

class DeviceImpl {
 public:
  virtual ~DeviceImpl() = default;

  virtual std::string description() const = 0;
  virtual DeviceInfo info() const = 0;
  virtual DeviceStats stats() const = 0;
  // Its memory once the work sent so far has run; `reset_peak`: the peak starts again
  // (after the figures returned).
  virtual MemoryInfo Memory(bool reset_peak) = 0;

  // A buffer holding a copy of the bytes of `type` at `data`, which the caller keeps only
  // for the call (a daemon uploads a large array here, straight from `data`).
  virtual std::shared_ptr<Buffer> FromHostBytes(const core::TensorType& type, const void* data) = 0;

  // Buffers of `types`, array i's bytes written by `read(i, dst)` into `dst` (its type's
  // size), which may be asked more than once (a file's tensors: ferry::load). This does
  // FromHostBytes for each; a daemon with an upload cache first asks it for all the large
  // ones inside a CachedUploads scope together, in one round trip, and reads only the
  // others again.
  using HostReader = std::function<void(size_t index, char* dst)>;
  virtual std::vector<std::shared_ptr<Buffer>> FromHostReader(
      const std::vector<core::TensorType>& types, const HostReader& read);

  // Makes `buffers` resident, so later executes need not resend them (a daemon uploads
  // host arrays here: eval() of a host array means "put it on the device"); a no-op where
  // buffers are always resident.
  virtual void MakeResident(const std::vector<std::shared_ptr<Buffer>>& buffers) = 0;

  // Runs `graph` with parameter i bound to parameters[i]; one buffer per graph output.
  // Shared, so a daemon's device can keep it (for a resend) without copying it.
  virtual std::vector<std::shared_ptr<Buffer>> Execute(
      std::shared_ptr<const core::Graph> graph,
      const std::vector<std::shared_ptr<Buffer>>& parameters, const ExecuteHints& hints) = 0;

  // Whether Execute returns before its graph has run (a daemon's pipeline), rather than
  // once computed.
  virtual bool ExecuteReturnsAtOnce() const { return false; }

  // Copies the buffer's bytes (exactly its type's size) into `dst`.
  virtual void Read(Buffer& buffer, void* dst) = 0;

  // `bytes` of host memory for transfers with this device (ferry::HostBuffer). By default
  // plain page-aligned memory; a daemon on this host maps it, when it can.
  virtual std::shared_ptr<HostMemory> AllocateHost(size_t bytes);

  // The buffer's bytes where this process can read them in place without waiting (the
  // local device's memory, a daemon's array not uploaded yet), else null. Valid while the
  // buffer lives.
  virtual const void* HostBytes(Buffer&) { return nullptr; }

  // A buffer here holding the value of `buffer`, which lives on `source` (Array::to). By
  // default through this process: made here from the source's bytes in place (HostBytes),
  // else read from the source first. A daemon fetches it straight from another daemon
  // where both can.
  virtual std::shared_ptr<Buffer> CopyFrom(DeviceImpl& source,
                                           const std::shared_ptr<Buffer>& buffer);

  // Waits until `buffers` are computed; throws the failure of the step that computed one,
  // or of an earlier step not reported yet. Executes may return before their outputs are
  // computed (a daemon's pipeline); where they do not, there is nothing to wait for.
  virtual void Wait(const std::vector<std::shared_ptr<Buffer>>&) {}

  // Waits until everything sent so far has run; throws the earliest failure not reported.
  virtual void Synchronize() {}
  // Stops the executes in flight (ferry::cancel); thread-safe.
  virtual void Cancel() = 0;
  // Where other daemons reach this session's daemon for a group's links ("host:port"), or
  // "" where the device joins no groups (the local device, a daemon without collectives).
  virtual std::string PeerAddress() const { return ""; }
  // Whether the daemon runs a group's collectives between device memories (NCCL between
  // GPUs) when every rank's does.
  virtual bool OffersDeviceCollectives() const { return false; }
  // Joins this session to a group; blocks until its rank is linked. Returns how the group's
  // collectives move (Group::backend()). Throws ferry::Error.
  virtual std::string JoinGroup(const GroupJoin& join);
};

// 16 random bytes from the operating system: a group's key, an offer's ticket.
std::string RandomKey();

std::shared_ptr<DeviceImpl> MakeLocalDevice();
std::shared_ptr<DeviceImpl> ConnectRemoteDevice(const std::string& address,
                                                const ConnectOptions& options);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_DEVICE_IMPL_H_
