#ifndef FERRY_KERNELS_CPU_QUANTIZED_MATMUL_LOOPS_H_
#define FERRY_KERNELS_CPU_QUANTIZED_MATMUL_LOOPS_H_

// quantized_matmul's inner loops for x @ w^T:
// - Dots, at every width from 1 to 8: each lane of a vector is a row of w. A vector of words
//   (word w of kLanes rows, by an in-register transpose) is dequantized in registers, element
//   by element, and multiplied by x's element (a broadcast) into each row of x's
//   accumulator: nothing dequantized goes to memory, no horizontal sums, and x's tile stays
//   in L1. Words go in periods of `bits` words (32 elements), so elements that straddle two
//   words (3, 5, 6 bits) are read with constant shifts too.
// - Dequantize, at widths dividing 32 (no element straddles words): rows of w dequantized in
//   bit-plane order (plane j holds the elements at bits [j * bits, (j + 1) * bits) of the
//   words, so a vector of words shifted by one amount is a vector of elements) for OpenBLAS
//   to multiply by x in the same order.
//
// Everything is a template over `Isa`, compiled once per instruction set: at the baseline in
// quantized_matmul_loops.cc, and in quantized_matmul_avx2.cc / _avx512.cc after their
// `#pragma GCC target` (so no function built for one set can stand in for another's). `Isa`
// names F (float or double), kLanes, kRows (the most rows of x held in registers: 8 or 16), a
// vector Vec of kLanes F and a vector Words of kLanes int32.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_level.h"
#include "kernels/cpu/simd_memory.h"

