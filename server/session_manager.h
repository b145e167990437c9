#ifndef FERRY_SERVER_SESSION_MANAGER_H_
#define FERRY_SERVER_SESSION_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kernels/backend.h"
#include "kernels/collectives.h"
#include "kernels/tensor.h"
#include "server/peer_offers.h"
#include "server/shared_memory.h"
#include "server/upload_cache.h"

namespace ferry::server {

// One client's session: its resident buffers under client-chosen handles. A session sees
// only its own buffers; every lookup is by (this session, handle). Thread-safe.
class Session : public kernels::CommunicatorDirectory {
 public:
  // `memory_quota`: the most bytes its buffers may hold resident together; 0: no limit
  // but the daemon's.
  Session(std::string id, std::string client_name, std::string bulk_ticket = "",
          int64_t memory_quota = 0)
      : id_(std::move(id)),
        client_name_(std::move(client_name)),
        bulk_ticket_(std::move(bulk_ticket)),
        memory_quota_(memory_quota) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return id_; }
  const std::string& client_name() const { return client_name_; }
  // Which entries of the upload cache this session may find: those its token's sessions
  // uploaded ("" for every session when the daemon takes no tokens).
  const std::string& cache_scope() const { return cache_scope_; }
  // With the id, admits a connection of this session to the bulk channel (16 secret bytes).
  const std::string& bulk_ticket() const { return bulk_ticket_; }

  // The resident buffer `buffer_id`, or NOT_FOUND
  // "session s: buffer 17 is not resident (never uploaded, or released)".
  absl::StatusOr<kernels::Tensor> Get(uint64_t buffer_id) const;

  // OK when `buffer_id` can name a new buffer: INVALID_ARGUMENT for 0 (reserved), and
  // ALREADY_EXISTS while a resident buffer holds it.
  absl::Status CheckNewId(uint64_t buffer_id) const;

  // Makes the tensors resident under their handles, all or none: fails as CheckNewId
  // does, as CheckRoom does for their bytes together, or FAILED_PRECONDITION once the
  // session was closed or expired.
  absl::Status Put(std::vector<std::pair<uint64_t, kernels::Tensor>> buffers);

  // OK when `bytes` more may be resident in this session: RESOURCE_EXHAUSTED naming its
  // quota (--max_session_memory) when they would take it past. An upload asks before its
  // bytes come; Put asks again.
  absl::Status CheckRoom(int64_t bytes) const;

  // Frees the buffers now. Handles that are not resident are ignored, so releasing
  // twice, or after the session's lease ran out, is harmless.
  void Release(absl::Span<const uint64_t> buffer_ids);

  // What arrived of an upload that ended short (its connection broke), kept for its
  // client to resume (UploadRequest.resume_offset): at most kMaxPartialUploads per session,
  // the oldest dropped first, their bytes counted against the quota as resident ones are.
  // A Release of the id ends one too. Kept only while the session is open.
  struct PartialUpload {
    kernels::Tensor tensor;  // of the upload's spec
    uint64_t received = 0;   // its first `received` bytes are the upload's
  };
  static constexpr int kMaxPartialUploads = 4;
  void KeepPartialUpload(uint64_t buffer_id, PartialUpload partial);
  // Hands the kept upload over (nullopt when none is kept under the id).
  std::optional<PartialUpload> TakePartialUpload(uint64_t buffer_id);
  // The bytes kept of `buffer_id`'s upload when it was of `type`; 0 otherwise.
  uint64_t PartialUploadBytes(uint64_t buffer_id, const core::TensorType& type) const;
  // Uploads in progress that can be interrupted, by buffer id. After a network change the
  // daemon's end of the old connection may hear nothing for minutes (until its keepalive
  // gives up) while the client already asks to resume on a new one: the resume interrupts
  // the old upload (`interrupt` shuts its socket; called under the session's lock, so it
  // must not call back into the session) and waits up to `timeout` for it to end, keeping
  // what it received. BeginUpload returns the token EndUpload takes.
  int64_t BeginUpload(uint64_t buffer_id, std::function<void()> interrupt);
  void EndUpload(uint64_t buffer_id, int64_t token);
  void InterruptUpload(uint64_t buffer_id, absl::Duration timeout);

