#include "server/upload_cache.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/content_digest.h"
#include "core/fingerprint.h"
#include "server/log.h"

namespace ferry::server {

UploadCache::UploadCache(int64_t capacity, kernels::Backend& backend,
                         std::unique_ptr<UploadCacheDisk> disk)
    : capacity_(capacity),
      backend_(backend),
      disk_(std::move(disk)),
      checker_([this] { CheckLoop(); }) {}

UploadCache::~UploadCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  checker_.join();
}

std::string UploadCache::Key(const std::string& scope, const std::string& digest, uint64_t bytes) {
  return absl::StrCat(scope, "\n", bytes, "\n", digest);
}

absl::StatusOr<std::optional<kernels::Tensor>> UploadCache::Find(const std::string& scope,
                                                                 const std::string& digest,
                                                                 const core::TensorType& type) {
  const std::string key = Key(scope, digest, core::NumBytes(type));
  kernels::Tensor kept;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() && disk_ != nullptr && disk_->Contains(key)) {
      mu_.Unlock();  // reading takes a while; the entry is checked again as it is kept
      absl::StatusOr<std::optional<kernels::Tensor>> found = FromDisk(key, digest, type);
      mu_.Lock();
      if (!found.ok() || found->has_value()) {
        ++(found.ok() ? counts_.hits : counts_.misses);
        return found;
      }
      it = entries_.find(key);
    }
    if (it == entries_.end()) {
      ++counts_.misses;
      return std::nullopt;
    }
    uses_.splice(uses_.begin(), uses_, it->second.use);
    ++counts_.hits;
    kept = it->second.tensor;
  }
  if (backend_.HostAddressable()) return kernels::Tensor{type, kept.storage, kept.offset};
  // Not under mu_: an allocation that does not fit asks Reclaim.
  absl::StatusOr<kernels::Tensor> copy = backend_.Allocate(type);
  if (!copy.ok()) return copy.status();
  // A device-to-device copy on the caller's queue (the reshape kernel), waited for: the
  // entry may be freed on another queue once this returns.
  core::Node reshape;
  reshape.op = "reshape";
  reshape.attrs.Set("shape", std::vector<int64_t>(type.shape.begin(), type.shape.end()));
  reshape.out = type;
  const kernels::Tensor source{type, kept.storage, kept.offset};
  absl::Status copied = backend_.Run(reshape, {source}, *copy);
  if (copied.ok()) copied = backend_.Synchronize();
  if (!copied.ok()) return copied;
  return std::optional<kernels::Tensor>(*std::move(copy));
}

void UploadCache::Offer(std::string scope, std::string digest, kernels::Tensor tensor,
                        std::shared_ptr<kernels::Queue> queue) {
  if (capacity_ <= 0 || static_cast<int64_t>(tensor.nbytes()) > capacity_ ||
      digest.size() != core::kContentDigestBytes) {
    return;
  }
  absl::MutexLock lock(&mu_);
  const std::string key = Key(scope, digest, tensor.nbytes());
  if (auto it = entries_.find(key); it != entries_.end()) {
    uses_.splice(uses_.begin(), uses_, it->second.use);
    return;
  }
  const int64_t bytes = static_cast<int64_t>(tensor.nbytes());
  if (waiting_bytes_ + bytes > capacity_) return;
  waiting_bytes_ += bytes;
  waiting_.push_back({key, std::move(digest), std::move(tensor), std::move(queue)});
}

void UploadCache::CheckLoop() {
  while (true) {
    Offered offered;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](UploadCache* cache) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return cache->stopping_ || !cache->waiting_.empty();
          },
          this));
      if (stopping_) return;
      offered = std::move(waiting_.front());
      waiting_.pop_front();
      waiting_bytes_ -= static_cast<int64_t>(offered.tensor.nbytes());
      ++checking_;
    }
    absl::StatusOr<std::string> digest = DigestOf(offered);
    if (digest.ok() && *digest == offered.digest) {
      if (disk_ != nullptr) {
        const kernels::Tensor tensor = offered.tensor;
        absl::Status written =
            disk_->Write(offered.key, tensor.nbytes(), [&](uint64_t at, size_t n, char* dst) {
              return ReadPiece(tensor, offered.queue.get(), at, n, dst);
            });
        if (!written.ok()) Log(LogLevel::kWarning, std::string(written.message()));
      }
      Keep(offered.key, std::move(offered.tensor));
    } else {
      Log(LogLevel::kWarning,
          absl::StrCat(
              "upload cache: an upload of ", offered.tensor.nbytes(),
              " bytes named content digest ", core::FingerprintToHex(offered.digest),
              digest.ok()
                  ? absl::StrCat(" but its bytes have ", core::FingerprintToHex(*digest))
                  : absl::StrCat(" and could not be read back: ", digest.status().message()),
              "; not kept"));
      offered = Offered();  // its memory goes back outside the lock
      absl::MutexLock lock(&mu_);
      ++counts_.rejected;
    }
    absl::MutexLock lock(&mu_);
    --checking_;
  }
}

