#ifndef FERRY_SERVER_UPLOAD_CACHE_DISK_H_
#define FERRY_SERVER_UPLOAD_CACHE_DISK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ferry::server {

// The upload cache's entries on local disk (--upload_cache_dir): they survive a restart of
// ferryd (an upgrade, a pod restarted) and outlive their place in memory. One file per
// entry, named by the SHA-256 of its key in hex, holding its bytes; written to a temporary
// name and renamed, so a file is whole or absent. Read back only through a check of the
// bytes against their digest (a damaged file is removed and counts as absent). At most
// `capacity` bytes together, the least recently used (file mtime) removed first.
// Thread-safe.
class UploadCacheDisk {
 public:
  // The directory's entries (created if missing; stray temporary files removed).
  // `capacity` 0: half the free space of its filesystem now. INVALID_ARGUMENT naming the
  // directory when it cannot be made or read.
  static absl::StatusOr<std::unique_ptr<UploadCacheDisk>> Open(const std::string& dir,
                                                               int64_t capacity);

  bool Contains(const std::string& key) const;

  // Writes the entry `key` of `size` bytes, which `read_piece(at, n, dst)` copies out a piece at
  // a time; a larger entry than the capacity is not written.
  using ReadPiece = std::function<absl::Status(uint64_t at, size_t n, char* dst)>;
  absl::Status Write(const std::string& key, uint64_t size, const ReadPiece& read_piece);

  // Hands the entry `key`'s bytes to `write_piece(at, data, n)` a piece at a time, then checks
  // them against `digest` (a core::ContentDigest of `size` bytes). NOT_FOUND when there is
  // none of that size, DATA_LOSS when its bytes do not match (the file is removed).
  using WritePiece = std::function<absl::Status(uint64_t at, const char* data, size_t n)>;
  absl::Status Read(const std::string& key, const std::string& digest, uint64_t size,
                    const WritePiece& write_piece);

  int64_t capacity() const { return capacity_; }
  int64_t entries() const;
  int64_t bytes() const;

 private:
  struct File {
    int64_t size = 0;
    int64_t used_ns = 0;  // mtime
  };
  UploadCacheDisk(std::string dir, int64_t capacity) : dir_(std::move(dir)), capacity_(capacity) {}
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  static std::string NameOf(const std::string& key);
  // Removes the least recently used files until `incoming` more bytes fit.
  void MakeRoomLocked(int64_t incoming) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const int64_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, File> files_ ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t writes_ ABSL_GUARDED_BY(mu_) = 0;  // numbers temporary files
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_UPLOAD_CACHE_DISK_H_