  // Uploads on the bulk channel for a pipeline step (BulkRequest.for_pipeline): the
  // channel says one is coming (StartArrival) and hands over the tensor or why it could not
  // be received (PutArrival); the step takes it, waiting up to `announce_timeout` for the
  // channel to start on it and then as long as the bytes take. FAILED_PRECONDITION once the
  // session is closed, DEADLINE_EXCEEDED when nothing was announced in time, UNAVAILABLE at
  // once when no bulk connection of the session is open (it broke before the upload began).
  void StartArrival(uint64_t buffer_id);
  void PutArrival(uint64_t buffer_id, absl::StatusOr<kernels::Tensor> tensor);
  absl::StatusOr<kernels::Tensor> TakeArrival(uint64_t buffer_id, absl::Duration announce_timeout);
  // Drops what a broken upload left there, before its resume is announced anew.
  void ForgetArrival(uint64_t buffer_id);
  // The bulk connections of this session that are open (after their hello, until they end).
  void BulkConnected();
  void BulkDisconnected();

  // Buffers offered to other daemons (feature "peer_copy"); closed with the session, and an
  // offer whose buffer is released counts against the quota until fetched.
  PeerOffers& offers() { return offers_; }
  // Pipeline executes of this session running now (the one that computes an offered buffer
  // may be one: a fetch waits for the offer while the session computes).
  void ExecuteStarted() { ++running_executes_; }
  void ExecuteEnded() { --running_executes_; }
  bool computing() const { return running_executes_.load() > 0; }

  // Whether the session was closed (or is being): a run for it may stop.
  bool closing() const;

  int64_t num_buffers() const;
  int64_t num_groups() const;
  int64_t resident_bytes() const;
  // The most its buffers, and one of its runs' intermediates and outputs besides them, held
  // at once since it opened or ResetPeak (GetInfo's session_peak_bytes; the client's
  // memory_info). RecordRun: a run of its graphs took `run_bytes` at its most.
  int64_t peak_bytes() const;
  void ResetPeak();
  void RecordRun(int64_t run_bytes);
  int64_t kept_upload_bytes() const;  // of broken uploads kept for a resume
  // Frees every broken upload kept for a resume; the bytes freed.
  int64_t DropKeptUploads();

  // The backend queue (a CUDA stream) this session's work runs on; nullptr on the CPU.
  // Handlers bind it with kernels::QueueScope.
  kernels::Queue* queue() const { return queue_.get(); }
  const std::shared_ptr<kernels::Queue>& shared_queue() const { return queue_; }

  // Shared-memory regions the client registered (same-host transfers), unmapped when the
  // session closes or expires. AddRegion fails with ALREADY_EXISTS for a registered name,
  // RESOURCE_EXHAUSTED past kMaxRegions, FAILED_PRECONDITION once closed.
  static constexpr size_t kMaxRegions = 16;
  absl::Status AddRegion(std::shared_ptr<SharedMemoryRegion> region);
  // NOT_FOUND "[shared_memory] region /x is not registered in session s".
  absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> Region(absl::string_view name) const;
  absl::Status RemoveRegion(absl::string_view name);
  int64_t num_regions() const;

  // The groups this session joined (JoinGroup), by the client's handle: the collectives of
  // its graphs run with them. ReserveGroup holds `handle` while its group links, until
  // AddGroup (which fails once the session is closed) or CancelGroup: ALREADY_EXISTS for a
  // handle in use or reserved, RESOURCE_EXHAUSTED past kMaxGroups groups and reservations
  // (each linked group holds two sockets), FAILED_PRECONDITION once closed. Closing the
  // session ends its groups' links.
  static constexpr int kMaxGroups = 64;
  absl::Status ReserveGroup(int64_t handle);
  absl::Status AddGroup(int64_t handle, std::shared_ptr<kernels::Communicator> group);
  void CancelGroup(int64_t handle);
  absl::StatusOr<std::shared_ptr<kernels::Communicator>> FindGroup(int64_t handle) const override;
  // Ends the session's groups (Communicator::Abort, saying `why`), or only those with a call
  // in progress when `busy_only`: a step of this rank was lost or stopped, so its calls may
  // no longer match its peers'; they fail at once rather than wait out the group's timeout,
  // and so does a call blocked here.
  void AbortGroups(const std::string& why, bool busy_only);

