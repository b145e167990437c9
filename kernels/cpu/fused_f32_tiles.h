#ifndef FERRY_KERNELS_CPU_FUSED_F32_TILES_H_
#define FERRY_KERNELS_CPU_FUSED_F32_TILES_H_

// The float32 fast path's program and the loop that runs it (see fused_f32.h). A program
// is a fused chain compiled to ops on one accumulator: a tile of kTile floats held in
// vector registers. Each op combines the accumulator with at most one operand read from
// memory (a dense input at the tile's position, a tile of a repeated scalar, or a spilled
// intermediate), so each element is loaded once per input and stored once, and
// intermediates stay in registers.
//
// RunTiles is compiled once per instruction set, in a file whose `#pragma GCC target`
// precedes the include of this header; everything here is a template over that set, so
// no function compiled for one set can be linked in place of another's.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/float_math.h"
#include "kernels/cpu/simd_level.h"
#include "kernels/cpu/simd_memory.h"

namespace ferry::kernels::cpu::f32 {

constexpr int64_t kTile = 64;  // floats per tile: 4 AVX-512, 8 AVX2 or 16 SSE registers

enum class Op : uint8_t {
  kLoad,   // accumulator = operand
  kSpill,  // operand's tile = accumulator, for a value read again later
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMaximum,
  kMinimum,
  kNeg,
  kAbs,
  kRelu,
  kExp,
  kTanh,
  kLog,
  kErf,
  kGelu,
  kSin,
  kCos,
};

// One op. Its operand for the tile at element `start` is at base + start * step: step 1
// for a dense input, 0 for a tile of its own (a repeated scalar, a spill slot).
struct Instr {
  Op op = Op::kLoad;
  bool reverse = false;  // the operand is the left side: operand OP accumulator
  float* base = nullptr;
  int64_t step = 0;
};

// Runs `code` over the tiles at elements [start, end) (a multiple of kTile apart) and
// writes each tile's accumulator to `out` + its start, with non-temporal stores when
// `stream` (`out` is then 64-byte aligned).
using TileRunner = void (*)(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                            bool stream);

// The AVX2 and AVX-512 builds (fused_f32_avx2.cc, fused_f32_avx512.cc), only for GCC on
// x86-64; call one only on a CPU that has its instructions.
#if defined(FERRY_X86_SIMD_BUILDS)
void RunTilesAvx2(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                  bool stream);
void RunTilesAvx512(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                    bool stream);
#endif

#define FERRY_F32_INLINE __attribute__((always_inline)) inline

// `Isa` names a vector type `Vec` of kLanes floats, a same-sized int32 vector `Mask`, and
// Stream(float* aligned, Vec), a non-temporal store.
// One op on vectors: the unfused kernel's float expression (comparisons combined with |
// rather than ||, which vectors need), so results are the same bits (see RunFusedFloat32
// for NaNs). Unary ops ignore `y`.
template <class Isa, Op kOp>
FERRY_F32_INLINE typename Isa::Vec Compute(typename Isa::Vec x, typename Isa::Vec y) {
  using Vec = typename Isa::Vec;
  const Vec zero = {};
  if constexpr (kOp == Op::kAdd) return x + y;
  if constexpr (kOp == Op::kSub) return x - y;
  if constexpr (kOp == Op::kMul) return x * y;
  if constexpr (kOp == Op::kDiv) return x / y;
  if constexpr (kOp == Op::kMaximum) return ((x > y) | (x != x)) ? x : y;
  if constexpr (kOp == Op::kMinimum) return ((x < y) | (x != x)) ? x : y;
  if constexpr (kOp == Op::kNeg) return -x;
  if constexpr (kOp == Op::kAbs) return (Vec)((typename Isa::Mask)x & 0x7fffffff);
  if constexpr (kOp == Op::kRelu) return ((x > zero) | (x != x)) ? x : zero;
}

template <class Isa, Op kOp>
FERRY_F32_INLINE void Binary(typename Isa::Vec* acc, const float* p, bool reverse) {
  constexpr int kVecs = kTile / Isa::kLanes;
  if (reverse) {
#pragma GCC unroll 16
    for (int k = 0; k < kVecs; ++k) {
      acc[k] = Compute<Isa, kOp>(LoadVector<Isa>(p + k * Isa::kLanes), acc[k]);
    }
  } else {
#pragma GCC unroll 16
    for (int k = 0; k < kVecs; ++k) {
      acc[k] = Compute<Isa, kOp>(acc[k], LoadVector<Isa>(p + k * Isa::kLanes));
    }
  }
}

template <class Isa, Op kOp>
FERRY_F32_INLINE void Unary(typename Isa::Vec* acc) {
#pragma GCC unroll 16
  for (int k = 0; k < kTile / Isa::kLanes; ++k) acc[k] = Compute<Isa, kOp>(acc[k], acc[k]);
}

// The transcendental ops as the unfused kernels compute them (float_math.h; bit for bit
// the same), vectorized for this file's instruction set; out of line, so their many
// temporaries do not push the accumulator out of registers elsewhere.
template <class Isa>
__attribute__((noinline)) void Transcendental(Op op, float* values) {
  switch (op) {
    case Op::kExp:
      for (int64_t i = 0; i < kTile; ++i) values[i] = ExpF32(values[i]);
      break;
    case Op::kTanh:
      for (int64_t i = 0; i < kTile; ++i) values[i] = TanhF32(values[i]);
      break;
    case Op::kLog:
      for (int64_t i = 0; i < kTile; ++i) values[i] = LogF32(values[i]);
      break;
    case Op::kErf:
      for (int64_t i = 0; i < kTile; ++i) values[i] = ErfF32(values[i]);
      break;
    case Op::kGelu:
      for (int64_t i = 0; i < kTile; ++i) values[i] = GeluF32(values[i]);
      break;
    case Op::kSin:
      SinOrCosOfBlock(values, values, kTile, 0);
      break;
    case Op::kCos:
      SinOrCosOfBlock(values, values, kTile, 1);
      break;
    default:  // not a transcendental op: RunTiles calls this for the seven above only
      break;
  }
}

template <class Isa>
void RunTiles(const Instr* code, size_t size, int64_t start, int64_t end, float* out, bool stream) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  constexpr int kVecs = kTile / kLanes;
  const Instr* const code_end = code + size;
  for (; start < end; start += kTile) {
    Vec acc[kVecs] = {};
    for (const Instr* ins = code; ins != code_end; ++ins) {
      float* const p = ins->base + start * ins->step;
      switch (ins->op) {
        case Op::kLoad:
#pragma GCC unroll 16
          for (int k = 0; k < kVecs; ++k) acc[k] = LoadVector<Isa>(p + k * kLanes);
          break;
        case Op::kSpill:
#pragma GCC unroll 16
          for (int k = 0; k < kVecs; ++k) StoreVector<Isa>(p + k * kLanes, acc[k]);
          break;
        case Op::kAdd:
          Binary<Isa, Op::kAdd>(acc, p, ins->reverse);
          break;
        case Op::kSub:
          Binary<Isa, Op::kSub>(acc, p, ins->reverse);
          break;
        case Op::kMul:
          Binary<Isa, Op::kMul>(acc, p, ins->reverse);
          break;
        case Op::kDiv:
          Binary<Isa, Op::kDiv>(acc, p, ins->reverse);
          break;
        case Op::kMaximum:
          Binary<Isa, Op::kMaximum>(acc, p, ins->reverse);
          break;
        case Op::kMinimum:
          Binary<Isa, Op::kMinimum>(acc, p, ins->reverse);
          break;
        case Op::kNeg:
          Unary<Isa, Op::kNeg>(acc);
          break;
        case Op::kAbs:
          Unary<Isa, Op::kAbs>(acc);
          break;
        case Op::kRelu:
          Unary<Isa, Op::kRelu>(acc);
          break;
        case Op::kExp:
        case Op::kTanh:
        case Op::kLog:
        case Op::kErf:
        case Op::kGelu:
        case Op::kSin:
        case Op::kCos: {
          float values[kTile];
#pragma GCC unroll 16
          for (int k = 0; k < kVecs; ++k) StoreVector<Isa>(values + k * kLanes, acc[k]);
          Transcendental<Isa>(ins->op, values);
#pragma GCC unroll 16
          for (int k = 0; k < kVecs; ++k) acc[k] = LoadVector<Isa>(values + k * kLanes);
          break;
        }
      }
    }
    float* const dst = out + start;
    if (stream) {
#pragma GCC unroll 16
      for (int k = 0; k < kVecs; ++k) Isa::Stream(dst + k * kLanes, acc[k]);
    } else {
#pragma GCC unroll 16
      for (int k = 0; k < kVecs; ++k) StoreVector<Isa>(dst + k * kLanes, acc[k]);
    }
  }
}

#undef FERRY_F32_INLINE

}  // namespace ferry::kernels::cpu::f32

#endif  // FERRY_KERNELS_CPU_FUSED_F32_TILES_H_
