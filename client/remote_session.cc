#include "client/remote_session.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/status.h"

namespace ferry::detail {
namespace {

constexpr int64_t kDefaultChunkBytes = 1 << 20;
// Payload per Upload/Download message: a message is handed over only once all of it has
// arrived, so smaller messages let the receiver copy one while the next is on the wire;
// 4 MiB moved 16 MiB-1 GiB downloads from 0.4-0.66 to 0.53-0.99 of raw TCP against 16 MiB
// messages (1 MiB measured the same as 4).
constexpr int64_t kBulkChunkBytes = 4 << 20;
// Smaller uploads never ask the upload cache: a miss costs a round trip.
constexpr size_t kCachedUploadMinBytes = size_t{1} << 20;
// The first shared region's size; it grows to the largest transfer. Pages are only
// allocated when touched.
constexpr size_t kInitialSharedBytes = size_t{64} << 20;

}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

Error ToError(const absl::Status& status, const std::string& address) {
  const auto code = static_cast<ErrorCode>(status.code());
  if (code == ErrorCode::kUnavailable) {
    return Error(code, absl::StrCat("ferryd at ", address, " is unavailable: ", status.message()));
  }
  const absl::Status said = ReportedFailure(static_cast<int>(code), std::string(status.message()),
                                            absl::StrCat("ferryd at ", address));
  return Error(static_cast<ErrorCode>(said.code()), std::string(said.message()));
}

Error ToError(const grpc::Status& status, const std::string& address) {
  return ToError(FromGrpc(status), address);
}

RemoteSession::RemoteSession(std::string address, std::shared_ptr<grpc::Channel> channel,
                             std::shared_ptr<grpc::Channel> bulk_channel, std::string token)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      stub_(v1::Ferry::NewStub(channel_)),
      bulk_channel_(std::move(bulk_channel)),
      bulk_stub_(std::make_unique<grpc::GenericStub>(bulk_channel_)),
      token_(std::move(token)),
      graphs_(KnownGraphs::ForDaemon(address_)) {}

void RemoteSession::Prepare(grpc::ClientContext& context) {
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

void RemoteSession::PrepareControl(grpc::ClientContext& context) {
  Prepare(context);
  if (control_timeout_.count() > 0) {
    context.set_deadline(std::chrono::system_clock::now() + control_timeout_);
  }
}

void RemoteSession::OpenPipeline() {
  if (!Offers(kFeaturePipeline)) return;
  pipeline_ = std::make_unique<PipelineStream>(
      *stub_, id(), opened_.limits().pipeline_window(), address_,
      [this](grpc::ClientContext& context) { Prepare(context); },
      [this](std::vector<uint64_t> ids) {
        for (uint64_t id : ids) QueueRelease(id);
      },
      channel_);
}

void RemoteSession::EnableSharedMemory() {
  shared_memory_ = SharedRegion::Supported() && Offers(kFeatureSharedMemory);
}

void RemoteSession::OpenBulkChannel(const std::string& address, std::chrono::milliseconds timeout,
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

void RemoteSession::AddExecute(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(executes_mu_);
  executes_.insert(context);
}

void RemoteSession::RemoveExecute(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(executes_mu_);
  executes_.erase(context);
}

void RemoteSession::CancelExecutes() {
  std::lock_guard<std::mutex> lock(executes_mu_);
  ++cancels_;
  for (grpc::ClientContext* context : executes_) context->TryCancel();
}

void RemoteSession::InterruptTransfers() {
  if (transfers_.load() == 0) return;
  std::lock_guard<std::mutex> lock(bulk_mu_);
  if (bulk_socket_ != nullptr) bulk_socket_->Interrupt();
}

bool RemoteSession::Offers(const char* feature) const {
  const auto& features = opened_.features();
  return std::find(features.begin(), features.end(), feature) != features.end();
}

std::shared_ptr<BulkSocket> RemoteSession::bulk_socket() {
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

bool RemoteSession::CachesUpload(size_t bytes) {
  return upload_cache_ && bytes >= kCachedUploadMinBytes && ferry::CachedUploads::active() &&
         Offers(kFeatureUploadCache) && !SharedMemoryOn();
}

std::shared_ptr<BulkSocket> RemoteSession::RedialBulk() {
  {
    std::lock_guard<std::mutex> lock(bulk_mu_);
    bulk_dialled_ = {};
  }
  return bulk_socket();
}

void RemoteSession::AwaitGrpcTransfers() {
  grpc::experimental::ChannelResetConnectionBackoff(bulk_channel_.get());
  bulk_channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

bool RemoteSession::SharedMemoryOn() {
  std::lock_guard<std::mutex> lock(shared_mu_);
  return shared_memory_;
}

SharedRegion* RemoteSession::StagingRegion(size_t bytes) {
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

std::unique_ptr<SharedRegion> RemoteSession::MappedRegion(size_t size) {
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
  PrepareControl(context);
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

void RemoteSession::UnregisterRegion(const std::string& name) {
  v1::UnregisterSharedMemoryRequest request;
  request.set_session_id(id());
  request.set_name(name);
  v1::UnregisterSharedMemoryResponse response;
  grpc::ClientContext context;
  Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  stub_->UnregisterSharedMemory(&context, request, &response);  // best effort
}

void RemoteSession::AddHostRegion(const SharedRegion* region) {
  std::lock_guard<std::mutex> lock(host_regions_mu_);
  host_regions_[region->data()] = region;
}

void RemoteSession::RemoveHostRegion(const SharedRegion* region) {
  std::lock_guard<std::mutex> lock(host_regions_mu_);
  host_regions_.erase(region->data());
}

std::optional<RemoteSession::SharedPlace> RemoteSession::HostPlace(const void* data,
                                                                   size_t nbytes) {
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

int64_t RemoteSession::chunk_bytes() const {
  return opened_.limits().chunk_bytes() > 0 ? opened_.limits().chunk_bytes() : kDefaultChunkBytes;
}

size_t RemoteSession::bulk_chunk_bytes() const {
  const int64_t limit = opened_.limits().max_message_bytes();
  // Room for the message's other fields, but never under a page: an upload always moves on.
  return static_cast<size_t>(limit > 0 ? std::clamp<int64_t>(limit - 4096, 4096, kBulkChunkBytes)
                                       : kBulkChunkBytes);
}

bool RemoteSession::StreamsUpload(size_t bytes) const {
  return bytes > kInlineBindingBytes &&
         (pipeline_ == nullptr || bulk_offered_ || bytes > static_cast<size_t>(chunk_bytes()));
}

uint64_t RemoteSession::NewBufferId() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_buffer_id_++;
}

void RemoteSession::QueueRelease(uint64_t buffer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  releases_.push_back(buffer_id);
}

std::vector<uint64_t> RemoteSession::TakeReleases() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.released += static_cast<int64_t>(releases_.size());
  return std::exchange(releases_, {});
}

DeviceStats RemoteSession::stats() {
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

std::unique_ptr<BulkSocket> RemoteSession::DialBulk(std::string* why) {
  return BulkSocket::Connect(address_, bulk_address_, opened_.bulk_channel(), id(), bulk_timeout_,
                             bulk_keepalive_, bulk_tls_.get(), why);
}

}  // namespace ferry::detail
