#ifndef FERRY_SERVER_UPLOAD_CACHE_H_
#define FERRY_SERVER_UPLOAD_CACHE_H_

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "kernels/backend.h"
#include "kernels/tensor.h"
#include "server/upload_cache_disk.h"

namespace ferry::server {

// Uploads' bytes kept by their content digest (feature "upload_cache"), so a client that
// starts again, or another session loading the same checkpoint, gets its weights from here
// instead of over the network. An upload that names its digest is offered here; a checker
// thread hashes what actually arrived and keeps it only if it matches (a client cannot
// plant bytes under another's digest). Entries belong to a scope (the sessions of one
// bearer token; all sessions when the daemon has none) and are found only from it. They
// hold at most `capacity` bytes together, the least recently used dropped first, and give
// way when memory is needed (Reclaim). Thread-safe.
class UploadCache {
 public:
  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t entries = 0;
    int64_t bytes = 0;
    int64_t rejected = 0;  // offers whose bytes did not match their digest
    int64_t disk_entries = 0;
    int64_t disk_bytes = 0;
  };

  // With `disk`, checked entries are also written there and found there once they have
  // left memory, or after a restart (read back, checked again, and kept in memory).
  UploadCache(int64_t capacity, kernels::Backend& backend,
              std::unique_ptr<UploadCacheDisk> disk = nullptr);
  ~UploadCache();  // stops the checker; waiting offers are dropped
  UploadCache(const UploadCache&) = delete;
  UploadCache& operator=(const UploadCache&) = delete;

  int64_t capacity() const { return capacity_; }

  // A tensor of `type` holding the bytes kept under (`scope`, `digest`), or nullopt (a
  // miss). On a host-addressable backend it shares the entry's memory (tensors are never
  // written once made); elsewhere it is a new tensor of the caller's queue with a copy of
  // them made there (device to device) and waited for, so no other queue's work ever reads
  // memory this one frees. Errors: the
  // allocation's (RESOURCE_EXHAUSTED) or the copy's.
  absl::StatusOr<std::optional<kernels::Tensor>> Find(const std::string& scope,
                                                      const std::string& digest,
                                                      const core::TensorType& type);

  // `tensor` arrived whole, uploaded with `digest`; `queue` is the one its bytes were
  // written on (the checker reads them there, after the writes). Kept once checked.
  void Offer(std::string scope, std::string digest, kernels::Tensor tensor,
             std::shared_ptr<kernels::Queue> queue);

  // Drops offers and entries only this cache holds (no session's buffer shares them): the
  // newest offers first (not checked yet), then the least recently used entries, until
  // `needed` bytes are freed or none is left; the bytes freed.
  int64_t Reclaim(int64_t needed);

  Stats stats() const;

  // For tests: returns once every offer made so far has been checked.
  void WaitForChecks();

 private:
  struct Offered {
    std::string key;
    std::string digest;
    kernels::Tensor tensor;
    std::shared_ptr<kernels::Queue> queue;
  };
  struct Entry {
    kernels::Tensor tensor;
    std::list<std::string>::iterator use;  // its place in uses_
  };

  static std::string Key(const std::string& scope, const std::string& digest, uint64_t bytes);
  void CheckLoop();
  // Copies bytes [at, at + n) of `tensor` to `dst`, on `queue` (after its writes there).
  absl::Status ReadPiece(const kernels::Tensor& tensor, kernels::Queue* queue, uint64_t at,
                         size_t n, char* dst) const;
  // The digest of what `offered.tensor` holds, read on its queue.
  absl::StatusOr<std::string> DigestOf(const Offered& offered) const;
  // The entry from disk as a tensor of `type` (on the caller's queue), kept in memory too;
  // nullopt when the disk has none (or a damaged one).
  absl::StatusOr<std::optional<kernels::Tensor>> FromDisk(const std::string& key,
                                                          const std::string& digest,
                                                          const core::TensorType& type);
  // Keeps `tensor` under `key` (the most recently used), unless an entry has it already.
  void Keep(const std::string& key, kernels::Tensor tensor) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the least recently used entries until `bytes` more fit. Caller holds mu_.
  void MakeRoomLocked(int64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t capacity_;
  kernels::Backend& backend_;
  const std::unique_ptr<UploadCacheDisk> disk_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> uses_ ABSL_GUARDED_BY(mu_);  // keys, most recently used first
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Offers for the checker, in order. They hold at most the capacity together (past it an
  // offer is dropped, its bytes not kept), so a checkpoint of many tensors loaded at once
  // is kept whole however far the checker falls behind.
  std::deque<Offered> waiting_ ABSL_GUARDED_BY(mu_);
  int64_t waiting_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int checking_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats counts_ ABSL_GUARDED_BY(mu_);  // hits, misses, rejected
  std::thread checker_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_UPLOAD_CACHE_H_
