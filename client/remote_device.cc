// A session on a ferryd daemon: graphs go out as Execute calls (or just their id once the
// daemon holds them), large host arrays are uploaded once and stay resident, small ones
// ride inline unless evaluated explicitly, and results come back inline when small or by
// Download when read.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bulk_call.h"
#include "client/bulk_socket.h"
#include "client/device.h"
#include "client/device_impl.h"
#include "client/error.h"
#include "client/known_graphs.h"
#include "client/output_reads.h"
#include "client/pipeline.h"
#include "client/profile_log.h"
#include "client/shared_memory.h"
#include "client/status.h"
#include "core/bytes_field.h"
#include "core/codec.h"
#include "core/content_digest.h"
#include "core/copy_in_halves.h"
#include "core/fingerprint.h"
#include "core/page_aligned.h"
#include "grpcpp/grpcpp.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"

namespace ferry::detail {
namespace {

// Host arrays up to this size are bound inline on every execute instead of uploaded.
constexpr size_t kInlineBindingBytes = 64 * 1024;
// Results up to this size come back inside the Execute reply (capped by the daemon's
// max_inline_bytes); larger ones stay resident until read. Returning every result up to
// the daemon's 1 MiB made each training step send its weights back, and on a 1 ms link the
// reply's HTTP/2 flow-control window updates cost about 2 more round trips per step.
constexpr int64_t kInlineResultBytes = 64 * 1024;
// Of the results a graph evaluated again returns that the program has never read, this many
// bytes in all still come back inline: reading them later would cost a round trip.
constexpr int64_t kUnreadInlineBytes = 4 * 1024;
constexpr int64_t kDefaultChunkBytes = 1 << 20;
constexpr int kBulkFrameBytes = (1 << 24) - 1;  // the largest HTTP/2 allows
constexpr int kBulkWindowBytes = 8 << 20;
// Payload per Upload/Download message: a message is handed over only once all of it has
// arrived, so smaller messages let the receiver copy one while the next is on the wire;
// 4 MiB moved 16 MiB-1 GiB downloads from 0.4-0.66 to 0.53-0.99 of raw TCP against 16 MiB
// messages (1 MiB measured the same as 4).
constexpr int64_t kBulkChunkBytes = 4 << 20;
constexpr char kUploadMethod[] = "/ferry.v1.Ferry/Upload";
constexpr char kDownloadMethod[] = "/ferry.v1.Ferry/Download";
constexpr char kFeaturePipeline[] = "pipeline";
constexpr char kFeatureSharedMemory[] = "shared_memory";
constexpr char kFeatureBulkTcp[] = "bulk_tcp";
constexpr char kFeatureCollectives[] = "collectives";
constexpr char kFeatureResumableTransfers[] = "resumable_transfers";
constexpr char kFeaturePeerCopy[] = "peer_copy";
constexpr char kFeatureUploadCache[] = "upload_cache";
// Smaller uploads never ask the upload cache: a miss costs a round trip.
constexpr size_t kCachedUploadMinBytes = size_t{1} << 20;

// Threads that hash an upload for the upload cache: this machine's cores, up to 8.
int DigestThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}
// Tries of a large transfer whose connection breaks: each goes on where the last stopped.
constexpr int kTransferAttempts = 3;
// A bulk port that does not answer (a firewall) costs at most this once per session.
constexpr std::chrono::milliseconds kBulkConnectTimeout{2000};
// The first shared region's size; it grows to the largest transfer. Pages are only
// allocated when touched.
constexpr size_t kInitialSharedBytes = size_t{64} << 20;
constexpr uint32_t kProtocolVersion = 1;
// Trailing metadata naming the graph_id an Execute failed for lack of (server/graph_cache.h).
constexpr char kMissingGraphMetadata[] = "ferry-missing-graph-id-bin";

bool Memcpy(char* dst, const char* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return true;
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

Error ToError(const absl::Status& status, const std::string& address) {
  const auto code = static_cast<ErrorCode>(status.code());
  if (code == ErrorCode::kUnavailable) {
    return Error(code, absl::StrCat("ferryd at ", address, " is unavailable: ", status.message()));
  }
  return Error(code, std::string(status.message()));
}

Error ToError(const grpc::Status& status, const std::string& address) {
  return ToError(FromGrpc(status), address);
}

// The credentials `options` describe: TLS when it names root certificates or a client
// certificate, else plaintext.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const ConnectOptions& options) {
  if (options.root_certs.empty() && options.client_cert.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.root_certs;
  ssl.pem_cert_chain = options.client_cert;
  ssl.pem_private_key = options.client_key;
  return grpc::SslCredentials(ssl);
}

// The connection and the session's mutable bookkeeping, shared with the buffers so they
// can queue their release when dropped.
class Session {
 public:
  Session(std::string address, std::shared_ptr<grpc::Channel> channel,
          std::shared_ptr<grpc::Channel> bulk_channel, std::string token)
      : address_(std::move(address)),
        channel_(std::move(channel)),
        stub_(v1::Ferry::NewStub(channel_)),
        bulk_channel_(std::move(bulk_channel)),
        bulk_stub_(std::make_unique<grpc::GenericStub>(bulk_channel_)),
        token_(std::move(token)),
        graphs_(KnownGraphs::ForDaemon(address_)) {}

  // Names the call with a fresh x-request-id (the daemon logs it on every line of the call)
  // and adds the bearer token, if any.
  void Prepare(grpc::ClientContext& context) {
    char id[17];
    uint64_t bits;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bits = random_();
    }
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(bits));
    context.AddMetadata("x-request-id", id);
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
  }

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
  void OpenPipeline() {
    if (!Offers(kFeaturePipeline)) return;
    pipeline_ = std::make_unique<PipelineStream>(
        *stub_, id(), opened_.limits().pipeline_window(), address_,
        [this](grpc::ClientContext& context) { Prepare(context); },
        [this](std::vector<uint64_t> ids) {
          for (uint64_t id : ids) QueueRelease(id);
        },
        channel_);
  }
  // Ends the stream after the daemon has run every step sent.
  void ClosePipeline() { pipeline_.reset(); }

  // Same-host transfers, when asked for and the daemon offers them.
  void EnableSharedMemory() {
    shared_memory_ = SharedRegion::Supported() && Offers(kFeatureSharedMemory);
  }
  // The bulk channel, when the daemon offers one and it can be reached; else gRPC carries
  // the bytes (a firewalled port, a unix-socket target).
  // Beside a TLS channel it speaks TLS too, with `tls` (the same roots and certificate).
  void OpenBulkChannel(const std::string& address, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds keepalive,
                       std::shared_ptr<const core::TlsContext> tls) {
    bulk_address_ = address;
    if (!Offers(kFeatureBulkTcp)) return;
    bulk_timeout_ = timeout;
    bulk_keepalive_ = keepalive;
    bulk_tls_ = std::move(tls);
    std::string why;
    bulk_socket_ = DialBulk(&why);
    if (bulk_socket_ == nullptr) {
      std::fprintf(stderr, "ferry: no bulk channel to %s (transfers go over gRPC): %s\n",
                   address_.c_str(), why.c_str());
    }
    bulk_offered_ = bulk_socket_ != nullptr;
  }
  // Unary calls in flight that ferry::cancel stops: executes without a pipeline, and the
  // calls of transfers.
  void AddExecute(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(executes_mu_);
    executes_.insert(context);
  }
  void RemoveExecute(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(executes_mu_);
    executes_.erase(context);
  }
  void CancelExecutes() {
    std::lock_guard<std::mutex> lock(executes_mu_);
    ++cancels_;
    for (grpc::ClientContext* context : executes_) context->TryCancel();
  }
  // CancelExecutes calls so far.
  int64_t cancels() const { return cancels_.load(); }

  // A transfer in flight, for ferry::cancel, which ends the bulk connection under it
  // (InterruptTransfers). Its code asks Cancelled() where it would go on or try again.
  class Transfer {
   public:
    explicit Transfer(Session& session) : session_(session), cancels_(session.cancels()) {
      ++session_.transfers_;
    }
    ~Transfer() { --session_.transfers_; }
    bool Cancelled() const { return session_.cancels() != cancels_; }

   private:
    Session& session_;
    const int64_t cancels_;
  };
  void InterruptTransfers() {
    if (transfers_.load() == 0) return;
    std::lock_guard<std::mutex> lock(bulk_mu_);
    if (bulk_socket_ != nullptr) bulk_socket_->Interrupt();
  }

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
  bool Offers(const char* feature) const {
    const auto& features = opened_.features();
    return std::find(features.begin(), features.end(), feature) != features.end();
  }
  // Null when there is no bulk channel. One whose connection broke (a network change, a
  // daemon gone silent) is dialled again, at most once a second; gRPC carries the bytes
  // meanwhile.
  std::shared_ptr<BulkSocket> bulk_socket() {
    std::lock_guard<std::mutex> lock(bulk_mu_);
    if (bulk_socket_ != nullptr && !bulk_socket_->broken()) return bulk_socket_;
    const auto now = std::chrono::steady_clock::now();
    if (!bulk_offered_ || now - bulk_dialled_ < std::chrono::seconds(1)) return nullptr;
    bulk_dialled_ = now;
    std::string why;
    bulk_socket_ = DialBulk(&why);
    if (bulk_socket_ != nullptr) {
      UpdateStats([](DeviceStats& stats) { ++stats.reconnects; });
    }
    return bulk_socket_;
  }

