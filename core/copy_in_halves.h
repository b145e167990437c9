#ifndef FERRY_CORE_COPY_IN_HALVES_H_
#define FERRY_CORE_COPY_IN_HALVES_H_

// Large same-host copies (shared-memory transfers, on both sides) in two halves at once,
// the second on a thread of its own: one thread's memcpy does not reach the memory's
// bandwidth, and the other side of the transfer waits meanwhile.

#include <cstddef>
#include <cstring>
#include <thread>

namespace ferry::core {

inline constexpr size_t kCopyInHalvesFromBytes = size_t{8} << 20;

// `copy(dst, src, n)` returns whether it copied; so does this (both halves must).
template <typename Copy>
bool CopyInHalves(char* dst, const char* src, size_t bytes, Copy copy) {
  if (bytes < kCopyInHalvesFromBytes) return bytes == 0 || copy(dst, src, bytes);
  const size_t half = (bytes / 2) & ~size_t{4095};
  bool second_ok = false;
  std::thread second([&] { second_ok = copy(dst + half, src + half, bytes - half); });
  const bool first_ok = copy(dst, src, half);
  second.join();
  return first_ok && second_ok;
}

// The same with memcpy, which cannot fail.
inline void CopyInHalves(char* dst, const char* src, size_t bytes) {
  CopyInHalves(dst, src, bytes, [](char* to, const char* from, size_t n) {
    std::memcpy(to, from, n);
    return true;
  });
}

}  // namespace ferry::core

#endif  // FERRY_CORE_COPY_IN_HALVES_H_
