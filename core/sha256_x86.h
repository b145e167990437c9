#ifndef FERRY_CORE_SHA256_X86_H_
#define FERRY_CORE_SHA256_X86_H_

// Internal to core/sha256.cc: SHA-256 block compression with the x86-64 SHA extensions
// (Intel since Goldmont and Ice Lake, AMD since Zen), several times faster than portable
// code. Elsewhere (other CPUs, other compilers) Supported() is false.

#include <cstddef>
#include <cstdint>

namespace ferry::core::sha256_x86 {

// Whether this CPU has the SHA extensions (and the SSSE3 and SSE4.1 they are used with).
bool Supported();

// Compresses `count` consecutive 64-byte blocks into `state` (FIPS 180-4 H0..H7). Call only
// where Supported().
void Compress(uint32_t state[8], const uint8_t* blocks, size_t count);

}  // namespace ferry::core::sha256_x86

#endif  // FERRY_CORE_SHA256_X86_H_
