#include "server/session_manager.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/log.h"

namespace ferry::server {
namespace {

// `size` bytes from the kernel's CSPRNG: session ids and bulk tickets must be unguessable,
// so one client cannot reach another's session by trying them.
std::string SecretBytes(size_t size) {
  std::string bytes(size, '\0');
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = getrandom(bytes.data() + filled, size - filled, 0);
    if (n > 0) {
      filled += static_cast<size_t>(n);
    } else if (errno != EINTR) {
      break;
    }
  }
  if (filled < size) {  // very old kernels: fall back to the device
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && filled < size) {
      ssize_t n = ::read(fd, bytes.data() + filled, size - filled);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) filled += static_cast<size_t>(n);
    }
    if (fd >= 0) ::close(fd);
  }
  if (filled < size) {
    // Predictable ids would let clients reach each other's buffers: better to stop.
    Log(LogLevel::kError,
        "no random bytes from getrandom or /dev/urandom for a session id or ticket");
    std::abort();
  }
  return bytes;
}

absl::Status UnknownSession(absl::string_view session_id) {
  return absl::NotFoundError(
      absl::StrCat("unknown session \"", absl::CHexEscape(session_id),
                   "\" (never opened, closed, its lease expired, or this ferryd started since)"));
}

std::string Freed(std::pair<int64_t, int64_t> freed) {
  return absl::StrCat("freed ", freed.first, " buffer", freed.first == 1 ? "" : "s", " (",
                      freed.second, " bytes)");
}

}  // namespace

absl::StatusOr<kernels::Tensor> Session::Get(uint64_t buffer_id) const {
  absl::MutexLock lock(&mu_);
  auto it = buffers_.find(buffer_id);
  if (it == buffers_.end()) {
    return absl::NotFoundError(absl::StrCat("session ", id_, ": buffer ", buffer_id,
                                            " is not resident (never uploaded, or released)"));
  }
  return it->second;
}

bool Session::closing() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

absl::Status Session::CheckNewId(uint64_t buffer_id) const {
  if (buffer_id == 0) {
    return absl::InvalidArgumentError("buffer id 0 is reserved (it means \"do not keep\")");
  }
  absl::MutexLock lock(&mu_);
  if (buffers_.contains(buffer_id)) {
    return absl::AlreadyExistsError(absl::StrCat("session ", id_, ": buffer ", buffer_id,
                                                 " is already resident; release it first"));
  }
  return absl::OkStatus();
}

absl::Status Session::Put(std::vector<std::pair<uint64_t, kernels::Tensor>> buffers) {
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", id_, " was closed or expired while the call ran"));
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    uint64_t buffer_id = buffers[i].first;
    if (buffer_id == 0) {
      return absl::InvalidArgumentError("buffer id 0 is reserved (it means \"do not keep\")");
    }
    bool repeated = std::any_of(buffers.begin(), buffers.begin() + i,
                                [&](const auto& b) { return b.first == buffer_id; });
    if (repeated || buffers_.contains(buffer_id)) {
      return absl::AlreadyExistsError(absl::StrCat("session ", id_, ": buffer ", buffer_id,
                                                   " is already resident; release it first"));
    }
  }
  int64_t bytes = 0;
  for (const auto& [buffer_id, tensor] : buffers) bytes += static_cast<int64_t>(tensor.nbytes());
  if (absl::Status room = CheckRoomLocked(bytes); !room.ok()) return room;
  for (auto& [buffer_id, tensor] : buffers) {
    // A broken upload's bytes, kept after the id was uploaded again from the start.
    if (auto partial = partial_uploads_.find(buffer_id); partial != partial_uploads_.end()) {
      TakePartialLocked(partial);
    }
    resident_bytes_ += static_cast<int64_t>(tensor.nbytes());
    buffers_.emplace(buffer_id, std::move(tensor));
  }
  peak_bytes_ = std::max(peak_bytes_, resident_bytes_);
  return absl::OkStatus();
}

void Session::RecordRun(int64_t run_bytes) {
  absl::MutexLock lock(&mu_);
  peak_bytes_ = std::max(peak_bytes_, resident_bytes_ + run_bytes);
}

int64_t Session::peak_bytes() const {
  absl::MutexLock lock(&mu_);
  return peak_bytes_;
}

void Session::ResetPeak() {
  absl::MutexLock lock(&mu_);
  peak_bytes_ = resident_bytes_;
}

absl::Status Session::CheckRoom(int64_t bytes) const {
  absl::MutexLock lock(&mu_);
  return CheckRoomLocked(bytes);
}

