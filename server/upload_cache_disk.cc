#include "server/upload_cache_disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/content_digest.h"
#include "core/fingerprint.h"
#include "core/sha256.h"
#include "server/log.h"

namespace ferry::server {
namespace {

constexpr char kTemporarySuffix[] = ".partial";

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat("upload cache: ", what, ": ", std::strerror(errno)));
}

bool IsEntryName(const std::string& name) {
  return name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
}

int64_t MtimeNs(const struct stat& info) {
  return int64_t{info.st_mtim.tv_sec} * 1000000000 + info.st_mtim.tv_nsec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UploadCacheDisk>> UploadCacheDisk::Open(const std::string& dir,
                                                                       int64_t capacity) {
  auto refused = [&dir](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--upload_cache_dir=", dir, ": ", why, ": ", std::strerror(errno)));
  };
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return refused("cannot be made");
  if (capacity <= 0) {
    struct statvfs fs {};
    if (statvfs(dir.c_str(), &fs) != 0) return refused("cannot be read");
    capacity = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize) / 2;
  }
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return refused("cannot be read");
  std::unique_ptr<UploadCacheDisk> disk(new UploadCacheDisk(dir, capacity));
  absl::MutexLock lock(&disk->mu_);
  while (dirent* entry = readdir(listing)) {
    const std::string name = entry->d_name;
    struct stat info {};
    if (absl::EndsWith(name, kTemporarySuffix)) {
      unlink(disk->PathOf(name).c_str());  // a write that never finished
    } else if (IsEntryName(name) && stat(disk->PathOf(name).c_str(), &info) == 0 &&
               S_ISREG(info.st_mode)) {
      disk->files_[name] = File{static_cast<int64_t>(info.st_size), MtimeNs(info)};
      disk->bytes_ += static_cast<int64_t>(info.st_size);
    }
  }
  closedir(listing);
  disk->MakeRoomLocked(0);
  return disk;
}

std::string UploadCacheDisk::NameOf(const std::string& key) {
  return core::FingerprintToHex(core::Sha256Digest(key));
}

bool UploadCacheDisk::Contains(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return files_.contains(NameOf(key));
}

absl::Status UploadCacheDisk::Write(const std::string& key, uint64_t size,
                                    const ReadPiece& read_piece) {
  const std::string name = NameOf(key);
  std::string temporary;
  {
    absl::MutexLock lock(&mu_);
    if (files_.contains(name) || static_cast<int64_t>(size) > capacity_) return absl::OkStatus();
    temporary = PathOf(absl::StrCat(name, ".", ++writes_, kTemporarySuffix));
  }
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("cannot write ", temporary));
  std::vector<char> piece(
      std::min<uint64_t>(std::max<uint64_t>(size, 1), core::kContentPieceBytes));
  absl::Status status;
  for (uint64_t at = 0; at < size && status.ok(); at += piece.size()) {
    const size_t n = std::min<uint64_t>(piece.size(), size - at);
    status = read_piece(at, n, piece.data());
    for (size_t done = 0; status.ok() && done < n;) {
      const ssize_t wrote = write(fd, piece.data() + done, n - done);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) status = Errno(absl::StrCat("cannot write ", temporary));
      if (wrote > 0) done += static_cast<size_t>(wrote);
    }
  }
  if (close(fd) != 0 && status.ok()) status = Errno(absl::StrCat("cannot write ", temporary));
  if (status.ok() && rename(temporary.c_str(), PathOf(name).c_str()) != 0) {
    status = Errno(absl::StrCat("cannot rename ", temporary));
  }
  if (!status.ok()) {
    unlink(temporary.c_str());
    return status;
  }
  absl::MutexLock lock(&mu_);
  MakeRoomLocked(static_cast<int64_t>(size));
  files_[name] = File{static_cast<int64_t>(size), absl::GetCurrentTimeNanos()};
  bytes_ += static_cast<int64_t>(size);
  return absl::OkStatus();
}

absl::Status UploadCacheDisk::Read(const std::string& key, const std::string& digest, uint64_t size,
                                   const WritePiece& write_piece) {
  const std::string name = NameOf(key);
  const std::string path = PathOf(name);
  {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(name);
    if (it == files_.end() || it->second.size != static_cast<int64_t>(size)) {
      return absl::NotFoundError(absl::StrCat("upload cache: no entry ", name, " on disk"));
    }
    it->second.used_ns = absl::GetCurrentTimeNanos();
  }
  utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // its last use, for the next start
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("upload cache: cannot open ", path));
  // Each piece read is handed on, and hashed.
  absl::StatusOr<std::string> read_digest =
      core::ContentDigestOfPieces(size, [&](uint64_t at, size_t n, char* dst) {
        for (size_t done = 0; done < n;) {
          const ssize_t got = read(fd, dst + done, n - done);
          if (got < 0 && errno == EINTR) continue;
          if (got <= 0)
            return absl::DataLossError(absl::StrCat("upload cache: ", path, " is short"));
          done += static_cast<size_t>(got);
        }
        return write_piece(at, dst, n);
      });
  close(fd);
  absl::Status status = read_digest.status();
  if (status.ok() && *read_digest != digest) {
    status = absl::DataLossError(absl::StrCat("upload cache: ", path, " does not hold its bytes"));
  }
  if (absl::IsDataLoss(status)) {
    Log(LogLevel::kWarning, absl::StrCat(status.message(), "; removed"));
    absl::MutexLock lock(&mu_);
    RemoveLocked(name);
  }
  return status;
}

void UploadCacheDisk::MakeRoomLocked(int64_t incoming) {
  while (!files_.empty() && bytes_ + incoming > capacity_) {
    auto oldest = std::min_element(files_.begin(), files_.end(), [](const auto& a, const auto& b) {
      return a.second.used_ns < b.second.used_ns;
    });
    RemoveLocked(oldest->first);
  }
}

void UploadCacheDisk::RemoveLocked(const std::string& name) {
  auto it = files_.find(name);
  if (it == files_.end()) return;
  unlink(PathOf(name).c_str());
  bytes_ -= it->second.size;
  files_.erase(it);
}

int64_t UploadCacheDisk::entries() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(files_.size());
}

int64_t UploadCacheDisk::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace ferry::server
