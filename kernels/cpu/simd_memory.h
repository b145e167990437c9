#ifndef FERRY_KERNELS_CPU_SIMD_MEMORY_H_
#define FERRY_KERNELS_CPU_SIMD_MEMORY_H_

// Unaligned loads and stores of an instruction set's vector (simd_level.h), for the loops
// built once per set: templates over `Isa` (a type of each build's own, naming its vector
// type Vec), so no function built for one set can stand in for another's.

#include <cstring>

namespace ferry::kernels::cpu {

template <class Isa, typename T>
__attribute__((always_inline)) inline typename Isa::Vec LoadVector(const T* p) {
  typename Isa::Vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <class Isa, typename T>
__attribute__((always_inline)) inline void StoreVector(T* p, typename Isa::Vec v) {
  std::memcpy(p, &v, sizeof(v));
}

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_SIMD_MEMORY_H_