absl::Status Session::CheckRoomLocked(int64_t bytes) const {
  const int64_t offered = offers_.held_bytes();
  const int64_t held = resident_bytes_ + partial_bytes_ + offered;
  if (memory_quota_ <= 0 || held + bytes <= memory_quota_) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "session ", id_, ": keeping ", bytes, " more bytes would hold ", held + bytes,
      partial_bytes_ > 0 ? absl::StrCat(" (", partial_bytes_, " of broken uploads)") : "",
      offered > 0 ? absl::StrCat(" (", offered, " of released buffers offered to other daemons)")
                  : "",
      " resident, past the session's quota of ", memory_quota_,
      " (--max_session_memory); release arrays it no longer needs"));
}

void Session::KeepPartialUpload(uint64_t buffer_id, PartialUpload partial) {
  std::vector<PartialUpload> dropped;  // declared first: freed after the lock is dropped
  absl::MutexLock lock(&mu_);
  if (closed_ || buffers_.contains(buffer_id)) return;  // resident: uploaded again meanwhile
  if (auto it = partial_uploads_.find(buffer_id); it != partial_uploads_.end()) {
    dropped.push_back(TakePartialLocked(it));
  }
  while (static_cast<int>(partial_uploads_.size()) >= kMaxPartialUploads) {
    dropped.push_back(TakePartialLocked(std::min_element(
        partial_uploads_.begin(), partial_uploads_.end(),
        [](const auto& a, const auto& b) { return a.second.first < b.second.first; })));
  }
  partial_bytes_ += static_cast<int64_t>(partial.tensor.nbytes());
  partial_uploads_.emplace(buffer_id, std::make_pair(partials_kept_++, std::move(partial)));
}

std::optional<Session::PartialUpload> Session::TakePartialUpload(uint64_t buffer_id) {
  absl::MutexLock lock(&mu_);
  auto it = partial_uploads_.find(buffer_id);
  if (it == partial_uploads_.end()) return std::nullopt;
  return TakePartialLocked(it);
}

Session::PartialUpload Session::TakePartialLocked(PartialUploads::iterator it) {
  PartialUpload partial = std::move(it->second.second);
  partial_uploads_.erase(it);
  partial_bytes_ -= static_cast<int64_t>(partial.tensor.nbytes());
  return partial;
}

int64_t Session::BeginUpload(uint64_t buffer_id, std::function<void()> interrupt) {
  absl::MutexLock lock(&mu_);
  const int64_t token = ++upload_tokens_;
  uploads_[buffer_id] = {token, std::move(interrupt)};
  return token;
}

void Session::EndUpload(uint64_t buffer_id, int64_t token) {
  absl::MutexLock lock(&mu_);
  if (auto it = uploads_.find(buffer_id); it != uploads_.end() && it->second.first == token) {
    uploads_.erase(it);
  }
}

void Session::InterruptUpload(uint64_t buffer_id, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto it = uploads_.find(buffer_id);
  if (it == uploads_.end()) return;
  const int64_t token = it->second.first;
  it->second.second();
  auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto now = uploads_.find(buffer_id);
    return now == uploads_.end() || now->second.first != token;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
}

uint64_t Session::PartialUploadBytes(uint64_t buffer_id, const core::TensorType& type) const {
  absl::MutexLock lock(&mu_);
  auto it = partial_uploads_.find(buffer_id);
  if (it == partial_uploads_.end() || it->second.second.tensor.type != type) return 0;
  return it->second.second.received;
}

void Session::Release(absl::Span<const uint64_t> buffer_ids) {
  std::vector<kernels::Tensor> freed;  // declared first: freed after the lock is dropped
  absl::MutexLock lock(&mu_);
  for (uint64_t buffer_id : buffer_ids) {
    if (auto partial = partial_uploads_.find(buffer_id); partial != partial_uploads_.end()) {
      freed.push_back(TakePartialLocked(partial).tensor);
    }
    auto it = buffers_.find(buffer_id);
    if (it == buffers_.end()) continue;
    offers_.Released(buffer_id);
    resident_bytes_ -= static_cast<int64_t>(it->second.nbytes());
    freed.push_back(std::move(it->second));
    buffers_.erase(it);
  }
}

int64_t Session::num_buffers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(buffers_.size());
}

int64_t Session::num_groups() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(groups_.size());
}

int64_t Session::resident_bytes() const {
  absl::MutexLock lock(&mu_);
  return resident_bytes_;
}

