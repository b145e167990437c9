#ifndef FERRY_CLIENT_DEVICE_H_
#define FERRY_CLIENT_DEVICE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ferry {

namespace detail {
class DeviceImpl;
}  // namespace detail

// What a device is: its backend and hardware, and, for a daemon, the limits of the session.
struct DeviceInfo {
  bool remote = false;
  std::string address;  // "127.0.0.1:7070"; empty for the local device
  std::string backend;  // "cpu", "cuda"
  std::string name;     // "CPU (2 threads)", "NVIDIA H100 80GB HBM3"
  int64_t memory_bytes = 0;
  std::string compute_capability;  // CUDA only: "9.0"
  std::string driver_version;      // CUDA only: the driver's CUDA version, "13.0"
  std::string runtime_version;     // CUDA only: the CUDA runtime ferry runs, "13.0"
  std::string server_version;      // remote only
  uint32_t protocol_version = 0;   // remote only
  int64_t chunk_bytes = 0;         // remote only: Upload/Download chunk size
  int64_t max_inline_bytes = 0;    // remote only: results up to this size come back inline
  bool bulk_channel = false;       // remote only: large transfers take the bulk channel now
};

// What a device has done so far, for tests and tuning: each remote call counts once.
struct DeviceStats {
  int64_t executes = 0;     // Execute calls (one per eval per device)
  int64_t graphs_sent = 0;  // executes that shipped the whole graph, not only its id
  int64_t uploads = 0;      // Upload streams (large host arrays, once each)
  int64_t upload_bytes = 0;
  int64_t downloads = 0;  // Download streams (results not already returned inline)
  int64_t download_bytes = 0;
  int64_t inline_bytes = 0;  // bytes of parameters bound inline and results returned inline
  int64_t released = 0;      // buffer ids handed back to the daemon
  // Buffers given to a step to write over in place (their arrays died with the eval: a KV
  // cache or a weight replaced by its update), instead of copied and released.
  int64_t donated = 0;
  int64_t bytes_sent = 0;      // serialized request bytes of all calls, and bulk-channel bytes
  int64_t bytes_received = 0;  // serialized response bytes of all calls, and bulk-channel bytes
  // Transport (graph cache, pipelining).
  int64_t round_trips = 0;        // times the client waited for the daemon's answer
  int64_t graphs_resent = 0;      // graphs shipped again because the daemon no longer held them
  int64_t pipeline_steps = 0;     // steps sent on the Pipeline stream (no wait of their own)
  int64_t reconnects = 0;         // new Pipeline streams and bulk connections after a broken one
  int64_t resumed_transfers = 0;  // uploads and downloads that went on where their connection broke
  // Same-host transfers (ConnectOptions::shared_memory, HostBuffer).
  int64_t shared_memory_transfers = 0;  // uploads and downloads through the shared region
  // Of all transfers, those from or into a HostBuffer the daemon maps: no copy here.
  int64_t in_place_transfers = 0;
  // Uploads and downloads on the bulk channel (ConnectOptions::bulk_channel).
  int64_t bulk_channel_transfers = 0;
  // Arrays that came to this device straight from another daemon (Array::to), never
  // through this process.
  int64_t peer_copies = 0;
  // Uploads the daemon's upload cache answered (CachedUploads): made resident there without
  // their bytes crossing the network, and those bytes.
  int64_t cached_uploads = 0;
  int64_t cached_upload_bytes = 0;
};

// A device's memory, as MLX's get_active_memory and get_peak_memory and PyTorch's
// memory_allocated and max_memory_allocated report it (memory_info).
struct MemoryInfo {
  // This session's arrays held on the device now (the local device: all its memory in use).
  int64_t active_bytes = 0;
  // The most this session's arrays, and one eval's intermediates and outputs besides them,
  // held at once since it began or reset_peak_memory (local: the most in use).
  int64_t peak_bytes = 0;
  // What this session may hold: the daemon's --max_session_memory, else --max_memory.
  int64_t limit_bytes = 0;
  // The device as a whole, every session's arrays and evals in progress together, and its
  // --max_memory.
  int64_t device_in_use_bytes = 0;
  int64_t device_limit_bytes = 0;
};

struct ConnectOptions {
  // How long connect() waits for the daemon before giving up with UNAVAILABLE.
  std::chrono::milliseconds timeout{5000};

  // Free text the daemon logs with the session.
  std::string client_name = "ferry client";

