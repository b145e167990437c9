#include "core/content_digest.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/page_aligned.h"
#include "core/sha256.h"

namespace ferry::core {

PieceDigest DigestPiece(const void* data, size_t size) {
  Sha256 sha;
  sha.Update(data, size);
  return sha.Finish();
}

std::string CombinePieceDigests(uint64_t size, const std::vector<PieceDigest>& pieces) {
  Sha256 sha;
  sha.Update("ferry-content-1");
  uint8_t count[8];
  for (int i = 0; i < 8; ++i) count[i] = static_cast<uint8_t>(size >> (8 * i));
  sha.Update(count, sizeof(count));
  for (const PieceDigest& piece : pieces) sha.Update(piece.data(), piece.size());
  const PieceDigest digest = sha.Finish();
  return std::string(digest.begin(), digest.end());
}

std::string ContentDigest(const void* data, size_t size, int threads) {
  const size_t count = (size + kContentPieceBytes - 1) / kContentPieceBytes;
  std::vector<PieceDigest> pieces(count);
  const char* bytes = static_cast<const char*>(data);
  // Each thread takes the next piece not yet taken.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) {
      const size_t at = i * kContentPieceBytes;
      pieces[i] = DigestPiece(bytes + at, std::min(kContentPieceBytes, size - at));
    }
  };
  std::vector<std::thread> helpers;
  const size_t workers = std::min<size_t>(count, static_cast<size_t>(std::max(threads, 1)));
  for (size_t i = 1; i < workers; ++i) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
  return CombinePieceDigests(size, pieces);
}

absl::StatusOr<std::string> ContentDigestOfPieces(uint64_t size, const ReadContentPiece& read) {
  // Page-aligned: `read` is usually a file's read (core/page_aligned.h).
  PageAlignedBuffer piece(std::min<uint64_t>(size, kContentPieceBytes));
  if (piece.data() == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("content digest: cannot allocate ", piece.size(), " bytes"));
  }
  std::vector<PieceDigest> pieces;
  for (uint64_t at = 0; at < size; at += piece.size()) {
    const size_t n = std::min<uint64_t>(piece.size(), size - at);
    if (absl::Status read_status = read(at, n, piece.data()); !read_status.ok()) {
      return read_status;
    }
    pieces.push_back(DigestPiece(piece.data(), n));
  }
  return CombinePieceDigests(size, pieces);
}

}  // namespace ferry::core
