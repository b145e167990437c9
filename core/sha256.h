#ifndef FERRY_CORE_SHA256_H_
#define FERRY_CORE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::core {

// SHA-256 (FIPS 180-4), incrementally: Update any number of times, then Finish once.
class Sha256 {
 public:
  Sha256();

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }

  // The 32-byte digest. The object is spent afterwards.
  std::array<uint8_t, 32> Finish();

  // Whether this CPU's SHA instructions (x86-64 SHA extensions) compress the blocks; the
  // digest is the same either way.
  static bool Accelerated();
  // For tests: compress in portable code even where the CPU could do it.
  static void UsePortableForTesting(bool portable);

 private:
  // Compresses `count` consecutive 64-byte blocks into state_.
  void Compress(const uint8_t* blocks, size_t count);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// The digest of `data` as 32 raw bytes.
std::string Sha256Digest(std::string_view data);

}  // namespace ferry::core

#endif  // FERRY_CORE_SHA256_H_
