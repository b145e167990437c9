#ifndef FERRY_CORE_CONTENT_DIGEST_H_
#define FERRY_CORE_CONTENT_DIGEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ferry::core {

// What names an upload's bytes in the daemon's upload cache (UploadRequest.content_digest):
// SHA-256 over "ferry-content-1", the byte count (8 bytes, little-endian) and the SHA-256
// of each kContentPieceBytes piece in order. Pieces hash independently, so a client hashes
// a large array on all its cores and the daemon checks one piece at a time as it copies it
// off the device.
inline constexpr size_t kContentPieceBytes = size_t{4} << 20;
inline constexpr size_t kContentDigestBytes = 32;

using PieceDigest = std::array<uint8_t, 32>;

// The SHA-256 of one piece.
PieceDigest DigestPiece(const void* data, size_t size);

// The content digest (32 raw bytes) of `size` bytes whose pieces have `pieces` digests.
std::string CombinePieceDigests(uint64_t size, const std::vector<PieceDigest>& pieces);

// The content digest of `size` bytes at `data`, its pieces hashed on up to `threads`
// threads (this one among them).
std::string ContentDigest(const void* data, size_t size, int threads = 1);

// The content digest of `size` bytes that `read(at, n, dst)` copies out one piece at a
// time (from a device, a file), in order; the first error `read` returns.
using ReadContentPiece = std::function<absl::Status(uint64_t at, size_t n, char* dst)>;
absl::StatusOr<std::string> ContentDigestOfPieces(uint64_t size, const ReadContentPiece& read);

}  // namespace ferry::core

#endif  // FERRY_CORE_CONTENT_DIGEST_H_