  // Credentials. With root_certs (PEM) the channel uses TLS, checking the daemon's
  // certificate against them; client_cert and client_key (PEM) answer a daemon that requires
  // client certificates (mTLS). A non-empty token is sent as "authorization: Bearer <token>"
  // on every call (on a plaintext channel too: keep those on trusted networks).
  std::string root_certs;
  std::string client_cert;
  std::string client_key;
  std::string token;
  // Send executes, small uploads and releases on the session's Pipeline stream (when the
  // daemon offers it), so eval() does not wait; false: one unary call per eval.
  bool pipeline = true;
  // Same host only: large uploads and downloads go through a POSIX shared-memory region the
  // daemon maps (one memcpy on each side), when the daemon offers it (ferryd
  // --shared_memory). Falls back to gRPC when it does not, or cannot map the region (the
  // daemon is on another host). The daemon must run as the same user (the region is 0600).
  bool shared_memory = false;
  // Large uploads and downloads (those that would take an Upload or Download call) go on a
  // plain TCP connection beside gRPC, straight between the socket and the array's memory,
  // when the daemon offers it (feature "bulk_tcp": a plaintext daemon not started with
  // --bulk_port=-1), in TLS with the channel's credentials when those are TLS. Falls back to
  // gRPC when the connection cannot be made.
  bool bulk_channel = true;
  // "host:port" that reaches the daemon's bulk channel when a proxy or port-forward stands
  // between (as `kubectl port-forward` does for the gRPC port); empty: the port the daemon
  // names, on the host of the gRPC address.
  std::string bulk_address;
  // Array::to between this daemon and another goes daemon to daemon when both offer it
  // (feature "peer_copy"); false: through this process, as when the daemons cannot reach
  // each other (two clusters, each behind its own port-forward).
  bool peer_copies = true;
  // Uploads inside a CachedUploads scope (ferry::load and load_safetensors are one) ask the
  // daemon's upload cache first, when it offers one (feature "upload_cache"); false: they
  // never do (nothing is hashed).
  bool upload_cache = true;
  // "host:port" where other daemons reach this daemon's bulk channel: arrays copied from it
  // to another daemon (Array::to) are fetched there, and groups' links (distributed::init)
  // dial it unless GroupOptions::peer_addresses says otherwise. Empty: bulk_address if set,
  // else the port the daemon names on the host of the gRPC address. Set it when the client
  // reaches the daemon through a tunnel or port-forward that other daemons cannot use.
  std::string peer_address;
  // A connection to the daemon silent this long is pinged (gRPC) or probed (the bulk
  // channel), and an eval waiting on a daemon that stopped answering (its host gone, a
  // partition) fails with UNAVAILABLE about as long after, rather than wait forever. The
  // daemon's --keepalive_seconds does the same for it. Zero: no pings.
  std::chrono::milliseconds keepalive{30000};
  // How long a small call that the daemon answers at once (memory_info's GetInfo, releases
  // sent without the pipeline, shared-memory registration) waits before failing with
  // DEADLINE_EXCEEDED: a daemon that is alive (its connection answers pings) but stuck then
  // fails the call instead of holding the program. Evals and transfers are not bounded by
  // it (ferry::cancel stops those). Zero: no deadline.
  std::chrono::milliseconds control_timeout{30000};
};

// While one is alive on a thread, that thread's uploads of 1 MiB or more to a daemon that
// keeps an upload cache (ferryd --upload_cache, on by default) first ask it for their
// bytes, named by their content digest (SHA-256, hashed here on all cores); the daemon
// keeps what it receives so. A program that starts again, or another session of the same
// token, then gets the same weights from the daemon's memory in one round trip instead of
// sending them again. ferry::load and ferry::load_safetensors upload inside one; wrap
// your own weight loading in one (not per-step data: each miss costs a hash and a round
// trip). Nests; the local device ignores it.
//
//   {
//     ferry::CachedUploads cached;
//     for (auto& [name, bytes] : my_checkpoint) weights[name] = ferry::from_host(...);
//   }
class CachedUploads {
 public:
  CachedUploads();
  ~CachedUploads();
  CachedUploads(const CachedUploads&) = delete;
  CachedUploads& operator=(const CachedUploads&) = delete;

  // Whether this thread is inside one now.
  static bool active();
};

// Where arrays live and graphs run: the local device (this process, the CPU backend) or a
// session on a ferryd daemon. A cheap shared handle: copies refer to the same device, and a
// remote session closes when the last copy (and the last array on it) goes.
class Device {
 public:
  explicit Device(std::shared_ptr<detail::DeviceImpl> impl);

  // "local (cpu: CPU (2 threads))", "remote 127.0.0.1:7070 (cpu: CPU (2 threads))".
  std::string description() const;
  DeviceInfo info() const;
  DeviceStats stats() const;

  bool operator==(const Device& other) const { return impl_ == other.impl_; }
  bool operator!=(const Device& other) const { return impl_ != other.impl_; }

  detail::DeviceImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<detail::DeviceImpl> impl_;
};

// Opens a session on the ferryd at `address` ("host:port") at once. Throws Error with
// UNAVAILABLE naming the address if it cannot be reached within options.timeout, and the
// daemon's error if it refuses the session (e.g. no common protocol version).
Device connect(const std::string& address, const ConnectOptions& options = {});

// This process's device: the same executor and CPU kernels ferryd drives. One per process.
Device local();

// The device the environment names, so that one binary runs here or on a GPU node without a
// change: FERRY_DEVICE="host:port" connects to that ferryd (a new session each call), with
// the bearer token FERRY_TOKEN and TLS from the PEM files FERRY_TLS_CA (the CA that signed
// the daemon's certificate) and FERRY_TLS_CERT, FERRY_TLS_KEY (a client certificate), as
// ferryctl's flags of those names; unset, empty or "local": local(). Throws connect's Error,
// or NOT_FOUND for a file that cannot be read, its message naming the variable.
Device device_from_environment();

// The device ops use when none is given: device_from_environment() (local() unless
// FERRY_DEVICE names a daemon) until set_default_device is called.
Device default_device();
void set_default_device(const Device& device);

}  // namespace ferry

#endif  // FERRY_CLIENT_DEVICE_H_