absl::Status UploadCache::ReadPiece(const kernels::Tensor& tensor, kernels::Queue* queue,
                                    uint64_t at, size_t n, char* dst) const {
  if (backend_.HostAddressable()) {
    std::memcpy(dst, static_cast<const char*>(tensor.raw()) + at, n);
    return absl::OkStatus();
  }
  kernels::QueueScope scope(queue);
  return backend_.CopyToHost(tensor, at, n, dst);
}

absl::StatusOr<std::string> UploadCache::DigestOf(const Offered& offered) const {
  const kernels::Tensor& tensor = offered.tensor;
  const size_t bytes = tensor.nbytes();
  if (backend_.HostAddressable()) return core::ContentDigest(tensor.raw(), bytes);
  // On the upload's queue: after its own writes.
  return core::ContentDigestOfPieces(bytes, [&](uint64_t at, size_t n, char* dst) {
    return ReadPiece(tensor, offered.queue.get(), at, n, dst);
  });
}

absl::StatusOr<std::optional<kernels::Tensor>> UploadCache::FromDisk(const std::string& key,
                                                                     const std::string& digest,
                                                                     const core::TensorType& type) {
  absl::StatusOr<kernels::Tensor> tensor = backend_.Allocate(type);
  if (!tensor.ok()) return tensor.status();
  absl::Status read =
      disk_->Read(key, digest, tensor->nbytes(), [&](uint64_t at, const char* data, size_t n) {
        if (!backend_.HostAddressable()) {
          return backend_.CopyFromHost(data, n, *tensor, at);
        }
        std::memcpy(static_cast<char*>(tensor->raw()) + at, data, n);
        return absl::OkStatus();
      });
  // Its copies done before another queue may read it from memory.
  if (read.ok()) read = backend_.Synchronize();
  if (absl::IsNotFound(read) || absl::IsDataLoss(read)) return std::nullopt;
  if (!read.ok()) return read;
  Keep(key, *tensor);
  return std::optional<kernels::Tensor>(*std::move(tensor));
}

void UploadCache::Keep(const std::string& key, kernels::Tensor tensor) {
  absl::MutexLock lock(&mu_);
  if (entries_.contains(key)) return;
  const int64_t bytes = static_cast<int64_t>(tensor.nbytes());
  MakeRoomLocked(bytes);
  uses_.push_front(key);
  entries_[key] = Entry{std::move(tensor), uses_.begin()};
  bytes_ += bytes;
}

void UploadCache::MakeRoomLocked(int64_t bytes) {
  while (!uses_.empty() && bytes_ + bytes > capacity_) DropLocked(uses_.back());
}

void UploadCache::DropLocked(const std::string& key) {
  auto it = entries_.find(key);
  bytes_ -= static_cast<int64_t>(it->second.tensor.nbytes());
  uses_.erase(it->second.use);
  entries_.erase(it);
}

int64_t UploadCache::Reclaim(int64_t needed) {
  absl::MutexLock lock(&mu_);
  int64_t freed = 0;
  for (auto offer = waiting_.end(); offer != waiting_.begin() && freed < needed;) {
    --offer;
    if (offer->tensor.storage.use_count() != 1) continue;
    freed += static_cast<int64_t>(offer->tensor.storage->size());
    waiting_bytes_ -= static_cast<int64_t>(offer->tensor.nbytes());
    offer = waiting_.erase(offer);
  }
  for (auto use = uses_.end(); use != uses_.begin() && freed < needed;) {
    --use;
    const kernels::Tensor& tensor = entries_.at(*use).tensor;
    if (tensor.storage.use_count() != 1) continue;  // a session's buffer holds it too
    freed += static_cast<int64_t>(tensor.storage->size());
    const std::string key = *use;
    use = std::next(use);  // erasing invalidates only the erased element
    DropLocked(key);
  }
  return freed;
}

UploadCache::Stats UploadCache::stats() const {
  absl::MutexLock lock(&mu_);
  Stats stats = counts_;
  stats.entries = static_cast<int64_t>(entries_.size());
  stats.bytes = bytes_;
  if (disk_ != nullptr) {
    stats.disk_entries = disk_->entries();
    stats.disk_bytes = disk_->bytes();
  }
  return stats;
}

void UploadCache::WaitForChecks() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](UploadCache* cache) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return cache->stopping_ || (cache->waiting_.empty() && cache->checking_ == 0);
      },
      this));
}

}  // namespace ferry::server