int64_t Session::kept_upload_bytes() const {
  absl::MutexLock lock(&mu_);
  return partial_bytes_;
}

int64_t Session::DropKeptUploads() {
  PartialUploads dropped;  // declared first: freed after the lock is dropped
  absl::MutexLock lock(&mu_);
  dropped.swap(partial_uploads_);
  return std::exchange(partial_bytes_, 0);
}

absl::Status Session::AddRegion(std::shared_ptr<SharedMemoryRegion> region) {
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("[shared_memory] session ", id_, " is closed"));
  }
  if (regions_.contains(region->name())) {
    return absl::AlreadyExistsError(absl::StrCat("[shared_memory] region ", region->name(),
                                                 " is already registered in session ", id_));
  }
  if (regions_.size() >= kMaxRegions) {
    return absl::ResourceExhaustedError(
        absl::StrCat("[shared_memory] session ", id_, " has ", regions_.size(),
                     " regions registered, the most a session may"));
  }
  const std::string name = region->name();
  regions_.emplace(name, std::move(region));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> Session::Region(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("[shared_memory] region ", name, " is not registered in session ", id_));
  }
  return it->second;
}

absl::Status Session::RemoveRegion(absl::string_view name) {
  std::shared_ptr<SharedMemoryRegion> region;  // unmapped here, outside the lock
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("[shared_memory] region ", name, " is not registered in session ", id_));
  }
  region = std::move(it->second);
  regions_.erase(it);
  return absl::OkStatus();
}

int64_t Session::num_regions() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(regions_.size());
}

absl::Status Session::ReserveGroup(int64_t handle) {
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::FailedPreconditionError(absl::StrCat("session ", id_, " is closed"));
  }
  if (groups_.contains(handle) || reserved_groups_.contains(handle)) {
    return absl::AlreadyExistsError(
        absl::StrCat("[join_group] session ", id_, " already has a group ", handle));
  }
  if (groups_.size() + reserved_groups_.size() >= kMaxGroups) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "[join_group] session ", id_, " is in ", groups_.size(), " groups and joining ",
        reserved_groups_.size(), " more: at most ", kMaxGroups, " per session"));
  }
  reserved_groups_.insert(handle);
  return absl::OkStatus();
}

absl::Status Session::AddGroup(int64_t handle, std::shared_ptr<kernels::Communicator> group) {
  absl::MutexLock lock(&mu_);
  reserved_groups_.erase(handle);
  if (closed_) {
    return absl::FailedPreconditionError(absl::StrCat("session ", id_, " is closed"));
  }
  groups_.emplace(handle, std::move(group));
  return absl::OkStatus();
}

void Session::AbortGroups(const std::string& why, bool busy_only) {
  std::vector<std::shared_ptr<kernels::Communicator>> groups;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [handle, group] : groups_) groups.push_back(group);
  }
  for (const auto& group : groups) {
    if (!busy_only || group->Busy()) group->Abort(why);
  }
}

void Session::CancelGroup(int64_t handle) {
  absl::MutexLock lock(&mu_);
  reserved_groups_.erase(handle);
}

absl::StatusOr<std::shared_ptr<kernels::Communicator>> Session::FindGroup(int64_t handle) const {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(handle);
  if (it == groups_.end()) {
    return absl::NotFoundError(absl::StrCat("session ", id_, " has no group ", handle,
                                            " (ferry::distributed::init joins one)"));
  }
  return it->second;
}

void Session::StartArrival(uint64_t buffer_id) {
  absl::MutexLock lock(&mu_);
  if (!closed_) arrivals_[buffer_id].reset();
}

void Session::PutArrival(uint64_t buffer_id, absl::StatusOr<kernels::Tensor> tensor) {
  absl::MutexLock lock(&mu_);
  if (!closed_) arrivals_[buffer_id] = std::move(tensor);
}

void Session::ForgetArrival(uint64_t buffer_id) {
  absl::MutexLock lock(&mu_);
  arrivals_.erase(buffer_id);
}