 private:
  friend class SessionManager;
  using PartialUploads = absl::flat_hash_map<uint64_t, std::pair<int64_t, PartialUpload>>;

  // Caller holds mu_.
  absl::Status CheckRoomLocked(int64_t bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a kept upload out, its bytes off the count.
  PartialUpload TakePartialLocked(PartialUploads::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Frees every buffer, refuses later Puts and ends its groups' links (a collective blocked
  // on one fails at once, here and at the peers). Returns (buffers, bytes) freed.
  std::pair<int64_t, int64_t> Close();

  const std::string id_;
  const std::string client_name_;
  std::string cache_scope_;  // set once, by SessionManager::Open
  const std::string bulk_ticket_;
  const int64_t memory_quota_;
  std::shared_ptr<kernels::Queue> queue_;  // set once, by SessionManager::Open
  PeerOffers offers_;
  std::atomic<int> running_executes_{0};
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, kernels::Tensor> buffers_ ABSL_GUARDED_BY(mu_);
  int64_t resident_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // With the order each was kept in, to drop the oldest.
  PartialUploads partial_uploads_ ABSL_GUARDED_BY(mu_);
  int64_t partial_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t partials_kept_ ABSL_GUARDED_BY(mu_) = 0;
  // By buffer id: the token and the interrupt of an upload in progress.
  absl::flat_hash_map<uint64_t, std::pair<int64_t, std::function<void()>>> uploads_
      ABSL_GUARDED_BY(mu_);
  int64_t upload_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<SharedMemoryRegion>> regions_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::shared_ptr<kernels::Communicator>> groups_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int64_t> reserved_groups_ ABSL_GUARDED_BY(mu_);
  // By buffer id: announced (nullopt) or arrived (the tensor, or why not).
  int bulk_connections_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::optional<absl::StatusOr<kernels::Tensor>>> arrivals_
      ABSL_GUARDED_BY(mu_);
};

class SessionManager;

// Why a session ended: its client closed it, its lease ran out, or its lease ran out after
// its client vanished mid-stream (the connection reset, or silent past the keepalive) and
// did not come back.
enum class SessionEnd { kClosed = 0, kExpired = 1, kAbandoned = 2 };

// What GetInfo and ferryctl show of an open session.
struct SessionListing {
  std::string id;
  std::string client_name;
  int64_t buffers = 0;
  int64_t resident_bytes = 0;
  absl::Duration idle;            // zero while a call holds the session
  int64_t groups = 0;             // groups it is a rank of
  bool abandoned = false;         // its client vanished mid-stream and has not come back
  int64_t kept_upload_bytes = 0;  // of broken uploads kept for a resume
  int64_t offered_bytes = 0;      // of released buffers still offered to other daemons
  int64_t peak_bytes = 0;         // Session::peak_bytes
};

// A session pinned for the length of one call: it cannot expire while held, and the
// lease restarts when it is dropped. Move-only.
class SessionRef {
 public:
  SessionRef(SessionRef&& other) noexcept
      : manager_(std::exchange(other.manager_, nullptr)), session_(std::move(other.session_)) {}
  SessionRef& operator=(SessionRef&&) = delete;
  ~SessionRef();

  Session& operator*() const { return *session_; }
  Session* operator->() const { return session_.get(); }

 private:
  friend class SessionManager;
  SessionRef(SessionManager* manager, std::shared_ptr<Session> session)
      : manager_(manager), session_(std::move(session)) {}

  SessionManager* manager_;
  std::shared_ptr<Session> session_;
};

// The daemon's sessions. Each has a lease of `lease`, renewed by every call that names
// it; a session idle past its lease is expired and its buffers freed, by the reaper thread
// or by the next lookup, whichever comes first. Thread-safe.
class SessionManager {
 public:
  // Each session may keep at most `session_memory_quota` bytes resident (0: no limit but
  // the backend's).
  explicit SessionManager(absl::Duration lease, int64_t session_memory_quota = 0);
  ~SessionManager();  // stops the reaper; frees every session's buffers
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // Starts the thread that frees expired sessions, waking a few times per lease.
  void StartReaper();

  // Gives each new session its own backend queue (call before serving).
  void SetQueueFactory(std::function<std::shared_ptr<kernels::Queue>()> factory) {
    queue_factory_ = std::move(factory);
  }

  // The daemon's upload cache, which uploads naming a content digest use (feature
  // "upload_cache"; call before serving). Not owned; null: none.
  void SetUploadCache(UploadCache* cache) { upload_cache_ = cache; }
  UploadCache* upload_cache() const { return upload_cache_; }

  // At most `max` sessions open at once (--max_sessions; call before serving); 0: no limit.
  void SetMaxSessions(int64_t max) { max_sessions_ = max; }

  // A new session with a random 128-bit id (32 hex digits, from the kernel's CSPRNG);
  // `cache_scope`: see Session::cache_scope. RESOURCE_EXHAUSTED naming --max_sessions when
  // that many are open (those past their lease but not yet reaped do not count).
  absl::StatusOr<SessionRef> Open(absl::string_view client_name,
                                  absl::string_view cache_scope = "");

  // The open session `session_id`, pinned and its lease renewed; NOT_FOUND naming it when
  // it was never opened, was closed, or expired.
  absl::StatusOr<SessionRef> Acquire(absl::string_view session_id);

  // Closes the session and frees its buffers at once; NOT_FOUND as Acquire.
  absl::Status Close(absl::string_view session_id);

  // The session's client vanished mid-stream (see FerryService::Pipeline; the caller holds
  // the session): it is kept for its lease, for the client to reconnect (any call of it
  // counts), and counted as kAbandoned rather than kExpired if it does not.
  void MarkAbandoned(absl::string_view session_id);

  // Expires every unpinned session idle for longer than the lease at `now`; returns how
  // many. The reaper calls this; tests may too.
  int ReapExpired(absl::Time now);

  absl::Duration lease() const { return lease_; }
  // Whether `session_id` is open and unexpired, without renewing its lease (a watcher's
  // question, not a use).
  bool IsOpen(absl::string_view session_id) const;
  int64_t num_sessions() const;
  int64_t resident_bytes() const;  // all sessions' buffers together
  // Sessions that ended so, since start.
  int64_t sessions_ended(SessionEnd why) const { return ended_[static_cast<int>(why)].load(); }
  // Sessions refused for --max_sessions, since start.
  int64_t sessions_refused() const { return refused_.load(); }
  // Bytes of broken uploads kept in all sessions, and uploads resumed so far.
  int64_t kept_upload_bytes() const;
  // Frees kept broken uploads, session by session, until at least `needed` bytes are freed
  // or none are left; the bytes freed. The backend's memory budget asks this when full
  // (MemoryBudget::set_reclaimer): memory a client may never come back for gives way.
  int64_t DropKeptUploads(int64_t needed);
  void CountResumedUpload() { ++uploads_resumed_; }
  int64_t uploads_resumed() const { return uploads_resumed_.load(); }

  // Every open session, in no particular order.
  std::vector<SessionListing> List() const;

 private:
  // The open sessions now, held so they can be asked without the manager's lock.
  std::vector<std::shared_ptr<Session>> Snapshot() const;
  friend class SessionRef;
  struct Entry {
    std::shared_ptr<Session> session;
    absl::Time last_use;
    int active_calls = 0;
    bool abandoned = false;  // MarkAbandoned, and no call since
  };

  void Unpin(const std::shared_ptr<Session>& session);
  bool Expired(const Entry& entry, absl::Time now) const {
    return entry.active_calls == 0 && now - entry.last_use > lease_;
  }
  // Counts and logs the end of `entry`'s session by expiry, and frees it.
  void EndExpired(const Entry& entry);
  void ReaperLoop();

  const absl::Duration lease_;
  const int64_t session_memory_quota_;
  int64_t max_sessions_ = 0;  // set once, before serving
  std::function<std::shared_ptr<kernels::Queue>()> queue_factory_;
  UploadCache* upload_cache_ = nullptr;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> ended_[3] = {};  // by SessionEnd
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> uploads_resumed_{0};
  std::thread reaper_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_SESSION_MANAGER_H_