  // Whether the daemon keeps what arrived of a broken upload and starts a download part
  // way, so a transfer whose connection breaks goes on where it stopped.
  bool resumable() const { return Offers(kFeatureResumableTransfers); }
  // Whether an upload of `bytes` asks the daemon's upload cache first (CachedUploads).
  bool CachesUpload(size_t bytes) {
    return upload_cache_ && bytes >= kCachedUploadMinBytes && ferry::CachedUploads::active() &&
           Offers(kFeatureUploadCache) && !SharedMemoryOn();
  }
  // After a transfer broke: the bulk channel dialled again at once (no wait for the
  // once-a-second limit); null when it is not offered or does not answer.
  std::shared_ptr<BulkSocket> RedialBulk() {
    {
      std::lock_guard<std::mutex> lock(bulk_mu_);
      bulk_dialled_ = {};
    }
    return bulk_socket();
  }
  // After a transfer broke: asks the transfers' gRPC channel to connect now (it may be
  // backing off) and waits up to 5 s for it.
  void AwaitGrpcTransfers() {
    grpc::experimental::ChannelResetConnectionBackoff(bulk_channel_.get());
    bulk_channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  // Whether transfers go through a shared region (asked for, offered, and not given up).
  bool SharedMemoryOn() {
    std::lock_guard<std::mutex> lock(shared_mu_);
    return shared_memory_;
  }
  // Held for a whole shared-memory transfer: one region serves one transfer at a time.
  std::mutex& shared_mu() { return shared_mu_; }
  // The staging region, registered with the daemon and at least `bytes` large; null when
  // shared memory is off or the daemon could not map a region (then gRPC carries the
  // bytes from here on). Call with shared_mu() held.
  SharedRegion* StagingRegion(size_t bytes) {
    if (!shared_memory_) return nullptr;
    if (region_ != nullptr && region_->size() >= bytes) return region_.get();
    const size_t size =
        std::max(bytes, region_ != nullptr ? 2 * region_->size() : kInitialSharedBytes);
    if (region_ != nullptr) {
      UnregisterRegion(region_->name());
      region_.reset();
    }
    std::unique_ptr<SharedRegion> fresh = MappedRegion(size);
    if (fresh == nullptr) {
      shared_memory_ = false;  // another host, another user, /dev/shm full: gRPC carries the bytes
      return nullptr;
    }
    region_ = std::move(fresh);
    return region_.get();
  }

  // A fresh region of `size` bytes that the daemon has mapped (its name already removed
  // from /dev/shm), or null when it cannot: another host or user, a daemon without the
  // feature or past its regions per session, /dev/shm full. A daemon that cannot see this
  // host's regions (another host or user) is not asked again.
  std::unique_ptr<SharedRegion> MappedRegion(size_t size) {
    if (!SharedRegion::Supported() || !Offers(kFeatureSharedMemory) || regions_unseen_) {
      return nullptr;
    }
    std::unique_ptr<SharedRegion> region;
    try {
      region = SharedRegion::Create(size);
    } catch (const Error&) {
      return nullptr;
    }
    v1::RegisterSharedMemoryRequest request;
    request.set_session_id(id());
    request.set_name(region->name());
    request.set_size_bytes(region->size());
    request.set_nonce(region->nonce());
    v1::RegisterSharedMemoryResponse response;
    grpc::ClientContext context;
    Prepare(context);
    grpc::Status status = stub_->RegisterSharedMemory(&context, request, &response);
    UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    if (!status.ok()) {
      const grpc::StatusCode code = status.error_code();
      if (code == grpc::StatusCode::NOT_FOUND || code == grpc::StatusCode::PERMISSION_DENIED ||
          code == grpc::StatusCode::FAILED_PRECONDITION) {
        regions_unseen_ = true;
      }
      return nullptr;
    }
    region->Unlink();  // the daemon has it mapped; nothing stays in /dev/shm
    return region;
  }
  void UnregisterRegion(const std::string& name) {
    v1::UnregisterSharedMemoryRequest request;
    request.set_session_id(id());
    request.set_name(name);
    v1::UnregisterSharedMemoryResponse response;
    grpc::ClientContext context;
    Prepare(context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    stub_->UnregisterSharedMemory(&context, request, &response);  // best effort
  }

  // Host buffers the daemon has mapped (ferry::HostBuffer), by their first byte.
  void AddHostRegion(const SharedRegion* region) {
    std::lock_guard<std::mutex> lock(host_regions_mu_);
    host_regions_[region->data()] = region;
  }
  void RemoveHostRegion(const SharedRegion* region) {
    std::lock_guard<std::mutex> lock(host_regions_mu_);
    host_regions_.erase(region->data());
  }
  // Where the daemon finds the `nbytes` at `data` in place: a host buffer's region and
  // the offset in it; nullopt when they are not all in one.
  struct SharedPlace {
    std::string name;
    uint64_t offset = 0;
  };
  std::optional<SharedPlace> HostPlace(const void* data, size_t nbytes) {
    const char* first = static_cast<const char*>(data);
    std::lock_guard<std::mutex> lock(host_regions_mu_);
    auto it = host_regions_.upper_bound(first);
    if (it == host_regions_.begin()) return std::nullopt;
    const SharedRegion* region = std::prev(it)->second;
    const size_t offset = static_cast<size_t>(first - region->data());
    if (offset < SharedRegion::kNonceBytes || offset > region->size() ||
        nbytes > region->size() - offset) {
      return std::nullopt;
    }
    return SharedPlace{region->name(), offset};
  }

  int64_t chunk_bytes() const {
    return opened_.limits().chunk_bytes() > 0 ? opened_.limits().chunk_bytes() : kDefaultChunkBytes;
  }
  // Payload bytes per Upload or Download message, under the daemon's message limit.
  size_t bulk_chunk_bytes() const {
    const int64_t limit = opened_.limits().max_message_bytes();
    return static_cast<size_t>(limit > 0 ? std::min(kBulkChunkBytes, limit - 4096)
                                         : kBulkChunkBytes);
  }
  // Whether a host array this large is uploaded from the caller's memory when made (on the
  // bulk channel, or an Upload call), else kept to ride a pipeline step or be bound inline.
  bool StreamsUpload(size_t bytes) const {
    return bytes > kInlineBindingBytes &&
           (pipeline_ == nullptr || bulk_offered_ || bytes > static_cast<size_t>(chunk_bytes()));
  }

  uint64_t NewBufferId() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_buffer_id_++;
  }

  void QueueRelease(uint64_t buffer_id) {
    std::lock_guard<std::mutex> lock(mu_);
    releases_.push_back(buffer_id);
  }

  std::vector<uint64_t> TakeReleases() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.released += static_cast<int64_t>(releases_.size());
    return std::exchange(releases_, {});
  }

  // The graph ids the daemon holds, shared with every session to the same address.
  KnownGraphs& graphs() { return *graphs_; }
  // Which outputs of each graph the program has read, for what comes back inline.
  OutputReads& output_reads() { return output_reads_; }

  template <typename F>
  void UpdateStats(F update) {
    std::lock_guard<std::mutex> lock(mu_);
    update(stats_);
  }
  DeviceStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceStats stats = stats_;
    if (pipeline_ != nullptr) {
      stats.pipeline_steps = pipeline_->steps_sent();
      stats.reconnects += pipeline_->reconnects();
      stats.round_trips += pipeline_->window_waits();
      stats.graphs_resent += pipeline_->graphs_resent();
      stats.graphs_sent += pipeline_->graphs_resent();
      stats.bytes_sent += pipeline_->bytes_sent();
      stats.bytes_received += pipeline_->bytes_received();
    }
    return stats;
  }

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
  std::unique_ptr<BulkSocket> DialBulk(std::string* why) {
    return BulkSocket::Connect(address_, bulk_address_, opened_.bulk_channel(), id(), bulk_timeout_,
                               bulk_keepalive_, bulk_tls_.get(), why);
  }

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
  std::shared_ptr<const core::TlsContext> bulk_tls_;

  std::mutex mu_;
  uint64_t next_buffer_id_ = 1;  // 0 means "not kept" on the wire
  std::vector<uint64_t> releases_;
  DeviceStats stats_;
};

// A value of the session: resident under `id` once the daemon has it (id 0: not yet), with
// its bytes cached here when known (host data, inline results, finished downloads).
class RemoteBuffer : public Buffer {
 public:
  RemoteBuffer(core::TensorType type, std::shared_ptr<Session> session, uint64_t id,
               std::optional<std::string> host)
      : Buffer(std::move(type)), session_(std::move(session)), id_(id), host_(std::move(host)) {}

  ~RemoteBuffer() override {
    if (id_ != 0) session_->QueueRelease(id_);
  }

  std::mutex& mu() { return mu_; }
  uint64_t id() const { return id_; }
  void set_id(uint64_t id) { id_ = id; }
  const std::optional<std::string>& host() const { return host_; }
  void set_host(std::string host) { host_ = std::move(host); }