absl::StatusOr<kernels::Tensor> Session::TakeArrival(uint64_t buffer_id,
                                                     absl::Duration announce_timeout) {
  absl::MutexLock lock(&mu_);
  auto announced = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || arrivals_.contains(buffer_id) || bulk_connections_ == 0;
  };
  auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = arrivals_.find(buffer_id);
    return closed_ || it == arrivals_.end() || it->second.has_value();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&announced), announce_timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("buffer ", buffer_id, ": no upload of it began on the bulk channel within ",
                     absl::FormatDuration(announce_timeout)));
  }
  if (!closed_ && !arrivals_.contains(buffer_id)) {
    return absl::UnavailableError(
        absl::StrCat("buffer ", buffer_id, ": the bulk connection closed before its upload began"));
  }
  mu_.Await(absl::Condition(&arrived));
  auto it = arrivals_.find(buffer_id);
  if (closed_ || it == arrivals_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", id_, " closed before buffer ", buffer_id, " arrived"));
  }
  absl::StatusOr<kernels::Tensor> tensor = std::move(*it->second);
  arrivals_.erase(it);
  return tensor;
}

void Session::BulkConnected() {
  absl::MutexLock lock(&mu_);
  ++bulk_connections_;
}

void Session::BulkDisconnected() {
  absl::MutexLock lock(&mu_);
  --bulk_connections_;
}

std::pair<int64_t, int64_t> Session::Close() {
  absl::flat_hash_map<uint64_t, kernels::Tensor> buffers;
  absl::flat_hash_map<std::string, std::shared_ptr<SharedMemoryRegion>> regions;
  absl::flat_hash_map<uint64_t, std::optional<absl::StatusOr<kernels::Tensor>>> arrivals;
  absl::flat_hash_map<int64_t, std::shared_ptr<kernels::Communicator>> groups;
  PartialUploads partials;
  std::pair<int64_t, int64_t> freed;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    partials.swap(partial_uploads_);
    partial_bytes_ = 0;
    groups.swap(groups_);
    regions.swap(regions_);
    buffers.swap(buffers_);
    arrivals.swap(arrivals_);
    freed = {static_cast<int64_t>(buffers.size()), resident_bytes_};
    resident_bytes_ = 0;
  }
  offers_.Close();
  for (const auto& [handle, group] : groups) group->Abort("its session closed");
  return freed;  // `buffers` goes here, returning its memory to the backend
}

SessionRef::~SessionRef() {
  if (manager_ != nullptr) manager_->Unpin(session_);
}

SessionManager::SessionManager(absl::Duration lease, int64_t session_memory_quota)
    : lease_(lease), session_memory_quota_(session_memory_quota) {}

SessionManager::~SessionManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (reaper_.joinable()) reaper_.join();
  absl::flat_hash_map<std::string, Entry> sessions;
  {
    absl::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (auto& [id, entry] : sessions) entry.session->Close();
}

void SessionManager::StartReaper() {
  if (!reaper_.joinable()) reaper_ = std::thread([this] { ReaperLoop(); });
}

absl::StatusOr<SessionRef> SessionManager::Open(absl::string_view client_name,
                                                absl::string_view cache_scope) {
  // The id is 16 secret bytes as 32 hex digits.
  auto session =
      std::make_shared<Session>(absl::BytesToHexString(SecretBytes(16)), std::string(client_name),
                                SecretBytes(16), session_memory_quota_);
  if (queue_factory_) session->queue_ = queue_factory_();
  session->cache_scope_ = std::string(cache_scope);
  absl::MutexLock lock(&mu_);
  if (max_sessions_ > 0 && static_cast<int64_t>(sessions_.size()) >= max_sessions_) {
    const absl::Time now = absl::Now();
    int64_t open = 0;
    for (const auto& [id, entry] : sessions_) open += Expired(entry, now) ? 0 : 1;
    if (open >= max_sessions_) {
      ++refused_;
      return absl::ResourceExhaustedError(
          absl::StrCat("ferryd holds ", open, open == 1 ? " session" : " sessions",
                       ", its --max_sessions: close one, or wait for an idle one's lease to end"));
    }
  }
  Entry& entry = sessions_[session->id()];
  entry.session = session;
  entry.last_use = absl::Now();
  entry.active_calls = 1;
  return SessionRef(this, std::move(session));
}

absl::StatusOr<SessionRef> SessionManager::Acquire(absl::string_view session_id) {
  Entry expired;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return UnknownSession(session_id);
    absl::Time now = absl::Now();
    if (!Expired(it->second, now)) {
      it->second.last_use = now;
      ++it->second.active_calls;
      if (it->second.abandoned) {
        it->second.abandoned = false;
        LogEvent(absl::StrCat("session ", session_id, ": its client is back"));
      }
      return SessionRef(this, it->second.session);
    }
    expired = std::move(it->second);
    sessions_.erase(it);
  }
  EndExpired(expired);
  return UnknownSession(session_id);
}