namespace ferry::kernels::cpu {

// out[i * out_stride + r] = x_i . w_r for the rows r in [row_begin, row_end) of w and the m
// rows of x (q.columns apart, in their own order).
template <typename F>
using QuantizedDotsFn = void (*)(const F* x, int64_t m, const uint32_t* wq, const F* scales,
                                 const F* biases, const QuantizedMatmulDims& q, int64_t row_begin,
                                 int64_t row_end, F* out, int64_t out_stride);

// Rows [row_begin, row_end) of w, dequantized in plane order to `panel` (q.columns apart).
template <typename F>
using PlaneDequantizeFn = void (*)(const uint32_t* wq, const F* scales, const F* biases,
                                   const QuantizedMatmulDims& q, int64_t row_begin, int64_t row_end,
                                   F* panel);

template <typename F>
struct QuantizedLoops {
  QuantizedDotsFn<F> dots = nullptr;
  PlaneDequantizeFn<F> dequantize = nullptr;
};

// The loops for `bits` (dequantize null where it does not divide 32, both for 7): float32's
// built for `level` or, when this CPU lacks it, BestSimdLevel(); float64's at the baseline.
QuantizedLoops<float> Float32QuantizedLoops(int bits, SimdLevel level);
QuantizedLoops<double> Float64QuantizedLoops(int bits);

// The AVX2 (with FMA) and AVX-512 builds, which Float32QuantizedLoops picks among.
QuantizedLoops<float> QuantizedLoopsAvx2(int bits);
QuantizedLoops<float> QuantizedLoopsAvx512(int bits);

// Rows of w Dots takes at a time: bounds the scales and biases it rearranges (a language
// model's output layer has 100k+ rows) and keeps those rows' words in cache for every chunk
// of rows of x.
inline constexpr int64_t kDotStretchRows = 512;

namespace quantized_loops {

#define FERRY_QLOOPS_INLINE __attribute__((always_inline)) inline

// The elements at bits [j * kBits, (j + 1) * kBits) of each word, as F.
template <class Isa, int kBits>
FERRY_QLOOPS_INLINE typename Isa::Vec Elements(typename Isa::Words words, int j) {
  constexpr int32_t kMask = static_cast<int32_t>((uint64_t{1} << kBits) - 1);
  // A logical shift: Words are signed (converting them is one instruction).
  typedef uint32_t Unsigned __attribute__((vector_size(sizeof(words))));
  const Unsigned shifted = reinterpret_cast<Unsigned&>(words) >> (j * kBits);
  const typename Isa::Words element = reinterpret_cast<const typename Isa::Words&>(shifted) & kMask;
  return __builtin_convertvector(element, typename Isa::Vec);
}

// One stage of an in-register transpose of kLanes vectors of words: swaps the elements
// (i, j) and (i ^ kStep, j ^ kStep) whose kStep bits differ. The stages for every power of
// two below kLanes together swap every bit of i and j.
template <class Isa, int kStep, size_t... kJ>
FERRY_QLOOPS_INLINE void TransposeStage(typename Isa::Words* rows, std::index_sequence<kJ...>) {
  using Words = typename Isa::Words;
  constexpr int kLanes = Isa::kLanes;
  for (int i = 0; i < kLanes; ++i) {
    if ((i & kStep) != 0) continue;
    const Words a = rows[i], b = rows[i + kStep];
    // Element j of the result is element k of a's and b's lanes in a row: the same
    // indices for GCC's __builtin_shuffle and clang's __builtin_shufflevector (macOS).
#if defined(__clang__)
    rows[i] = __builtin_shufflevector(a, b, ((kJ & kStep) == 0 ? kJ : kLanes + kJ - kStep)...);
    rows[i + kStep] =
        __builtin_shufflevector(a, b, ((kJ & kStep) == 0 ? kJ + kStep : kLanes + kJ)...);
#else
    constexpr Words kKeep = {((kJ & kStep) == 0 ? static_cast<int32_t>(kJ)
                                                : static_cast<int32_t>(kLanes + kJ - kStep))...};
    constexpr Words kSwap = {((kJ & kStep) == 0 ? static_cast<int32_t>(kJ + kStep)
                                                : static_cast<int32_t>(kLanes + kJ))...};
    rows[i] = __builtin_shuffle(a, b, kKeep);
    rows[i + kStep] = __builtin_shuffle(a, b, kSwap);
#endif
  }
}

template <class Isa, int kStep = Isa::kLanes / 2>
FERRY_QLOOPS_INLINE void Transpose(typename Isa::Words* rows) {
  if constexpr (kStep >= 1) {
    TransposeStage<Isa, kStep>(rows, std::make_index_sequence<Isa::kLanes>{});
    Transpose<Isa, kStep / 2>(rows);
  }
}

// x's rows [i0, i0 + kRows) packed column by column (x[i][k] at k * kRows + i - i0, rows past
// m zero), so the product's loads are one pointer plus constants.
template <typename F, int kRows>
void PackColumns(const F* x, int64_t m, int64_t columns, int64_t i0, F* packed) {
  for (int64_t k = 0; k < columns; ++k) {
    for (int i = 0; i < kRows; ++i) {
      packed[k * kRows + i] = i0 + i < m ? x[(i0 + i) * columns + k] : 0;
    }
  }
}

// Scales or biases of kLanes rows per group, [block][group][lane], for the blocks of kLanes
// rows from row_begin (the last block repeats its last row).
template <class Isa>
void GroupsByLane(const typename Isa::F* values, const QuantizedMatmulDims& q, int64_t row_begin,
                  int64_t row_end, typename Isa::F* by_lane) {
  constexpr int kLanes = Isa::kLanes;
  const int64_t groups = q.groups_per_row;
  for (int64_t r0 = row_begin, block = 0; r0 < row_end; r0 += kLanes, ++block) {
    typename Isa::F* dst = by_lane + block * groups * kLanes;
    for (int l = 0; l < kLanes; ++l) {
      const int64_t r = std::min<int64_t>(r0 + l, row_end - 1);
      for (int64_t g = 0; g < groups; ++g) dst[g * kLanes + l] = values[r * groups + g];
    }
  }
}

// Element e (below 32) of a period: kBits words holding 32 elements, element e at bits
// [e * kBits, (e + 1) * kBits), which may straddle two words (3, 5, 6 and 7 bits). With e
// known once the caller's loop is unrolled, the shifts are constants.
template <class Isa, int kBits>
FERRY_QLOOPS_INLINE typename Isa::Vec PeriodElement(const typename Isa::Words* period, int e) {
  typedef uint32_t Unsigned __attribute__((vector_size(sizeof(typename Isa::Words))));
  constexpr uint32_t kMask = static_cast<uint32_t>((uint64_t{1} << kBits) - 1);
  const int bit = e * kBits, word = bit / 32, shift = bit % 32;
  Unsigned value = reinterpret_cast<const Unsigned&>(period[word]) >> shift;
  if (shift + kBits > 32)
    value |= reinterpret_cast<const Unsigned&>(period[word + 1]) << (32 - shift);
  value &= kMask;
  return __builtin_convertvector(reinterpret_cast<const typename Isa::Words&>(value),
                                 typename Isa::Vec);
}

// A block of kLanes rows of w (`rows` of them real, the rest repeating the last) against
// kRows rows of x (packed) over the words [w0, w1) (whole periods): adds row i of x times
// the block's rows to acc[i]. Words go kLanes periods at a time through in-register
// transposes (word w of every row in one vector); each element is dequantized in registers
// and multiplied by x's element (a broadcast).
template <class Isa, int kBits, int kRows>
FERRY_QLOOPS_INLINE void BlockDots(const typename Isa::F* packed_x, const uint32_t* block_words,
                                   int64_t words, int rows, const typename Isa::F* scales,
                                   const typename Isa::F* biases, int group_shift, int64_t w0,
                                   int64_t w1, typename Isa::F* acc_out) {
  using F = typename Isa::F;
  using Vec = typename Isa::Vec;
  using Words = typename Isa::Words;
  constexpr int kLanes = Isa::kLanes;
  constexpr int kStep = kBits * kLanes;  // words: kLanes periods
  Vec acc[kRows];
#pragma GCC unroll 16
  for (int i = 0; i < kRows; ++i) acc[i] = LoadVector<Isa>(acc_out + i * kLanes);
  Words by_word[kStep];
  for (int64_t w = w0; w < w1; w += kStep) {
    const int64_t count = std::min<int64_t>(kStep, w1 - w);
    for (int64_t t = 0; t < count; t += kLanes) {
      const int64_t n = std::min<int64_t>(kLanes, count - t);
      for (int l = 0; l < kLanes; ++l) {
        const uint32_t* row = block_words + std::min(l, rows - 1) * words + w + t;
        if (n == kLanes) {
          std::memcpy(&by_word[t + l], row, sizeof(Words));
        } else {
          by_word[t + l] = Words{};
          std::memcpy(&by_word[t + l], row, n * sizeof(uint32_t));
        }
      }
      Transpose<Isa>(by_word + t);
    }
    for (int64_t p = 0; p < count / kBits; ++p) {
      const int64_t period = (w + p * kBits) / kBits;  // 32 columns from period * 32
      const int64_t group = period >> group_shift;
      const Vec s = LoadVector<Isa>(scales + group * kLanes),
                b = LoadVector<Isa>(biases + group * kLanes);
      const F* xp = packed_x + period * 32 * kRows;
#pragma GCC unroll 32
      for (int e = 0; e < 32; ++e) {
        const Vec value = s * PeriodElement<Isa, kBits>(by_word + p * kBits, e) + b;
#pragma GCC unroll 16
        for (int i = 0; i < kRows; ++i) acc[i] += xp[e * kRows + i] * value;
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < kRows; ++i) StoreVector<Isa>(acc_out + i * kLanes, acc[i]);
}

// Dots for kRows rows of x at a time, rows [i0, i0 + kRows) (those past m are zero).
template <class Isa, int kBits, int kRows>
void ChunkDots(const typename Isa::F* x, int64_t m, int64_t i0, const uint32_t* wq,
               const typename Isa::F* scales_by_lane, const typename Isa::F* biases_by_lane,
               const QuantizedMatmulDims& q, int64_t row_begin, int64_t row_end,
               typename Isa::F* out, int64_t out_stride) {
  using F = typename Isa::F;
  constexpr int kLanes = Isa::kLanes;
  constexpr int kStep = kBits * kLanes;
  const int64_t words = q.words_per_row;
  const int64_t blocks = (row_end - row_begin + kLanes - 1) / kLanes;
  int group_shift = 0;  // periods per group: a power of two
  while ((32 << group_shift) < q.group_size) ++group_shift;
  // x's tile: about 16 KiB of its packed columns (at least a step's), to stay in L1 while
  // every block of rows of w passes.
  const int64_t tile_words =
      std::max<int64_t>(1, 16384 / (32 * kRows * sizeof(F) * kLanes)) * kStep;
  std::unique_ptr<F[]> packed_x(new F[q.columns * kRows]);
  std::unique_ptr<F[]> acc(new F[blocks * kRows * kLanes]());
  PackColumns<F, kRows>(x, m, q.columns, i0, packed_x.get());
  for (int64_t w0 = 0; w0 < words; w0 += tile_words) {
    const int64_t w1 = std::min(words, w0 + tile_words);
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t r0 = row_begin + block * kLanes;
      const int64_t group_at = block * q.groups_per_row * kLanes;
      BlockDots<Isa, kBits, kRows>(packed_x.get(), wq + r0 * words, words,
                                   static_cast<int>(std::min<int64_t>(kLanes, row_end - r0)),
                                   scales_by_lane + group_at, biases_by_lane + group_at,
                                   group_shift, w0, w1, acc.get() + block * kRows * kLanes);
    }
  }
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t r0 = row_begin + block * kLanes;
    const int lanes = static_cast<int>(std::min<int64_t>(kLanes, row_end - r0));
    for (int i = 0; i < kRows && i0 + i < m; ++i) {
      const F* sums = acc.get() + (block * kRows + i) * kLanes;
      std::copy(sums, sums + lanes, out + (i0 + i) * out_stride + r0);
    }
  }
}

template <class Isa, int kBits>
void Dots(const typename Isa::F* x, int64_t m, const uint32_t* wq, const typename Isa::F* scales,
          const typename Isa::F* biases, const QuantizedMatmulDims& q, int64_t row_begin,
          int64_t row_end, typename Isa::F* out, int64_t out_stride) {
  using F = typename Isa::F;
  constexpr int kLanes = Isa::kLanes;
  const int64_t by_lane = (kDotStretchRows + kLanes - 1) / kLanes * q.groups_per_row * kLanes;
  std::unique_ptr<F[]> scales_by_lane(new F[by_lane]), biases_by_lane(new F[by_lane]);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kDotStretchRows) {
    const int64_t r1 = std::min(row_end, r0 + kDotStretchRows);
    GroupsByLane<Isa>(scales, q, r0, r1, scales_by_lane.get());
    GroupsByLane<Isa>(biases, q, r0, r1, biases_by_lane.get());
    for (int64_t i0 = 0; i0 < m;) {
      // As many rows of x as the registers hold, else the fewest that cover the rest.
      const int64_t rest = m - i0;
      auto chunk = [&](auto rows) {
        constexpr int kRows = decltype(rows)::value;
        ChunkDots<Isa, kBits, kRows>(x, m, i0, wq, scales_by_lane.get(), biases_by_lane.get(), q,
                                     r0, r1, out, out_stride);
        i0 += kRows;
      };
      if (rest == 1) {
        chunk(std::integral_constant<int, 1>{});
      } else if (rest == 2) {
        chunk(std::integral_constant<int, 2>{});
      } else if (rest <= 4) {
        chunk(std::integral_constant<int, 4>{});
      } else if (rest <= 8 || Isa::kRows == 8) {
        chunk(std::integral_constant<int, 8>{});
      } else {
        chunk(std::integral_constant<int, Isa::kRows>{});
      }
    }
  }
}

template <class Isa, int kBits>
void Dequantize(const uint32_t* wq, const typename Isa::F* scales, const typename Isa::F* biases,
                const QuantizedMatmulDims& q, int64_t row_begin, int64_t row_end,
                typename Isa::F* panel) {
  using F = typename Isa::F;
  using Vec = typename Isa::Vec;
  constexpr int kPerWord = 32 / kBits;
  constexpr int kLanes = Isa::kLanes;
  const int64_t words = q.words_per_row;
  const int64_t words_per_group = q.group_size / kPerWord;
  // Each word's scale and bias, so that the loops below run over whole rows.
  std::unique_ptr<F[]> word_scale(new F[words]), word_bias(new F[words]);
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t g = 0; g < q.groups_per_row; ++g) {
      std::fill_n(word_scale.get() + g * words_per_group, words_per_group,
                  scales[r * q.groups_per_row + g]);
      std::fill_n(word_bias.get() + g * words_per_group, words_per_group,
                  biases[r * q.groups_per_row + g]);
    }
    const uint32_t* row = wq + r * words;
    F* dst = panel + (r - row_begin) * q.columns;
    int64_t w = 0;
    for (; w + kLanes <= words; w += kLanes) {
      typename Isa::Words packed;
      std::memcpy(&packed, row + w, sizeof(packed));
      const Vec s = LoadVector<Isa>(word_scale.get() + w), b = LoadVector<Isa>(word_bias.get() + w);
#pragma GCC unroll 32
      for (int j = 0; j < kPerWord; ++j) {
        StoreVector<Isa>(dst + j * words + w, s * Elements<Isa, kBits>(packed, j) + b);
      }
    }
    for (; w < words; ++w) {  // the last words, fewer than a vector
      for (int j = 0; j < kPerWord; ++j) {
        const uint32_t element = (row[w] >> (j * kBits)) & ((uint64_t{1} << kBits) - 1);
        dst[j * words + w] =
            word_scale[w] * static_cast<F>(static_cast<int32_t>(element)) + word_bias[w];
      }
    }
  }
}

// The loops for `bits`: dots for every width from 1 to 8, dequantize for those dividing 32.
template <class Isa>
QuantizedLoops<typename Isa::F> ForBits(int bits) {
  switch (bits) {
    case 1:
      return {&Dots<Isa, 1>, &Dequantize<Isa, 1>};
    case 2:
      return {&Dots<Isa, 2>, &Dequantize<Isa, 2>};
    case 3:
      return {&Dots<Isa, 3>, nullptr};
    case 4:
      return {&Dots<Isa, 4>, &Dequantize<Isa, 4>};
    case 5:
      return {&Dots<Isa, 5>, nullptr};
    case 6:
      return {&Dots<Isa, 6>, nullptr};
    case 8:
      return {&Dots<Isa, 8>, &Dequantize<Isa, 8>};
    default:
      return {};
  }
}

#undef FERRY_QLOOPS_INLINE

}  // namespace quantized_loops
}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_QUANTIZED_MATMUL_LOOPS_H_