  // The answer of the pipeline step that computes this buffer (output `output` of it),
  // until it has been looked at; then the step's failure, if it failed.
  std::optional<StepReply>& pending() { return pending_; }
  int output() const { return output_; }
  void set_pending(StepReply reply, int output) {
    pending_ = std::move(reply);
    output_ = output;
  }
  std::optional<v1::StepFailure>& failure() { return failure_; }
  // The stream broke before the step computing it was answered: whether it ran is unknown.
  bool lost() const { return lost_; }
  void set_lost() { lost_ = true; }
  // Output `output` of a graph whose reads are marked in `reads`.
  void set_reads(std::shared_ptr<OutputReads::Marks> reads, int output) {
    reads_ = std::move(reads);
    reads_output_ = output;
  }
  void MarkRead() {
    if (reads_ != nullptr) reads_->MarkRead(static_cast<size_t>(reads_output_));
  }

 private:
  std::shared_ptr<Session> session_;
  std::mutex mu_;  // guards id_ and host_ against two evals uploading or reading at once
  uint64_t id_;
  std::optional<std::string> host_;
  std::optional<StepReply> pending_;
  int output_ = 0;
  std::optional<v1::StepFailure> failure_;
  bool lost_ = false;
  std::shared_ptr<OutputReads::Marks> reads_;
  int reads_output_ = 0;
};

// A HostBuffer the daemon has mapped: a region of its own, the buffer one page into it
// (the nonce is in the first), unmapped there when the buffer goes.
class SharedHostMemory : public HostMemory {
 public:
  SharedHostMemory(std::unique_ptr<SharedRegion> region, size_t bytes,
                   std::shared_ptr<Session> session)
      : HostMemory(region->data() + core::kPageBytes, bytes, /*in_place=*/true),
        region_(std::move(region)),
        session_(std::move(session)) {
    session_->AddHostRegion(region_.get());
  }
  ~SharedHostMemory() override {
    session_->RemoveHostRegion(region_.get());
    session_->UnregisterRegion(region_->name());
  }

 private:
  const std::unique_ptr<SharedRegion> region_;
  const std::shared_ptr<Session> session_;
};

class RemoteDevice : public DeviceImpl {
 public:
  explicit RemoteDevice(std::shared_ptr<Session> session) : session_(std::move(session)) {}

