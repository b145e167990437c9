#ifndef FERRY_CLIENT_REMOTE_SESSION_H_
#define FERRY_CLIENT_REMOTE_SESSION_H_

// Internal to the client library: a session on a ferryd daemon, the connection and the
// session's mutable bookkeeping (buffer ids, releases, shared regions, the bulk channel,
// the pipeline stream, statistics), shared by the remote device and its buffers.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/bulk_socket.h"
#include "client/device.h"
#include "client/error.h"
#include "client/known_graphs.h"
#include "client/output_reads.h"
#include "client/pipeline.h"
#include "client/shared_memory.h"
#include "core/tls_stream.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"

namespace ferry::detail {

// Host arrays up to this size are bound inline on every execute instead of uploaded.
inline constexpr size_t kInlineBindingBytes = 64 * 1024;

// The features a daemon may offer (OpenSessionResponse.features).
inline constexpr char kFeaturePipeline[] = "pipeline";
inline constexpr char kFeatureSharedMemory[] = "shared_memory";
inline constexpr char kFeatureBulkTcp[] = "bulk_tcp";
inline constexpr char kFeatureCollectives[] = "collectives";
inline constexpr char kFeatureResumableTransfers[] = "resumable_transfers";
inline constexpr char kFeaturePeerCopy[] = "peer_copy";
inline constexpr char kFeatureDeviceCollectives[] = "device_collectives";
inline constexpr char kFeatureUploadCache[] = "upload_cache";
inline constexpr char kFeatureDonation[] = "donation";

absl::Status FromGrpc(const grpc::Status& status);
// A failure as the Error the user sees; UNAVAILABLE names the daemon's address.
Error ToError(const absl::Status& status, const std::string& address);
Error ToError(const grpc::Status& status, const std::string& address);

// The connection and the session's mutable bookkeeping, shared with the buffers so they
// can queue their release when dropped.
class RemoteSession {
 public:
  RemoteSession(std::string address, std::shared_ptr<grpc::Channel> channel,
                std::shared_ptr<grpc::Channel> bulk_channel, std::string token);

  // Names the call with a fresh x-request-id (the daemon logs it on every line of the call)
  // and adds the bearer token, if any.
  void Prepare(grpc::ClientContext& context);
  // Prepare, and a deadline of control_timeout() for a small call that a daemon answers at
  // once (GetInfo, Release, RegisterSharedMemory).
  void PrepareControl(grpc::ClientContext& context);
  // ConnectOptions::control_timeout (zero: none). Set once, at connect.
  std::chrono::milliseconds control_timeout() const { return control_timeout_; }
  void set_control_timeout(std::chrono::milliseconds timeout) { control_timeout_ = timeout; }

  const std::string& address() const { return address_; }
  v1::Ferry::Stub& stub() { return *stub_; }
  // Upload and Download streams (raw messages, client/bulk_call.h): their own connection,
  // so a large transfer never queues a small execute behind its frames.
  grpc::GenericStub& bulk_stub() { return *bulk_stub_; }
  const std::string& id() const { return opened_.session_id(); }
  const v1::OpenSessionResponse& opened() const { return opened_; }
  void set_opened(v1::OpenSessionResponse opened) { opened_ = std::move(opened); }

  // The session's Pipeline stream, when the daemon offers one: executes, small uploads and
  // releases go out on it without waiting. Null otherwise (unary calls, one per eval).
  PipelineStream* pipeline() { return pipeline_.get(); }
  void OpenPipeline();
  // Ends the stream after the daemon has run every step sent.
  void ClosePipeline() { pipeline_.reset(); }

  // Same-host transfers, when asked for and the daemon offers them.
  void EnableSharedMemory();
  // The bulk channel, when the daemon offers one and it can be reached; else gRPC carries
  // the bytes (a firewalled port, a unix-socket target).
  // Beside a TLS channel it speaks TLS too, with `tls` (the same roots and certificate).
  void OpenBulkChannel(const std::string& address, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds keepalive,
                       std::shared_ptr<const core::TlsContext> tls);
  // Unary calls in flight that ferry::cancel stops: executes without a pipeline, and the
  // calls of transfers.
  void AddExecute(grpc::ClientContext* context);
  void RemoveExecute(grpc::ClientContext* context);
  void CancelExecutes();
  // CancelExecutes calls so far.
  int64_t cancels() const { return cancels_.load(); }

  // A transfer in flight, for ferry::cancel, which ends the bulk connection under it
  // (InterruptTransfers). Its code asks Cancelled() where it would go on or try again.
  class Transfer {
   public:
    explicit Transfer(RemoteSession& session) : session_(session), cancels_(session.cancels()) {
      ++session_.transfers_;
    }
    ~Transfer() { --session_.transfers_; }
    bool Cancelled() const { return session_.cancels() != cancels_; }

   private:
    RemoteSession& session_;
    const int64_t cancels_;
  };
  void InterruptTransfers();

  // The bulk channel's address the client was told to use ("" when its target's host).
  const std::string& bulk_address() const { return bulk_address_; }
  // Where other daemons reach this one's bulk channel (ConnectOptions::peer_address), "" for
  // the default. Set once, at connect.
  const std::string& peer_address() const { return peer_address_; }
  void set_peer_address(std::string address) { peer_address_ = std::move(address); }
  // ConnectOptions::peer_copies. Set once, at connect.
  bool peer_copies() const { return peer_copies_; }
  void set_peer_copies(bool on) { peer_copies_ = on; }
  void set_upload_cache(bool on) { upload_cache_ = on; }  // ConnectOptions::upload_cache
  // Whether the daemon offers `feature` (OpenSessionResponse.features).
  bool Offers(const char* feature) const;
  // Null when there is no bulk channel. One whose connection broke (a network change, a
  // daemon gone silent) is dialled again, at most once a second; gRPC carries the bytes
  // meanwhile.
  std::shared_ptr<BulkSocket> bulk_socket();

