// quantized_matmul's loops at every instruction set this CPU has, against the product of the
// matrix dequantized element by element in double.

#include "kernels/cpu/quantized_matmul_loops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/cpu/test_util.h"
#include "kernels/quantized_packing.h"

namespace ferry::kernels::cpu {
namespace {

struct Problem {
  QuantizedMatmulDims q;
  std::vector<uint32_t> words;
  std::vector<double> scales, biases, x;
  int64_t m;

  double Weight(int64_t r, int64_t k) const {
    const int64_t g = r * q.groups_per_row + k / q.group_size;
    return scales[g] * PackedElement(words.data() + r * q.words_per_row, k, q.bits) + biases[g];
  }
};

Problem RandomProblem(int bits, int group_size, int64_t rows, int64_t columns, int64_t m) {
  Problem p;
  p.q = QuantizedMatmulDims{rows, columns, columns * bits / 32, columns / group_size, group_size,
                            bits, true};
  p.m = m;
  std::mt19937 rng(static_cast<uint32_t>(bits * 1000 + rows * 10 + m));
  std::uniform_real_distribution<double> uniform(-1, 1);
  p.words.resize(rows * p.q.words_per_row);
  for (uint32_t& w : p.words) w = rng();
  for (int64_t g = 0; g < rows * p.q.groups_per_row; ++g) {
    p.scales.push_back(uniform(rng) / 4);
    p.biases.push_back(uniform(rng));
  }
  for (int64_t i = 0; i < m * columns; ++i) p.x.push_back(uniform(rng));
  return p;
}

template <typename F>
std::vector<F> As(const std::vector<double>& values) {
  return std::vector<F>(values.begin(), values.end());
}

// Checks dots over rows [row_begin, row_end) and dequantize over the same rows.
template <typename F>
void ExpectLoopsAgree(const QuantizedLoops<F>& loops, const Problem& p, int64_t row_begin,
                      int64_t row_end, double tolerance) {
  const QuantizedMatmulDims& q = p.q;
  const std::vector<F> x = As<F>(p.x), scales = As<F>(p.scales), biases = As<F>(p.biases);
  const F kUnwritten = -12345;
  std::vector<F> out(p.m * q.rows, kUnwritten);
  loops.dots(x.data(), p.m, p.words.data(), scales.data(), biases.data(), q, row_begin, row_end,
             out.data(), q.rows);
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t r = 0; r < q.rows; ++r) {
      const F got = out[i * q.rows + r];
      if (r < row_begin || r >= row_end) {
        ASSERT_EQ(got, kUnwritten) << "row " << r << " outside the range was written";
        continue;
      }
      double want = 0, magnitude = 0;
      for (int64_t k = 0; k < q.columns; ++k) {
        want += p.x[i * q.columns + k] * p.Weight(r, k);
        magnitude += std::abs(p.x[i * q.columns + k] * p.Weight(r, k));
      }
      ASSERT_NEAR(got, want, tolerance * magnitude) << "x row " << i << ", w row " << r;
    }
  }
  if (loops.dequantize == nullptr) return;  // widths not dividing 32
  // Dequantized in plane order: element j of word w at j * words + w.
  std::vector<F> panel((row_end - row_begin) * q.columns);
  loops.dequantize(p.words.data(), scales.data(), biases.data(), q, row_begin, row_end,
                   panel.data());
  const int64_t per_word = 32 / q.bits;
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t k = 0; k < q.columns; ++k) {
      const int64_t at = (k % per_word) * q.words_per_row + k / per_word;
      ASSERT_NEAR(panel[(r - row_begin) * q.columns + at], p.Weight(r, k),
                  tolerance * (1 + std::abs(p.Weight(r, k))))
          << "w row " << r << ", column " << k;
    }
  }
}

// Rows that fill no whole vector, word counts that fill none (160 columns: 5 to 40 words),
// every chunk of rows of x (1, 2, 4, 8, 16 and what is left), groups of fewer words than a
// vector and of more.
TEST(QuantizedMatmulLoopsTest, EveryBuildAgreesWithTheDequantizedProduct) {
  for (SimdLevel level : testing::SimdLevelsOfThisCpu()) {
    for (int bits : {1, 2, 3, 4, 5, 6, 8}) {
      for (int group_size : {32, 64, 128}) {
        const int64_t columns = group_size == 32 ? 160 : 2 * group_size;
        for (int64_t m : {1, 2, 3, 5, 9, 16, 17, 35}) {
          SCOPED_TRACE(::testing::Message()
                       << testing::SimdLevelName(level) << ", " << bits << " bits, group "
                       << group_size << ", " << m << " rows of x");
          const Problem p = RandomProblem(bits, group_size, 37, columns, m);
          ExpectLoopsAgree(Float32QuantizedLoops(bits, level), p, 0, 37, 1e-6);
          ExpectLoopsAgree(Float32QuantizedLoops(bits, level), p, 5, 30, 1e-6);
          if (level == SimdLevel::kBaseline) {
            ExpectLoopsAgree(Float64QuantizedLoops(bits), p, 3, 37, 1e-14);
          }
        }
      }
    }
  }
}

// Rows long enough that x's tile (about 16 KiB of it) passes over w several times, the last
// time over less than a whole step of words.
TEST(QuantizedMatmulLoopsTest, LongRowsTakeSeveralTiles) {
  for (SimdLevel level : testing::SimdLevelsOfThisCpu()) {
    for (int bits : {3, 4, 6}) {
      for (int64_t m : {1, 17}) {
        SCOPED_TRACE(::testing::Message() << testing::SimdLevelName(level) << ", " << bits
                                          << " bits, " << m << " rows of x");
        const Problem p = RandomProblem(bits, 32, 19, 4096 + 96, m);
        ExpectLoopsAgree(Float32QuantizedLoops(bits, level), p, 0, 19, 1e-6);
      }
    }
  }
}

// More rows than Dots takes at a time (kDotStretchRows), from a row that starts no stretch.
TEST(QuantizedMatmulLoopsTest, ManyRowsTakeSeveralStretches) {
  for (SimdLevel level : testing::SimdLevelsOfThisCpu()) {
    SCOPED_TRACE(::testing::Message() << testing::SimdLevelName(level));
    const Problem p = RandomProblem(4, 64, 2 * kDotStretchRows + 77, 128, 3);
    ExpectLoopsAgree(Float32QuantizedLoops(4, level), p, 5, p.q.rows, 1e-6);
  }
}

TEST(QuantizedMatmulLoopsTest, OnlyWidthsDividing32DequantizeInPlaneOrder) {
  for (int bits : {1, 2, 3, 4, 5, 6, 8}) {
    const bool divides = 32 % bits == 0;
    EXPECT_NE(Float32QuantizedLoops(bits, BestSimdLevel()).dots, nullptr);
    EXPECT_EQ(Float32QuantizedLoops(bits, BestSimdLevel()).dequantize != nullptr, divides);
    EXPECT_EQ(Float64QuantizedLoops(bits).dequantize != nullptr, divides);
  }
  EXPECT_EQ(Float32QuantizedLoops(7, BestSimdLevel()).dots, nullptr);
}

}  // namespace
}  // namespace ferry::kernels::cpu