  // Closing the session frees every buffer still resident, so no Release is needed.
  ~RemoteDevice() override {
    session_->ClosePipeline();
    grpc::ClientContext context;
    session_->Prepare(context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::CloseSessionRequest request;
    request.set_session_id(session_->id());
    v1::CloseSessionResponse response;
    session_->stub().CloseSession(&context, request, &response);  // best effort
  }

  std::string description() const override {
    const v1::DeviceInfo& device = session_->opened().device();
    return absl::StrCat("remote ", session_->address(), " (", device.backend(), ": ", device.name(),
                        ")");
  }

  DeviceInfo info() const override {
    const v1::OpenSessionResponse& opened = session_->opened();
    DeviceInfo info;
    info.remote = true;
    info.address = session_->address();
    info.backend = opened.device().backend();
    info.name = opened.device().name();
    info.memory_bytes = opened.device().memory_bytes();
    info.compute_capability = opened.device().compute_capability();
    info.driver_version = opened.device().driver_version();
    info.runtime_version = opened.device().runtime_version();
    info.server_version = opened.server_version();
    info.protocol_version = opened.protocol_version();
    info.chunk_bytes = session_->chunk_bytes();
    info.max_inline_bytes = opened.limits().max_inline_bytes();
    info.bulk_channel = session_->bulk_socket() != nullptr;
    return info;
  }

  DeviceStats stats() const override { return session_->stats(); }

  MemoryInfo Memory(bool reset_peak) override {
    SendReleases();  // arrays dropped here are not counted
    Synchronize();
    v1::GetInfoRequest request;
    request.set_session_id(session_->id());
    request.set_reset_session_peak(reset_peak);
    v1::GetInfoResponse info;
    UnaryCall([&](grpc::ClientContext* context) {
      return session_->stub().GetInfo(context, request, &info);
    });
    MemoryInfo memory;
    memory.active_bytes = info.session_resident_bytes();
    memory.peak_bytes = info.session_peak_bytes();
    memory.device_in_use_bytes = info.in_use_bytes();
    memory.device_limit_bytes = info.limits().max_memory_bytes();
    memory.limit_bytes = info.limits().max_session_memory_bytes() > 0
                             ? info.limits().max_session_memory_bytes()
                             : memory.device_limit_bytes;
    return memory;
  }

  std::shared_ptr<Buffer> FromHostBytes(const core::TensorType& type, const void* data) override {
    return FromHost(type, static_cast<const char*>(data), "");
  }

  // A region the daemon maps, where it can (same host and user, ferryd --shared_memory);
  // else plain memory.
  std::shared_ptr<HostMemory> AllocateHost(size_t bytes) override {
    std::unique_ptr<SharedRegion> region = session_->MappedRegion(core::kPageBytes + bytes);
    if (region == nullptr) return DeviceImpl::AllocateHost(bytes);
    return std::make_shared<SharedHostMemory>(std::move(region), bytes, session_);
  }

  // The large arrays the upload cache may hold are read and hashed first and asked for
  // together; only the others are read again and sent. Arrays that stream are read into
  // host memory the daemon maps where it can (a HostBuffer's), so a load on the daemon's
  // host costs the read and the daemon's copy alone.
  std::vector<std::shared_ptr<Buffer>> FromHostReader(const std::vector<core::TensorType>& types,
                                                      const HostReader& read) override {
    size_t largest_streamed = 0;
    for (const core::TensorType& type : types) {
      const size_t nbytes = core::NumBytes(type);
      if (session_->StreamsUpload(nbytes)) largest_streamed = std::max(largest_streamed, nbytes);
    }
    const std::shared_ptr<HostMemory> streamed =
        largest_streamed > 0 ? AllocateHost(largest_streamed) : nullptr;
    std::vector<char> small;  // reused: FromHost uploads or copies before it returns
    auto read_into_memory = [&](size_t i) -> char* {
      const size_t nbytes = core::NumBytes(types[i]);
      char* dst = nullptr;
      if (streamed != nullptr && session_->StreamsUpload(nbytes)) {
        dst = streamed->data();
      } else {
        small.resize(nbytes);
        dst = small.data();
      }
      read(i, dst);
      return dst;
    };
    std::vector<std::string> digests(types.size());
    std::vector<size_t> asked;
    std::vector<core::TensorType> asked_types;
    std::vector<std::string> asked_digests;
    for (size_t i = 0; i < types.size(); ++i) {
      const size_t nbytes = core::NumBytes(types[i]);
      if (!session_->CachesUpload(nbytes)) continue;
      digests[i] = core::ContentDigest(read_into_memory(i), nbytes, DigestThreads());
      asked.push_back(i);
      asked_types.push_back(types[i]);
      asked_digests.push_back(digests[i]);
    }
    std::vector<uint64_t> cached(types.size(), 0);
    if (!asked.empty()) {
      const auto asked_at = std::chrono::steady_clock::now();
      const std::vector<uint64_t> ids = FromCache(asked_types, asked_digests);
      for (size_t k = 0; k < asked.size(); ++k) cached[asked[k]] = ids[k];
      if (ProfileLog* log = RecordingLog()) {  // the hits: one round trip for them all
        const double begin_us = log->Since(asked_at);
        const double end_us = log->Since(std::chrono::steady_clock::now());
        for (size_t k = 0; k < asked.size(); ++k) {
          if (ids[k] == 0) continue;
          log->AddTransfer({description(), true,
                            static_cast<int64_t>(core::NumBytes(asked_types[k])), "upload cache",
                            begin_us, end_us});
        }
      }
    }
    std::vector<std::shared_ptr<Buffer>> buffers;
    for (size_t i = 0; i < types.size(); ++i) {
      if (cached[i] != 0) {
        buffers.push_back(
            std::make_shared<RemoteBuffer>(types[i], session_, cached[i], std::nullopt));
        continue;
      }
      buffers.push_back(FromHost(types[i], read_into_memory(i), digests[i]));
    }
    return buffers;
  }

  void MakeResident(const std::vector<std::shared_ptr<Buffer>>& buffers) override {
    for (const std::shared_ptr<Buffer>& buffer : buffers) {
      auto& remote = static_cast<RemoteBuffer&>(*buffer);
      std::lock_guard<std::mutex> lock(remote.mu());
      if (remote.id() == 0) Upload(remote);
    }
  }

  void Wait(const std::vector<std::shared_ptr<Buffer>>& buffers) override {
    bool waited = false;
    for (const std::shared_ptr<Buffer>& buffer : buffers) {
      auto& remote = static_cast<RemoteBuffer&>(*buffer);
      std::lock_guard<std::mutex> lock(remote.mu());
      waited |= remote.pending().has_value();
      Resolve(remote);
    }
    if (waited) session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
  }

  // Host bytes not uploaded yet (a small array): here already.
  const void* HostBytes(Buffer& buffer) override {
    auto& remote = static_cast<RemoteBuffer&>(buffer);
    std::lock_guard<std::mutex> lock(remote.mu());
    return remote.id() == 0 && remote.host().has_value() ? remote.host()->data() : nullptr;
  }

  std::string PeerAddress() const override {
    return session_->Offers(kFeatureCollectives) ? AddressForPeers() : "";
  }

  // Straight from the source daemon when both daemons copy between themselves and both
  // sessions pipeline (the offer and the fetch then go out without waiting, in order with
  // the steps that compute the source); else through this process.
  std::shared_ptr<Buffer> CopyFrom(DeviceImpl& source,
                                   const std::shared_ptr<Buffer>& buffer) override {
    auto* from = dynamic_cast<RemoteDevice*>(&source);
    const std::string address = from != nullptr ? from->CopyAddress() : "";
    if (address.empty() || CopyAddress().empty() || session_->pipeline() == nullptr ||
        source.HostBytes(*buffer) != nullptr) {
      return DeviceImpl::CopyFrom(source, buffer);
    }
    auto& remote = static_cast<RemoteBuffer&>(*buffer);
    const std::string ticket = RandomKey();
    from->Offer(remote, ticket);
    SendReleases();  // first, so their memory can take the copy (a loop of copies piles up)
    const uint64_t id = session_->NewBufferId();
    v1::PipelineRequest step;
    v1::PipelineUpload* upload = step.mutable_upload();
    upload->set_buffer_id(id);
    core::TypeToProto(remote.type(), upload->mutable_tensor()->mutable_spec());
    upload->mutable_peer_source()->set_address(address);
    upload->mutable_peer_source()->set_session_id(from->session_->id());
    upload->mutable_peer_source()->set_ticket(ticket);
    step.set_want_reply(true);
    std::optional<StepReply> reply = session_->pipeline()->Send(std::move(step)).second;
    auto copy = std::make_shared<RemoteBuffer>(remote.type(), session_, id, std::nullopt);
    copy->set_pending(*reply, 0);
    session_->UpdateStats([](DeviceStats& stats) { ++stats.peer_copies; });
    return copy;
  }

  void JoinGroup(const GroupJoin& join) override {
    v1::JoinGroupRequest request;
    request.set_session_id(session_->id());
    request.set_group(join.handle);
    request.set_rank(static_cast<uint32_t>(join.rank));
    request.set_size(static_cast<uint32_t>(join.size));
    for (const std::string& address : join.peer_addresses) request.add_peer_addresses(address);
    request.set_key(join.key);
    request.set_timeout_ms(static_cast<uint32_t>(join.timeout.count()));
    v1::JoinGroupResponse response;
    grpc::ClientContext context;
    session_->Prepare(context);
    // The daemon gives up on its peers after the timeout; the answer may take a moment more.
    context.set_deadline(std::chrono::system_clock::now() + join.timeout +
                         std::chrono::seconds(10));
    const int stop = join.cancellation->Add([&context] { context.TryCancel(); });
    if (stop < 0) {
      throw Error(ErrorCode::kCancelled, "[distributed::init] another rank failed first");
    }
    grpc::Status status = session_->stub().JoinGroup(&context, request, &response);
    join.cancellation->Remove(stop);
    session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    if (!status.ok()) throw ToError(status, session_->address());
  }

  bool ExecuteReturnsAtOnce() const override { return session_->pipeline() != nullptr; }

  void Cancel() override {
    if (session_->pipeline() != nullptr) session_->pipeline()->Cancel();
    session_->CancelExecutes();
    session_->InterruptTransfers();
  }

  void Synchronize() override {
    if (session_->pipeline() == nullptr) return;  // unary calls finish before they return
    session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    session_->pipeline()->Sync();
  }

  std::vector<std::shared_ptr<Buffer>> Execute(
      std::shared_ptr<const core::Graph> shared_graph,
      const std::vector<std::shared_ptr<Buffer>>& parameters) override {
    const core::Graph& graph = *shared_graph;
    v1::ExecuteRequest request;
    request.set_session_id(session_->id());
    int64_t inline_bytes = 0;
    for (const std::shared_ptr<Buffer>& parameter : parameters) {
      auto& buffer = static_cast<RemoteBuffer&>(*parameter);
      v1::Binding* binding = request.add_bindings();
      std::lock_guard<std::mutex> lock(buffer.mu());
      if (buffer.id() == 0 && buffer.host()->size() <= kInlineBindingBytes) {
        core::TypeToProto(buffer.type(), binding->mutable_tensor()->mutable_spec());
        binding->mutable_tensor()->set_data(*buffer.host());
        inline_bytes += static_cast<int64_t>(buffer.host()->size());
        continue;
      }
      if (buffer.id() == 0) Upload(buffer);
      ThrowIfLost(buffer);
      binding->set_buffer_id(buffer.id());
    }

    const std::string graph_id = core::GraphFingerprint(graph);
    if (session_->pipeline() != nullptr) {
      return ExecuteOnPipeline(std::move(shared_graph), graph_id, std::move(request), inline_bytes);
    }
    bool ships_graph = !session_->graphs().Holds(graph_id);
    if (ships_graph) {
      core::GraphToProto(graph, request.mutable_graph());
    } else {
      request.set_graph_id(graph_id);
    }
    std::vector<bool> read;
    const std::shared_ptr<OutputReads::Marks> reads =
        session_->output_reads().ForEval(graph_id, graph.outputs.size(), &read);
    SetOutputs(graph, read, request);
    for (uint64_t id : session_->TakeReleases()) request.add_release_buffer_ids(id);
    const std::shared_ptr<EvalRecord>& record = CurrentEval();
    if (record != nullptr) {
      request.set_profile(record->device_steps() ? v1::PROFILE_STEPS : v1::PROFILE_PHASES);
      record->Sent(ships_graph);
    }

    v1::ExecuteResponse response;
    std::string missing_graph;
    grpc::Status status = Call(request, ships_graph, &response, &missing_graph);
    if (!ships_graph && missing_graph == graph_id) {
      // The daemon no longer holds the graph (evicted, or restarted): ship it once more.
      // The releases went through with the first request.
      session_->graphs().Forget(graph_id);
      session_->UpdateStats([](DeviceStats& stats) { ++stats.graphs_resent; });
      ships_graph = true;
      request.clear_graph_id();
      core::GraphToProto(graph, request.mutable_graph());
      request.clear_release_buffer_ids();
      SetOutputs(graph, read, request);
      status = Call(request, ships_graph, &response, &missing_graph);
    }
    if (!status.ok()) throw ToError(status, session_->address());
    if (record != nullptr) {
      record->Answered(response.has_profile() ? &response.profile() : nullptr);
    }
    session_->graphs().Add(response.graph_id().empty() ? graph_id : response.graph_id());

    if (response.outputs_size() != static_cast<int>(graph.outputs.size())) {
      throw Error(ErrorCode::kInternal,
                  absl::StrCat("ferryd returned ", response.outputs_size(),
                               " outputs for a graph with ", graph.outputs.size()));
    }
    std::vector<std::shared_ptr<Buffer>> buffers;
    buffers.reserve(graph.outputs.size());
    for (int i = 0; i < response.outputs_size(); ++i) {
      const v1::OutputResult& result = response.outputs(i);
      const core::TensorType& type = graph.nodes[graph.outputs[i]].out;
      const size_t nbytes = core::NumBytes(type);
      std::optional<std::string> host;
      if (result.has_data()) {
        if (result.data().size() != nbytes) {
          throw Error(ErrorCode::kInternal,
                      absl::StrCat("ferryd returned ", result.data().size(), " bytes for output ",
                                   i, " of type ", core::TypeToString(type)));
        }
        host = result.data();
        inline_bytes += static_cast<int64_t>(nbytes);
      }
      auto buffer = std::make_shared<RemoteBuffer>(type, session_, request.outputs(i).buffer_id(),
                                                   std::move(host));
      buffer->set_reads(reads, i);
      buffers.push_back(std::move(buffer));
    }
    session_->UpdateStats([&](DeviceStats& stats) { stats.inline_bytes += inline_bytes; });
    return buffers;
  }

  void Read(Buffer& buffer, void* dst) override {
    auto& remote = static_cast<RemoteBuffer&>(buffer);
    remote.MarkRead();
    std::lock_guard<std::mutex> lock(remote.mu());
    if (remote.pending().has_value()) {
      session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    }
    Resolve(remote);
    // A resident result goes straight into `dst`, from the shared region or from the
    // slices gRPC read it into; no host copy is kept (it may be large, and a second read
    // is one more transfer, as PyTorch's .cpu() is).
    if (remote.host().has_value()) {
      if (!remote.host()->empty()) std::memcpy(dst, remote.host()->data(), remote.host()->size());
      return;
    }
    Session::Transfer transfer(*session_);
    const size_t nbytes = core::NumBytes(remote.type());
    TransferTimer timer(*this, /*upload=*/false, static_cast<int64_t>(nbytes));
    size_t done = 0;
    if (std::optional<Session::SharedPlace> place = session_->HostPlace(dst, nbytes)) {
      DownloadToRegion(remote, nbytes, *place);
      session_->UpdateStats([](DeviceStats& stats) { ++stats.in_place_transfers; });
      return timer.Done("host buffer");
    }
    if (DownloadShared(remote, dst)) return timer.Done("shared memory");
    if (DownloadBulk(remote, static_cast<char*>(dst), &done)) return timer.Done("bulk channel");
    if (transfer.Cancelled()) throw TransferCancelled();
    Download(remote, static_cast<char*>(dst), done, transfer);
    timer.Done("grpc");
  }

 private:
  // Where other daemons reach this session's daemon: ConnectOptions::peer_address, else
  // its bulk_address, else the bulk port on the host of the gRPC address ("" when none).
  std::string AddressForPeers() const {
    const v1::OpenSessionResponse& opened = session_->opened();
    if (!session_->peer_address().empty()) return session_->peer_address();
    if (!session_->bulk_address().empty()) return session_->bulk_address();
    const std::optional<std::string> host = TargetHost(session_->address());
    if (!host.has_value()) return "";
    const std::string port = std::to_string(opened.bulk_channel().port());
    return host->find(':') == std::string::npos ? absl::StrCat(*host, ":", port)
                                                : absl::StrCat("[", *host, "]:", port);
  }

  // Where another daemon fetches a copy from this one; "" when it cannot (or must not).
  std::string CopyAddress() const {
    return session_->peer_copies() && session_->Offers(kFeaturePeerCopy) ? AddressForPeers() : "";
  }

  // Offers `buffer` to another daemon under `ticket`: a pipeline step, after the one that
  // computes it. Throws when the step computing it is known lost.
  void Offer(RemoteBuffer& buffer, const std::string& ticket) {
    std::lock_guard<std::mutex> lock(buffer.mu());
    if (buffer.id() == 0) Upload(buffer);
    ThrowIfLost(buffer);
    v1::PipelineRequest step;
    step.mutable_offer()->set_buffer_id(buffer.id());
    step.mutable_offer()->set_ticket(ticket);
    session_->pipeline()->Send(std::move(step));
  }

  // Sends the execute on the pipeline and returns at once: the outputs are named by the
  // handles chosen here, so later evals can use them before the daemon has answered.
  std::vector<std::shared_ptr<Buffer>> ExecuteOnPipeline(
      std::shared_ptr<const core::Graph> shared_graph, const std::string& graph_id,
      v1::ExecuteRequest request, int64_t inline_bytes) {
    const core::Graph& graph = *shared_graph;
    request.clear_session_id();
    const bool ships_graph = !session_->graphs().Holds(graph_id);
    std::shared_ptr<const core::Graph> kept;
    if (ships_graph) {
      core::GraphToProto(graph, request.mutable_graph());
      session_->graphs().Add(graph_id);  // the daemon asks for it again if it loses it
    } else {
      request.set_graph_id(graph_id);
      kept = shared_graph;  // no copy: the graph is not changed after lowering
    }
    std::vector<bool> read;
    const std::shared_ptr<OutputReads::Marks> reads =
        session_->output_reads().ForEval(graph_id, graph.outputs.size(), &read);
    SetOutputs(graph, read, request);
    for (uint64_t id : session_->TakeReleases()) request.add_release_buffer_ids(id);
    PipelineStream::AnswerHook on_answer;
    if (const std::shared_ptr<EvalRecord>& record = CurrentEval()) {
      request.set_profile(record->device_steps() ? v1::PROFILE_STEPS : v1::PROFILE_PHASES);
      record->Sent(ships_graph);
      on_answer = [record](const v1::PipelineResponse* answer) {
        if (answer == nullptr) {
          record->Failed(
              Error(ErrorCode::kUnavailable, "the pipeline stream broke before the answer came"));
        } else if (answer->has_failure()) {
          record->Failed(StepError(answer->failure()));
        } else {
          record->Answered(answer->execute().has_profile() ? &answer->execute().profile()
                                                           : nullptr);
        }
      };
    }
    v1::PipelineRequest step;
    *step.mutable_execute() = std::move(request);
    step.set_want_reply(true);
    auto [step_id, reply] = session_->pipeline()->Send(step, std::move(kept), std::move(on_answer));
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.executes;
      if (ships_graph) ++stats.graphs_sent;
      stats.inline_bytes += inline_bytes;
    });
    std::vector<std::shared_ptr<Buffer>> buffers;
    buffers.reserve(graph.outputs.size());
    for (size_t i = 0; i < graph.outputs.size(); ++i) {
      auto buffer =
          std::make_shared<RemoteBuffer>(graph.nodes[graph.outputs[i]].out, session_,
                                         step.execute().outputs(i).buffer_id(), std::nullopt);
      buffer->set_pending(*reply, static_cast<int>(i));
      buffer->set_reads(reads, static_cast<int>(i));
      buffers.push_back(std::move(buffer));
    }
    return buffers;
  }

  // What a transfer stopped by ferry::cancel throws.
  Error TransferCancelled() const {
    return Error(ErrorCode::kCancelled,
                 absl::StrCat("a transfer with ferryd at ", session_->address(),
                              " was cancelled by ferry::cancel"));
  }

  // Throws, without waiting, when the stream broke before the step computing `buffer` was
  // answered (the daemon may never have run it), rather than let a later step bind a
  // handle the daemon may not hold. Caller holds buffer.mu().
  void ThrowIfLost(RemoteBuffer& buffer) {
    if (!buffer.lost() && buffer.pending().has_value() &&
        buffer.pending()->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      try {
        buffer.pending()->get();
      } catch (const Error& error) {
        MarkLost(buffer, error);
      }
    }
    if (buffer.lost()) throw StepError(*buffer.failure());
  }

  // The stream broke before the step computing `buffer` was answered (`error` says how):
  // the buffer is lost for good, even once the pipeline has reconnected.
  static void MarkLost(RemoteBuffer& buffer, const Error& error) {
    buffer.set_lost();
    buffer.failure().emplace();
    buffer.failure()->set_code(static_cast<int32_t>(error.code()));
    buffer.failure()->set_message(error.what());
  }

  // Takes in the answer of the step that computes `buffer`, waiting for it if need be:
  // its inline bytes, or its failure, thrown now and on every later use. Throws, too, an
  // earlier step's failure not raised yet. Caller holds buffer.mu().
  void Resolve(RemoteBuffer& buffer) {
    if (buffer.failure().has_value()) throw StepError(*buffer.failure());
    if (!buffer.pending().has_value()) return;
    const StepReply reply = *std::exchange(buffer.pending(), std::nullopt);
    try {
      reply.get();
    } catch (const Error& error) {
      MarkLost(buffer, error);
      throw;
    }
    const v1::PipelineResponse& response = reply.get();
    const int output = buffer.output();
    PipelineStream& pipeline = *session_->pipeline();
    if (response.has_failure()) {
      buffer.failure() = response.failure();
      pipeline.MarkRaised(response.failure());
      throw StepError(response.failure());
    }
    if (std::optional<v1::StepFailure> earlier = pipeline.TakeFailureBefore(response.step_id())) {
      throw StepError(*earlier);
    }
    if (!response.has_execute()) return;  // an upload step: its buffer is resident now
    const core::TensorType& type = buffer.type();
    const size_t nbytes = core::NumBytes(type);
    if (output >= response.execute().outputs_size()) {
      throw Error(ErrorCode::kInternal,
                  absl::StrCat("ferryd returned ", response.execute().outputs_size(),
                               " outputs; output ", output, " is missing"));
    }
    const v1::OutputResult& result = response.execute().outputs(output);
    if (!result.has_data()) return;
    if (result.data().size() != nbytes) {
      throw Error(ErrorCode::kInternal,
                  absl::StrCat("ferryd returned ", result.data().size(), " bytes for output ",
                               output, " of type ", core::TypeToString(type)));
    }
    buffer.set_host(result.data());
    session_->UpdateStats([&](DeviceStats& stats) { stats.inline_bytes += nbytes; });
  }

  // Each output under a new handle, returned inline when small where `read` says the
  // program read it since the graph's eval before (output_reads.h) or, up to
  // kUnreadInlineBytes in all, where it is tiny (a loss read now and then, the last of a
  // chain of evals read only at the end).
  void SetOutputs(const core::Graph& graph, const std::vector<bool>& read,
                  v1::ExecuteRequest& request) {
    request.clear_outputs();
    const int64_t inline_limit = std::max<int64_t>(
        std::min(session_->opened().limits().max_inline_bytes(), kInlineResultBytes), 0);
    int64_t unread_budget = kUnreadInlineBytes;
    for (size_t i = 0; i < graph.outputs.size(); ++i) {
      v1::OutputRequest* output = request.add_outputs();
      output->set_buffer_id(session_->NewBufferId());
      bool wanted = read[i];
      if (!wanted) {
        const int64_t nbytes =
            static_cast<int64_t>(core::NumBytes(graph.nodes[graph.outputs[i]].out));
        wanted = nbytes <= unread_budget;
        if (wanted) unread_budget -= nbytes;
      }
      output->set_inline_up_to_bytes(static_cast<uint64_t>(wanted ? inline_limit : 0));
    }
  }

  // One Execute; `missing_graph` gets the graph_id the daemon said it lacks, if any.
  grpc::Status Call(const v1::ExecuteRequest& request, bool ships_graph,
                    v1::ExecuteResponse* response, std::string* missing_graph) {
    grpc::ClientContext context;
    session_->Prepare(context);
    const int64_t cancels = session_->cancels();
    session_->AddExecute(&context);
    grpc::Status status = session_->stub().Execute(&context, request, response);
    session_->RemoveExecute(&context);
    if (status.error_code() == grpc::StatusCode::CANCELLED && session_->cancels() != cancels) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by ferry::cancel");
    }
    missing_graph->clear();
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find(kMissingGraphMetadata); it != trailers.end()) {
      missing_graph->assign(it->second.data(), it->second.size());
    }
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.round_trips;
      ++stats.executes;
      if (ships_graph) ++stats.graphs_sent;
      stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
      stats.bytes_received += static_cast<int64_t>(response->ByteSizeLong());
    });
    return status;
  }

  // A small array is kept here until an eval needs it (bound inline, or one pipeline
  // step); a large one is uploaded now, straight from `data`: no host copy is made or kept
  // (reading it back downloads it). `digest`: see UploadBytes.
  std::shared_ptr<Buffer> FromHost(const core::TensorType& type, const char* data,
                                   const std::string& digest) {
    const size_t nbytes = core::NumBytes(type);
    if (!session_->StreamsUpload(nbytes)) {
      return std::make_shared<RemoteBuffer>(type, session_, 0, std::string(data, nbytes));
    }
    auto buffer = std::make_shared<RemoteBuffer>(type, session_, 0, std::nullopt);
    UploadBytes(*buffer, data, nbytes, digest);
    return buffer;
  }

  // Puts the buffer's host bytes on the daemon; the buffer is resident after. Small
  // buffers go as one pipeline step, without waiting; large ones stream on their own call
  // (so they never hold up the steps behind them).
  void Upload(RemoteBuffer& buffer) {
    const std::string& bytes = *buffer.host();
    if (!session_->StreamsUpload(bytes.size()) && session_->pipeline() != nullptr) {
      const uint64_t id = session_->NewBufferId();
      v1::PipelineRequest step;
      step.mutable_upload()->set_buffer_id(id);
      core::TypeToProto(buffer.type(), step.mutable_upload()->mutable_tensor()->mutable_spec());
      step.mutable_upload()->mutable_tensor()->set_data(bytes);
      session_->pipeline()->Send(std::move(step));
      session_->UpdateStats([&](DeviceStats& stats) {
        ++stats.uploads;
        stats.upload_bytes += static_cast<int64_t>(bytes.size());
      });
      buffer.set_id(id);
      return;
    }
    UploadBytes(buffer, bytes.data(), bytes.size());
  }

  // Frees the buffers dropped since the last execute before a large upload adds to the
  // daemon's memory (a loop of uploads alone would otherwise pile them up): a pipeline
  // step that needs no answer, or a Release call.
  void SendReleases() {
    std::vector<uint64_t> ids = session_->TakeReleases();
    if (ids.empty()) return;
    v1::ReleaseRequest release;
    for (uint64_t id : ids) release.add_buffer_ids(id);
    if (session_->pipeline() != nullptr) {
      v1::PipelineRequest step;
      *step.mutable_release() = std::move(release);
      session_->pipeline()->Send(std::move(step));
      return;
    }
    release.set_session_id(session_->id());
    v1::ReleaseResponse response;
    UnaryCall([&](grpc::ClientContext* context) {
      return session_->stub().Release(context, release, &response);
    });
  }

  // One unary call of the session (`call` makes it on the context given), counted as a
  // round trip; its failure thrown.
  void UnaryCall(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext context;
    session_->Prepare(context);
    grpc::Status status = call(&context);
    session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
    if (!status.ok()) throw ToError(status, session_->address());
  }

  // Makes `nbytes` at `data` the daemon's copy of `buffer` (its type), under a new id: on
  // the bulk channel, through the shared region when in use, else an Upload stream whose
  // messages carry `data` itself (no copy on this side). One whose connection breaks goes
  // on where it stopped (ResumeUpload).
  // `known_digest`: the bytes' content digest, already asked of the upload cache in vain
  // (FromHostReader); they are offered to it without asking again.
  void UploadBytes(RemoteBuffer& buffer, const char* data, size_t nbytes,
                   const std::string& known_digest = "") {
    Session::Transfer transfer(*session_);
    TransferTimer timer(*this, /*upload=*/true, static_cast<int64_t>(nbytes));
    if (std::optional<Session::SharedPlace> place = session_->HostPlace(data, nbytes)) {
      SendReleases();
      buffer.set_id(UploadFromRegion(buffer.type(), nbytes, *place, known_digest));
      session_->UpdateStats([](DeviceStats& stats) { ++stats.in_place_transfers; });
      timer.Done("host buffer");
      return;
    }
    std::string digest = known_digest;  // offers the bytes to the daemon's upload cache
    if (digest.empty() && session_->CachesUpload(nbytes)) {
      digest = core::ContentDigest(data, nbytes, DigestThreads());
      const uint64_t id = FromCache({buffer.type()}, {digest}).front();
      if (id != 0) {
        buffer.set_id(id);
        timer.Done("upload cache");
        return;
      }
    }
    if (UploadBulk(buffer, data, nbytes, transfer, digest)) {
      timer.Done("bulk channel");
      return;
    }
    if (transfer.Cancelled()) throw TransferCancelled();
    SendReleases();
    const core::TensorType& type = buffer.type();
    if (std::optional<uint64_t> id = UploadShared(type, data, nbytes)) {
      buffer.set_id(*id);
      timer.Done("shared memory");
      return;
    }
    v1::UploadRequest header;
    header.set_buffer_id(session_->NewBufferId());
    core::TypeToProto(type, header.mutable_spec());
    header.set_total_bytes(nbytes);
    header.set_content_digest(digest);
    absl::Status status = UploadStream(header, data);
    if (!status.ok() && transfer.Cancelled()) {
      session_->QueueRelease(header.buffer_id());  // what the daemon kept of it
      throw TransferCancelled();
    }
    if (!status.ok() && status.code() == absl::StatusCode::kUnavailable && session_->resumable()) {
      status = ResumeUpload(header, data, nullptr, &transfer);
    }
    if (!status.ok()) throw ToError(status, session_->address());
    buffer.set_id(header.buffer_id());
    timer.Done("grpc");
  }

  // One Upload stream of `header`'s buffer: the bytes at `data` from its resume_offset on.
  absl::Status UploadStream(const v1::UploadRequest& header, const char* data) {
    const size_t nbytes = header.total_bytes();
    const size_t chunk = session_->bulk_chunk_bytes();
    BorrowedSlices borrowed;  // outlives the call: waits until gRPC is done with `data`
    grpc::ClientContext context;
    session_->Prepare(context);
    session_->AddExecute(&context);  // ferry::cancel stops it
    BulkCall call(session_->bulk_stub(), context, kUploadMethod);
    int64_t sent = 0;
    size_t offset = header.resume_offset();
    const size_t from = offset;
    bool first = true;
    do {
      v1::UploadRequest message;
      if (first) {
        message = header;
        message.set_session_id(session_->id());
        first = false;
      }
      const size_t n = std::min(chunk, nbytes - offset);
      std::string prefix = message.SerializeAsString();
      if (n > 0) prefix += core::BytesFieldPrefix(v1::UploadRequest::kDataFieldNumber, n);
      grpc::Slice slices[2] = {grpc::Slice(prefix), grpc::Slice()};
      if (n > 0) slices[1] = borrowed.Borrow(data + offset, n);
      grpc::ByteBuffer wire(slices, n > 0 ? 2 : 1);
      sent += static_cast<int64_t>(prefix.size() + n);
      offset += n;
      if (!call.Write(wire)) break;  // the daemon ended the stream; Finish says why
    } while (offset < nbytes);
    call.WritesDone();
    grpc::ByteBuffer reply;
    int64_t received = 0;
    while (call.Read(&reply)) received += static_cast<int64_t>(reply.Length());
    grpc::Status status = call.Finish();
    session_->RemoveExecute(&context);
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.round_trips;
      if (from == 0) {  // a resumed stream is the same upload
        ++stats.uploads;
        stats.upload_bytes += static_cast<int64_t>(nbytes);
      }
      stats.bytes_sent += sent;
      stats.bytes_received += received;
    });
    return FromGrpc(status);
  }

  // The upload `header` describes broke (UNAVAILABLE): asks the daemon how many of its
  // bytes it kept and sends the rest, on the bulk channel when it can be dialled again,
  // else gRPC; up to kTransferAttempts tries in all. `*to_pipeline` (when given) says
  // whether a pipeline step is to take the buffer: it goes unanswered on the bulk channel
  // then, and stays true only if it did (else it is resident already).
  absl::Status ResumeUpload(v1::UploadRequest header, const char* data, bool* to_pipeline = nullptr,
                            const Session::Transfer* transfer = nullptr) {
    const bool pipelined = to_pipeline != nullptr && *to_pipeline;
    if (to_pipeline != nullptr) *to_pipeline = false;
    absl::Status status;
    for (int attempt = 2; attempt <= kTransferAttempts; ++attempt) {
      if (transfer != nullptr && transfer->Cancelled()) {
        session_->QueueRelease(header.buffer_id());  // what the daemon kept of it
        return absl::CancelledError(TransferCancelled().what());
      }
      std::shared_ptr<BulkSocket> bulk = session_->RedialBulk();
      if (bulk == nullptr) session_->AwaitGrpcTransfers();
      header.clear_resume_offset();
      v1::UploadRequest query = header;
      query.set_resume_query(true);
      absl::StatusOr<uint64_t> kept = bulk != nullptr ? bulk->HeldBytes(query) : HeldBytes(query);
      status = kept.status();
      if (kept.ok() && *kept == header.total_bytes()) {
        status = absl::OkStatus();  // it arrived whole: only the answer was lost
      } else if (kept.ok()) {
        header.set_resume_offset(*kept);
        status = bulk != nullptr ? bulk->Upload(header, data, {}, pipelined)
                                 : UploadStream(header, data);
        if (to_pipeline != nullptr) *to_pipeline = status.ok() && bulk != nullptr && pipelined;
        if (bulk != nullptr) {
          session_->UpdateStats([&](DeviceStats& stats) {
            if (!pipelined) ++stats.round_trips;
            stats.bytes_sent += static_cast<int64_t>(header.total_bytes() - *kept);
          });
        }
      }
      if (status.code() != absl::StatusCode::kUnavailable) break;
    }
    session_->UpdateStats([](DeviceStats& stats) { ++stats.resumed_transfers; });
    return status;
  }

  // The answer to the query `query` (resume_query or cache_query): how many bytes of the
  // upload the daemon holds now; an Upload call.
  absl::StatusOr<uint64_t> HeldBytes(const v1::UploadRequest& query) {
    absl::StatusOr<v1::UploadResponse> answer = UploadCall(query);
    if (!answer.ok()) return answer.status();
    return answer->bytes_received();
  }

  // Asks the daemon's upload cache for arrays of `types` whose bytes have `digests`, all at
  // once (back to back on the bulk channel: one round trip; else an Upload call each): the
  // id of each made resident from the cache, 0 for a miss (a failed query is one: the
  // upload that follows meets the same trouble and reports it).
  std::vector<uint64_t> FromCache(const std::vector<core::TensorType>& types,
                                  const std::vector<std::string>& digests) {
    std::vector<v1::UploadRequest> queries(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      queries[i].set_buffer_id(session_->NewBufferId());
      core::TypeToProto(types[i], queries[i].mutable_spec());
      queries[i].set_total_bytes(core::NumBytes(types[i]));
      queries[i].set_content_digest(digests[i]);
      queries[i].set_cache_query(true);
    }
    std::vector<absl::StatusOr<uint64_t>> held;
    std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
    for (size_t from = 0; from < queries.size(); from += BulkSocket::kMaxQueries) {
      const size_t to = std::min(queries.size(), from + BulkSocket::kMaxQueries);
      if (bulk != nullptr) {
        std::vector<absl::StatusOr<uint64_t>> answers = bulk->HeldBytes(
            std::vector<v1::UploadRequest>(queries.begin() + from, queries.begin() + to));
        held.insert(held.end(), answers.begin(), answers.end());
        session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
      } else {
        for (size_t i = from; i < to; ++i) held.push_back(HeldBytes(queries[i]));
      }
    }
    std::vector<uint64_t> ids(types.size(), 0);
    int64_t hits = 0, hit_bytes = 0;
    for (size_t i = 0; i < types.size(); ++i) {
      if (!held[i].ok() || *held[i] != queries[i].total_bytes()) continue;
      ids[i] = queries[i].buffer_id();
      ++hits;
      hit_bytes += static_cast<int64_t>(queries[i].total_bytes());
    }
    session_->UpdateStats([&](DeviceStats& stats) {
      stats.uploads += hits;
      stats.cached_uploads += hits;
      stats.upload_bytes += hit_bytes;
      stats.cached_upload_bytes += hit_bytes;
    });
    return ids;
  }

  // An Upload call of the one message `request`, its data not on the stream; the answer.
  absl::StatusOr<v1::UploadResponse> UploadCall(v1::UploadRequest request) {
    request.set_session_id(session_->id());
    v1::UploadResponse response;
    grpc::Status status = OneMessageCall(kUploadMethod, request, [&](grpc::ByteBuffer& reply) {
      grpc::SerializationTraits<v1::UploadResponse>::Deserialize(&reply, &response);
    });
    if (!status.ok()) return FromGrpc(status);
    return response;
  }

  // A call of `method` (Upload or Download) on the transfers' channel that sends the one
  // message `request` and hands each reply to `take` as it comes; counts the round trip
  // and the bytes both ways.
  grpc::Status OneMessageCall(const std::string& method,
                              const google::protobuf::MessageLite& request,
                              const std::function<void(grpc::ByteBuffer&)>& take) {
    grpc::ClientContext context;
    session_->Prepare(context);
    session_->AddExecute(&context);  // ferry::cancel stops it
    BulkCall call(session_->bulk_stub(), context, method);
    grpc::Slice wire(request.SerializeAsString());
    call.Write(grpc::ByteBuffer(&wire, 1));
    call.WritesDone();
    grpc::ByteBuffer reply;
    int64_t received = 0;
    while (call.Read(&reply)) {
      received += static_cast<int64_t>(reply.Length());
      take(reply);
    }
    grpc::Status status = call.Finish();
    session_->RemoveExecute(&context);
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.round_trips;
      stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
      stats.bytes_received += received;
    });
    return status;
  }

  // Same host: the bytes go through the session's shared region (one memcpy here, one
  // copy into the tensor there). Nothing when shared memory is not in use.
  std::optional<uint64_t> UploadShared(const core::TensorType& type, const char* data,
                                       size_t nbytes) {
    std::lock_guard<std::mutex> lock(session_->shared_mu());
    SharedRegion* region = session_->StagingRegion(nbytes);
    if (region == nullptr) return std::nullopt;
    core::CopyInHalves(region->data(), data, nbytes, Memcpy);
    return UploadFromRegion(type, nbytes, {region->name(), 0});
  }

  // One Upload call naming the bytes' place in a region the daemon has mapped; the daemon
  // copies them into the new buffer, whose id this returns. A `digest` (bytes a load asked
  // the upload cache for) lets the daemon's cache keep them.
  uint64_t UploadFromRegion(const core::TensorType& type, size_t nbytes,
                            const Session::SharedPlace& place, const std::string& digest = "") {
    const uint64_t id = session_->NewBufferId();
    v1::UploadRequest request;
    request.set_buffer_id(id);
    core::TypeToProto(type, request.mutable_spec());
    request.set_total_bytes(nbytes);
    request.set_content_digest(digest);
    request.set_shared_memory_name(place.name);
    request.set_shared_memory_offset(place.offset);
    absl::StatusOr<v1::UploadResponse> answer = UploadCall(std::move(request));
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.uploads;
      ++stats.shared_memory_transfers;
      stats.upload_bytes += static_cast<int64_t>(nbytes);
    });
    if (!answer.ok()) throw ToError(answer.status(), session_->address());
    return id;
  }

  // The bulk channel: from `data` to the socket. With a pipeline nothing waits: the bytes
  // go unanswered and an upload step names them, in order with the steps around it;
  // without one, the daemon answers. A connection that breaks during the upload is dialled
  // again and the upload goes on where it stopped (ResumeUpload). Nothing when there is no
  // bulk channel (or the caller asked for shared memory and has it), or when the daemon
  // cannot resume (gRPC then carries the whole upload again).
  // On a pipeline the buffer is pending until its step answers: a read waits for that, so
  // it never asks for the bytes before the step has made them resident.
  bool UploadBulk(RemoteBuffer& buffer, const char* data, size_t nbytes,
                  const Session::Transfer& transfer, const std::string& digest) {
    std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
    if (bulk == nullptr || session_->SharedMemoryOn()) return false;
    const core::TensorType& type = buffer.type();
    // Dropped buffers go first, so their memory can take the upload (a 1 GiB tensor
    // otherwise faults in fresh pages): with the upload itself when no pipeline step could
    // still read them, else as a step of their own.
    std::vector<uint64_t> releases;
    PipelineStream* pipeline = session_->pipeline();
    if (pipeline == nullptr || pipeline->Idle()) {
      releases = session_->TakeReleases();
    } else {
      SendReleases();
    }
    const uint64_t id = session_->NewBufferId();
    v1::UploadRequest request;
    request.set_buffer_id(id);
    core::TypeToProto(type, request.mutable_spec());
    request.set_total_bytes(nbytes);
    request.set_content_digest(digest);
    absl::Status status = bulk->Upload(request, data, releases, pipeline != nullptr);
    bool step_takes_it = pipeline != nullptr;
    if (!status.ok() && bulk->broken()) {
      // Releasing twice is harmless: they go again with the next step or call.
      for (uint64_t released : releases) session_->QueueRelease(released);
      if (transfer.Cancelled()) {
        session_->QueueRelease(id);  // what the daemon kept of it
        throw TransferCancelled();
      }
      if (!session_->resumable()) return false;  // gRPC carries it again, whole
      status = ResumeUpload(request, data, &step_takes_it, &transfer);
      if (!status.ok()) throw ToError(status, session_->address());
    }
    if (step_takes_it) {
      v1::PipelineRequest step;
      step.mutable_upload()->set_buffer_id(id);
      *step.mutable_upload()->mutable_tensor()->mutable_spec() = request.spec();
      step.mutable_upload()->set_bulk_channel(true);
      step.set_want_reply(true);
      std::optional<StepReply> reply = pipeline->Send(std::move(step)).second;
      buffer.set_pending(*reply, 0);
    }
    session_->UpdateStats([&](DeviceStats& stats) {
      if (pipeline == nullptr) ++stats.round_trips;
      ++stats.uploads;
      ++stats.bulk_channel_transfers;
      stats.upload_bytes += static_cast<int64_t>(nbytes);
      stats.bytes_sent += static_cast<int64_t>(nbytes);
    });
    ThrowIfError(status);
    buffer.set_id(id);
    return true;
  }

  // The bulk channel: from the socket straight into `dst`. False when there is no bulk
  // channel, or its connection broke during this download: gRPC then reads the rest, from
  // `*done` (the bytes in place) where the daemon can start part way, else all of it.
  bool DownloadBulk(RemoteBuffer& buffer, char* dst, size_t* done) {
    std::shared_ptr<BulkSocket> bulk = session_->bulk_socket();
    if (bulk == nullptr) return false;
    const size_t nbytes =
        core::NumElements(buffer.type().shape) * core::SizeOf(buffer.type().dtype);
    absl::Status status = bulk->Download(buffer.id(), dst, nbytes, done);
    if (!status.ok() && bulk->broken()) {
      if (!session_->resumable()) *done = 0;
      return false;
    }
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.round_trips;
      ++stats.downloads;
      ++stats.bulk_channel_transfers;
      stats.download_bytes += static_cast<int64_t>(nbytes);
      stats.bytes_received += static_cast<int64_t>(nbytes);
    });
    ThrowIfError(status);
    return true;
  }

  // Reads one Download stream of the buffer, handing each message's header and payload
  // pieces to `take`. Throws the call's failure.
  template <typename Take>
  void DownloadMessages(const v1::DownloadRequest& request, Take take) {
    bool malformed = false;
    std::vector<grpc::Slice> slices;
    std::vector<core::ByteSpan> pieces;
    grpc::Status status = OneMessageCall(kDownloadMethod, request, [&](grpc::ByteBuffer& message) {
      slices.clear();
      pieces.clear();
      message.Dump(&slices);
      for (const grpc::Slice& slice : slices) {
        pieces.push_back({reinterpret_cast<const char*>(slice.begin()), slice.size()});
      }
      absl::StatusOr<core::SplitMessage> split =
          core::SplitBytesField(pieces, v1::DownloadResponse::kDataFieldNumber);
      v1::DownloadResponse header;
      if (!split.ok() || !header.ParseFromString(split->rest)) {
        malformed = true;
        return;
      }
      take(header, *split);
    });
    session_->UpdateStats([](DeviceStats& stats) { ++stats.downloads; });
    if (!status.ok()) throw ToError(status, session_->address());
    if (malformed) {
      throw Error(ErrorCode::kDataLoss,
                  absl::StrCat("download of buffer ", request.buffer_id(), " from ferryd at ",
                               session_->address(), ": a message was not a DownloadResponse"));
    }
  }

  // Same host: the daemon copies the buffer into the session's shared region and this
  // copies it on into `dst` (nbytes of the buffer's size). False when shared memory is not
  // in use.
  bool DownloadShared(RemoteBuffer& buffer, void* dst) {
    const size_t nbytes = core::NumBytes(buffer.type());
    std::lock_guard<std::mutex> lock(session_->shared_mu());
    SharedRegion* region = session_->StagingRegion(nbytes);
    if (region == nullptr) return false;
    DownloadToRegion(buffer, nbytes, {region->name(), 0});
    core::CopyInHalves(static_cast<char*>(dst), region->data(), nbytes, Memcpy);
    return true;
  }

  // One Download call that has the daemon copy the buffer (`nbytes`) to its place in a
  // region it has mapped.
  void DownloadToRegion(RemoteBuffer& buffer, size_t nbytes, const Session::SharedPlace& place) {
    v1::DownloadRequest request;
    request.set_session_id(session_->id());
    request.set_buffer_id(buffer.id());
    request.set_shared_memory_name(place.name);
    request.set_shared_memory_offset(place.offset);
    uint64_t total_bytes = 0;
    bool unexpected_data = false;
    DownloadMessages(request,
                     [&](const v1::DownloadResponse& header, const core::SplitMessage& payload) {
                       if (header.total_bytes() != 0) total_bytes = header.total_bytes();
                       unexpected_data = unexpected_data || payload.field_bytes != 0;
                     });
    session_->UpdateStats([&](DeviceStats& stats) {
      ++stats.shared_memory_transfers;
      stats.download_bytes += static_cast<int64_t>(nbytes);
    });
    if (unexpected_data || (nbytes > 0 && total_bytes != nbytes)) {
      throw Error(
          ErrorCode::kDataLoss,
          absl::StrCat("download of buffer ", buffer.id(), " from ferryd at ", session_->address(),
                       " through shared memory gave ", total_bytes, " of ", nbytes, " bytes"));
    }
  }

  // Streams the buffer into `dst` (its type's size) from byte `done` on: each payload piece
  // is copied once, from the slice gRPC read it into. A stream that breaks goes on where it
  // stopped, up to kTransferAttempts streams in all, where the daemon can start part way.
  void Download(RemoteBuffer& buffer, char* dst, size_t done, const Session::Transfer& transfer) {
    const size_t nbytes =
        core::NumElements(buffer.type().shape) * core::SizeOf(buffer.type().dtype);
    const size_t from = done;
    bool resumed = done > 0;  // the bulk channel broke part way
    v1::DownloadRequest request;
    request.set_session_id(session_->id());
    request.set_buffer_id(buffer.id());
    request.set_chunk_bytes(session_->bulk_chunk_bytes());
    bool overflow = false;
    for (int attempt = 1;; ++attempt) {
      request.set_offset(done);
      try {
        DownloadMessages(
            request, [&](const v1::DownloadResponse& header, const core::SplitMessage& payload) {
              if (header.offset() != done || payload.field_bytes > nbytes - done) {
                overflow = true;
                return;
              }
              char* at = dst + done;
              for (const core::ByteSpan& piece : payload.field) {
                std::memcpy(at, piece.data, piece.size);
                at += piece.size;
              }
              done += payload.field_bytes;
            });
        break;
      } catch (const Error& e) {
        if (transfer.Cancelled()) throw TransferCancelled();
        if (e.code() != ErrorCode::kUnavailable || !session_->resumable() ||
            attempt == kTransferAttempts || overflow) {
          throw;
        }
      }
      resumed = true;
      session_->AwaitGrpcTransfers();
    }
    session_->UpdateStats([&](DeviceStats& stats) {
      stats.download_bytes += static_cast<int64_t>(done - from);
      // Once per download that went on where it broke (here, or on the bulk channel).
      if (resumed) ++stats.resumed_transfers;
    });
    if (overflow || done != nbytes) {
      throw Error(ErrorCode::kDataLoss,
                  absl::StrCat("download of buffer ", buffer.id(), " from ferryd at ",
                               session_->address(), " gave ", done, " of ", nbytes, " bytes"));
    }
  }

  std::shared_ptr<Session> session_;
};

}  // namespace