  // Whether the daemon keeps what arrived of a broken upload and starts a download part
  // way, so a transfer whose connection breaks goes on where it stopped.
  bool resumable() const { return Offers(kFeatureResumableTransfers); }
  // Whether an upload of `bytes` asks the daemon's upload cache first (CachedUploads).
  bool CachesUpload(size_t bytes);
  // After a transfer broke: the bulk channel dialled again at once (no wait for the
  // once-a-second limit); null when it is not offered or does not answer.
  std::shared_ptr<BulkSocket> RedialBulk();
  // After a transfer broke: asks the transfers' gRPC channel to connect now (it may be
  // backing off) and waits up to 5 s for it.
  void AwaitGrpcTransfers();

  // Whether transfers go through a shared region (asked for, offered, and not given up).
  bool SharedMemoryOn();
  // Held for a whole shared-memory transfer: one region serves one transfer at a time.
  std::mutex& shared_mu() { return shared_mu_; }
  // The staging region, registered with the daemon and at least `bytes` large; null when
  // shared memory is off or the daemon could not map a region (then gRPC carries the
  // bytes from here on). Call with shared_mu() held.
  SharedRegion* StagingRegion(size_t bytes);

  // A fresh region of `size` bytes that the daemon has mapped (its name already removed
  // from /dev/shm), or null when it cannot: another host or user, a daemon without the
  // feature or past its regions per session, /dev/shm full. A daemon that cannot see this
  // host's regions (another host or user) is not asked again.
  std::unique_ptr<SharedRegion> MappedRegion(size_t size);
  void UnregisterRegion(const std::string& name);

  // Host buffers the daemon has mapped (ferry::HostBuffer), by their first byte.
  void AddHostRegion(const SharedRegion* region);
  void RemoveHostRegion(const SharedRegion* region);
  // Where the daemon finds the `nbytes` at `data` in place: a host buffer's region and
  // the offset in it; nullopt when they are not all in one.
  struct SharedPlace {
    std::string name;
    uint64_t offset = 0;
  };
  std::optional<SharedPlace> HostPlace(const void* data, size_t nbytes);

  int64_t chunk_bytes() const;
  // Payload bytes per Upload or Download message, under the daemon's message limit.
  size_t bulk_chunk_bytes() const;
  // Whether a host array this large is uploaded from the caller's memory when made (on the
  // bulk channel, or an Upload call), else kept to ride a pipeline step or be bound inline.
  bool StreamsUpload(size_t bytes) const;

  uint64_t NewBufferId();

  void QueueRelease(uint64_t buffer_id);

  std::vector<uint64_t> TakeReleases();

  // The graph ids the daemon holds, shared with every session to the same address.
  KnownGraphs& graphs() { return *graphs_; }
  // Which outputs of each graph the program has read, for what comes back inline.
  OutputReads& output_reads() { return output_reads_; }

  template <typename F>
  void UpdateStats(F update) {
    std::lock_guard<std::mutex> lock(mu_);
    update(stats_);
  }
  DeviceStats stats();

 private:
  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ferry::Stub> stub_;
  std::shared_ptr<grpc::Channel> bulk_channel_;
  std::unique_ptr<grpc::GenericStub> bulk_stub_;
  const std::string token_;
  v1::OpenSessionResponse opened_;
  std::mt19937_64 random_{std::random_device{}()};  // request ids: unique, not secret
  std::shared_ptr<KnownGraphs> graphs_;
  OutputReads output_reads_;
  std::unique_ptr<PipelineStream> pipeline_;
  std::mutex shared_mu_;
  bool shared_memory_ = false;               // guarded by shared_mu_ after connect
  std::atomic<bool> regions_unseen_{false};  // the daemon could not map this host's regions
  std::unique_ptr<SharedRegion> region_;     // guarded by shared_mu_
  std::mutex host_regions_mu_;
  std::map<const char*, const SharedRegion*> host_regions_;  // guarded by host_regions_mu_
  // A new connection of the session to its bulk channel; null, with `why`, when it fails.
  std::unique_ptr<BulkSocket> DialBulk(std::string* why);

  std::mutex executes_mu_;
  std::set<grpc::ClientContext*> executes_;  // guarded by executes_mu_
  std::atomic<int64_t> cancels_{0};
  std::atomic<int> transfers_{0};            // Transfer scopes open
  std::mutex bulk_mu_;                       // guards bulk_socket_ and bulk_dialled_
  std::shared_ptr<BulkSocket> bulk_socket_;  // redialled when broken
  std::chrono::steady_clock::time_point bulk_dialled_;
  bool bulk_offered_ = false;  // set once, at connect: the first dial worked
  std::string bulk_address_;   // set once, at connect, as the dial's settings
  std::string peer_address_;   // set once, at connect
  bool peer_copies_ = true;    // set once, at connect
  bool upload_cache_ = true;   // set once, at connect
  std::chrono::milliseconds bulk_timeout_{0};
  std::chrono::milliseconds bulk_keepalive_{0};
  std::chrono::milliseconds control_timeout_{0};  // set once, at connect
  std::shared_ptr<const core::TlsContext> bulk_tls_;

  std::mutex mu_;
  uint64_t next_buffer_id_ = 1;  // 0 means "not kept" on the wire
  std::vector<uint64_t> releases_;
  DeviceStats stats_;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_REMOTE_SESSION_H_