absl::Status SessionManager::Close(absl::string_view session_id) {
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return UnknownSession(session_id);
    session = std::move(it->second.session);
    sessions_.erase(it);
  }
  ++ended_[static_cast<int>(SessionEnd::kClosed)];
  LogEvent(absl::StrCat("session ", session->id(), " closed; ", Freed(session->Close())));
  return absl::OkStatus();
}

void SessionManager::MarkAbandoned(absl::string_view session_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    // Another call of the session in flight (beside the caller's): the client is back.
    if (it == sessions_.end() || it->second.active_calls > 1) return;
    it->second.abandoned = true;
  }
  LogEvent(absl::StrCat("session ", session_id,
                        ": its client went away mid-stream (connection lost); kept for ",
                        absl::FormatDuration(lease_), " for it to reconnect"));
}

void SessionManager::EndExpired(const Entry& entry) {
  const SessionEnd why = entry.abandoned ? SessionEnd::kAbandoned : SessionEnd::kExpired;
  ++ended_[static_cast<int>(why)];
  LogEvent(
      absl::StrCat("session ", entry.session->id(), " expired after ", absl::FormatDuration(lease_),
                   why == SessionEnd::kAbandoned ? " without its client coming back; " : " idle; ",
                   Freed(entry.session->Close())));
}

void SessionManager::Unpin(const std::shared_ptr<Session>& session) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session->id());
  // A session closed during the call is gone from the table; nothing to renew.
  if (it == sessions_.end() || it->second.session != session) return;
  it->second.last_use = absl::Now();
  --it->second.active_calls;
}

int SessionManager::ReapExpired(absl::Time now) {
  std::vector<Entry> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (Expired(it->second, now)) {
        expired.push_back(std::move(it->second));
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  for (const Entry& entry : expired) EndExpired(entry);
  return static_cast<int>(expired.size());
}

bool SessionManager::IsOpen(absl::string_view session_id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  return it != sessions_.end() && !Expired(it->second, absl::Now());
}

int64_t SessionManager::num_sessions() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(sessions_.size());
}

int64_t SessionManager::resident_bytes() const {
  int64_t bytes = 0;
  for (const auto& session : Snapshot()) bytes += session->resident_bytes();
  return bytes;
}

int64_t SessionManager::kept_upload_bytes() const {
  int64_t bytes = 0;
  for (const auto& session : Snapshot()) bytes += session->kept_upload_bytes();
  return bytes;
}

int64_t SessionManager::DropKeptUploads(int64_t needed) {
  int64_t freed = 0;
  for (const auto& session : Snapshot()) {
    if (freed >= needed) break;
    freed += session->DropKeptUploads();
  }
  if (freed > 0) {
    Log(LogLevel::kInfo, absl::StrCat("dropped ", freed,
                                      " bytes of broken uploads kept for a resume: memory was "
                                      "wanted (their clients will upload them again)"));
  }
  return freed;
}

std::vector<std::shared_ptr<Session>> SessionManager::Snapshot() const {
  std::vector<std::shared_ptr<Session>> sessions;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, entry] : sessions_) sessions.push_back(entry.session);
  return sessions;
}

std::vector<SessionListing> SessionManager::List() const {
  struct Seen {
    std::shared_ptr<Session> session;
    absl::Duration idle;
    bool abandoned;
  };
  std::vector<Seen> sessions;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (const auto& [id, entry] : sessions_) {
      sessions.push_back({entry.session,
                          entry.active_calls > 0 ? absl::ZeroDuration() : now - entry.last_use,
                          entry.abandoned});
    }
  }
  std::vector<SessionListing> listing;
  listing.reserve(sessions.size());
  for (const Seen& seen : sessions) {
    const Session& session = *seen.session;
    listing.push_back({session.id(), session.client_name(), session.num_buffers(),
                       session.resident_bytes(), seen.idle, session.num_groups(), seen.abandoned,
                       session.kept_upload_bytes(), seen.session->offers().held_bytes(),
                       session.peak_bytes()});
  }
  return listing;
}

void SessionManager::ReaperLoop() {
  // A few wake-ups per lease, so a session outlives its lease by at most a quarter of it
  // (capped at a second for long leases).
  absl::Duration period = std::clamp(lease_ / 4, absl::Milliseconds(10), absl::Seconds(1));
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) break;
    mu_.Unlock();
    ReapExpired(absl::Now());
    mu_.Lock();
  }
}

}  // namespace ferry::server