std::shared_ptr<DeviceImpl> ConnectRemoteDevice(const std::string& address,
                                                const ConnectOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (options.keepalive.count() > 0) {
    // Pings go on through a long silent eval; an unanswered one fails the calls in flight
    // (UNAVAILABLE) rather than leave them waiting on a daemon that vanished.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(std::min<int64_t>(options.keepalive.count(), 20000)));
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // Bulk transfers: large HTTP/2 frames and a deep per-stream window, so a chunk is not cut
  // into 16 KiB frames nor waits for window updates on loopback; a connection of its own
  // (a local subchannel pool) so it never shares one with executes.
  grpc::ChannelArguments bulk_args = args;
  bulk_args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, kBulkFrameBytes);
  bulk_args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kBulkWindowBytes);
  bulk_args.SetInt(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, kBulkWindowBytes);
  bulk_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentials(options);
  auto session = std::make_shared<Session>(
      address, grpc::CreateCustomChannel(address, credentials, args),
      grpc::CreateCustomChannel(address, credentials, bulk_args), options.token);

  v1::OpenSessionRequest request;
  request.set_min_protocol_version(kProtocolVersion);
  request.set_max_protocol_version(kProtocolVersion);
  request.set_client_name(options.client_name);
  v1::OpenSessionResponse response;
  grpc::ClientContext context;
  session->Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  context.set_wait_for_ready(true);  // wait for the daemon up to the deadline
  grpc::Status status = session->stub().OpenSession(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    throw Error(ErrorCode::kUnavailable,
                absl::StrCat("cannot reach ferryd at ", address, " within ",
                             options.timeout.count(), " ms: ", status.error_message()));
  }
  if (!status.ok()) {
    throw Error(
        static_cast<ErrorCode>(status.error_code()),
        absl::StrCat("ferryd at ", address, " refused the session: ", status.error_message()));
  }
  if (response.protocol_version() != kProtocolVersion) {
    throw Error(
        ErrorCode::kFailedPrecondition,
        absl::StrCat("ferryd at ", address, " chose protocol version ", response.protocol_version(),
                     "; this client speaks only ", kProtocolVersion));
  }
  session->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
    stats.bytes_received += static_cast<int64_t>(response.ByteSizeLong());
  });
  session->set_opened(std::move(response));
  session->set_peer_address(options.peer_address);
  session->set_peer_copies(options.peer_copies);
  session->set_upload_cache(options.upload_cache);
  if (options.pipeline) session->OpenPipeline();
  if (options.shared_memory) session->EnableSharedMemory();
  if (options.bulk_channel) {
    const std::chrono::milliseconds timeout = std::min(options.timeout, kBulkConnectTimeout);
    if (options.root_certs.empty() && options.client_cert.empty()) {
      session->OpenBulkChannel(options.bulk_address, timeout, options.keepalive, nullptr);
    } else if (absl::StatusOr<std::shared_ptr<core::TlsContext>> tls = core::TlsContext::ForClient(
                   options.root_certs, options.client_cert, options.client_key);
               tls.ok()) {
      session->OpenBulkChannel(options.bulk_address, timeout, options.keepalive, *tls);
    } else {
      std::fprintf(stderr, "ferry: no bulk channel to %s (transfers go over gRPC): %s\n",
                   address.c_str(), std::string(tls.status().message()).c_str());
    }
  }
  return std::make_shared<RemoteDevice>(std::move(session));
}

}  // namespace ferry::detail
