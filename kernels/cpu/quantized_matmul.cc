// quantized_matmul (core/ops.h), in float32 (float64 for float64 operands) as matmul. x @ w^T
// at a width dividing 32 (1, 2, 4, 8 bits) runs in bit-plane order (Planes): up to 2 rows of
// x (decoding) read the packed words directly, more multiply dequantized panels through
// OpenBLAS. Otherwise the matrix is dequantized a panel of rows at a time in its own order
// (4 MiB: bigger products for OpenBLAS, still in cache): words of widths dividing 32 with shifts
// the compiler knows, 3, 5 and 6 bits element by element.

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <type_traits>

#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/quantized_packing.h"

namespace ferry::kernels::cpu {
namespace {

constexpr size_t kPanelBytes = size_t{4} << 20;

using Quantization = QuantizedMatmulDims;

// Calls f(std::integral_constant<int, bits>) and returns true for the widths dividing 32
// (1, 2, 4, 8), whose elements never straddle words; false for the others.
template <typename Fn>
bool WithAlignedBits(int bits, Fn&& f) {
  switch (bits) {
    case 1:
      f(std::integral_constant<int, 1>{});
      return true;
    case 2:
      f(std::integral_constant<int, 2>{});
      return true;
    case 4:
      f(std::integral_constant<int, 4>{});
      return true;
    case 8:
      f(std::integral_constant<int, 8>{});
      return true;
    default:
      return false;
  }
}

// Row elements s * q + b for kBits dividing 32: a word never straddles a group (groups are
// multiples of 32 elements), so each word takes one scale and bias.
template <int kBits, typename F>
void DequantizeAlignedRow(const uint32_t* words, const F* scales, const F* biases,
                          const Quantization& q, F* out) {
  constexpr int kPerWord = 32 / kBits;
  constexpr uint32_t kMask = (uint64_t{1} << kBits) - 1;
  for (int64_t w = 0; w < q.words_per_row; ++w) {
    const uint32_t word = words[w];
    const int64_t group = w * kPerWord / q.group_size;
    const F s = scales[group];
    const F b = biases[group];
    F* dst = out + w * kPerWord;
    for (int j = 0; j < kPerWord; ++j)
      dst[j] = s * static_cast<F>((word >> (j * kBits)) & kMask) + b;
  }
}

template <typename F>
void DequantizeRow(const uint32_t* words, const F* scales, const F* biases, const Quantization& q,
                   F* out) {
  const bool aligned = WithAlignedBits(q.bits, [&](auto bits) {
    DequantizeAlignedRow<decltype(bits)::value>(words, scales, biases, q, out);
  });
  if (aligned) return;
  for (int64_t k = 0; k < q.columns; ++k) {
    const int64_t group = k / q.group_size;
    out[k] = scales[group] * static_cast<F>(PackedElement(words, k, q.bits)) + biases[group];
  }
}

// x @ w^T at widths dividing 32 runs in bit-plane order: plane j of a row holds the elements
// at bits [j * kBits, (j + 1) * kBits) of their words, so a plane lines up with the words and
// its loops shift a run of words by one amount (which vectorizes). Reordering the columns of
// both x and w leaves x @ w^T as it was.
template <int kBits>
struct Planes {
  static constexpr int kPerWord = 32 / kBits;
  static constexpr uint32_t kMask = (uint64_t{1} << kBits) - 1;

  // Element j of word w of a row of x, at j * words + w.
  template <typename F>
  static void OrderRow(const F* row, int64_t words, F* planes) {
    for (int64_t w = 0; w < words; ++w) {
      for (int j = 0; j < kPerWord; ++j) planes[j * words + w] = row[w * kPerWord + j];
    }
  }

  template <typename F>
  static F Value(uint32_t word, int j) {
    return static_cast<F>(static_cast<int32_t>((word >> (j * kBits)) & kMask));
  }
};

// Rows of x up to which x @ w^T reads the packed words rather than dequantizing panels:
// reading them costs a pass of multiply-adds per row of x (one thread), dequantizing about
// two such passes once, after which OpenBLAS's product is cheap (measured: 8 rows ran 9.6
// GFLOP/s reading the words, even decoding each word once for all 8).
constexpr int64_t kVectorRows = 2;

// A few rows of x @ w^T, nothing dequantized: per word, the planes' sum of x q; a group's
// sum is then s * sum(x q) + b * sum(x).
template <int kBits, typename F>
void PlaneVectorProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                        const Quantization& q, int64_t m, F* out) {
  using P = Planes<kBits>;
  const int64_t words = q.words_per_row;
  const int64_t group_words = q.group_size / P::kPerWord;
  std::unique_ptr<F[]> planes(new F[q.columns]);
  std::unique_ptr<F[]> x_sums(new F[q.groups_per_row]);
  std::unique_ptr<F[]> lanes(new F[words]);
  for (int64_t i = 0; i < m; ++i) {
    const F* xi = x + i * q.columns;
    P::OrderRow(xi, words, planes.get());
    for (int64_t g = 0; g < q.groups_per_row; ++g) {
      F sum = 0;
      for (int64_t k = 0; k < q.group_size; ++k) sum += xi[g * q.group_size + k];
      x_sums[g] = sum;
    }
    for (int64_t r = 0; r < q.rows; ++r) {
      const uint32_t* row = wq + r * words;
      for (int64_t w = 0; w < words; ++w) lanes[w] = planes[w] * P::template Value<F>(row[w], 0);
      for (int j = 1; j < P::kPerWord; ++j) {
        const F* plane = planes.get() + j * words;
        for (int64_t w = 0; w < words; ++w) lanes[w] += plane[w] * P::template Value<F>(row[w], j);
      }
      F total = 0;
      for (int64_t g = 0; g < q.groups_per_row; ++g) {
        F dot = 0;
        for (int64_t w = g * group_words; w < (g + 1) * group_words; ++w) dot += lanes[w];
        const int64_t at = r * q.groups_per_row + g;
        total += scales[at] * dot + biases[at] * x_sums[g];
      }
      out[i * q.rows + r] = total;
    }
  }
}

// More rows: panels dequantized in plane order (each word's scale and bias spread first, so
// the plane loops are plain), times x in plane order through OpenBLAS.
template <int kBits, typename F>
void PlanePanelProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                       const Quantization& q, int64_t m, F* out) {
  using P = Planes<kBits>;
  const int64_t words = q.words_per_row;
  const int64_t group_words = q.group_size / P::kPerWord;
  std::unique_ptr<F[]> x_planes(new F[m * q.columns]);
  for (int64_t i = 0; i < m; ++i)
    P::OrderRow(x + i * q.columns, words, x_planes.get() + i * q.columns);
  const int64_t per_panel =
      std::max<int64_t>(1, static_cast<int64_t>(kPanelBytes / (q.columns * sizeof(F))));
  std::unique_ptr<F[]> panel(new F[std::min(per_panel, q.rows) * q.columns]);
  std::unique_ptr<F[]> word_scale(new F[words]), word_bias(new F[words]);
  const int c = static_cast<int>(q.columns);
  for (int64_t row0 = 0; row0 < q.rows; row0 += per_panel) {
    const int64_t rows = std::min(per_panel, q.rows - row0);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t r = row0 + i;
      const uint32_t* row = wq + r * words;
      for (int64_t w = 0; w < words; ++w) {
        word_scale[w] = scales[r * q.groups_per_row + w / group_words];
        word_bias[w] = biases[r * q.groups_per_row + w / group_words];
      }
      F* dst = panel.get() + i * q.columns;
      for (int j = 0; j < P::kPerWord; ++j) {
        for (int64_t w = 0; w < words; ++w) {
          dst[j * words + w] = word_scale[w] * P::template Value<F>(row[w], j) + word_bias[w];
        }
      }
    }
    Gemm(x_planes.get(), c, panel.get(), c, /*b_transposed=*/true, out + row0,
         static_cast<int>(q.rows), static_cast<int>(m), static_cast<int>(rows), c);
  }
}

template <int kBits, typename F>
void PlaneProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                  const Quantization& q, int64_t m, F* out) {
  if (m <= kVectorRows) return PlaneVectorProduct<kBits>(x, wq, scales, biases, q, m, out);
  PlanePanelProduct<kBits>(x, wq, scales, biases, q, m, out);
}

// True when x @ w^T ran in plane order (widths dividing 32).
template <typename F>
bool PlaneOrderProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                       const Quantization& q, bool transpose, int64_t m, F* out) {
  if (!transpose) return false;
  return WithAlignedBits(q.bits, [&](auto bits) {
    PlaneProduct<decltype(bits)::value>(x, wq, scales, biases, q, m, out);
  });
}

// out = x @ w^T (transpose; x m x columns) or x @ w (x m x rows), all dense in F.
template <typename F>
void QuantizedProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                      const Quantization& q, bool transpose, int64_t m, F* out) {
  if (PlaneOrderProduct(x, wq, scales, biases, q, transpose, m, out)) return;
  const int64_t per_panel =
      std::max<int64_t>(1, static_cast<int64_t>(kPanelBytes / (q.columns * sizeof(F))));
  std::unique_ptr<F[]> panel(new F[std::min(per_panel, q.rows) * q.columns]);
  const int c = static_cast<int>(q.columns);
  const int r = static_cast<int>(q.rows);
  for (int64_t row0 = 0; row0 < q.rows; row0 += per_panel) {
    const int64_t rows = std::min(per_panel, q.rows - row0);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t row = row0 + i;
      DequantizeRow(wq + row * q.words_per_row, scales + row * q.groups_per_row,
                    biases + row * q.groups_per_row, q, panel.get() + i * q.columns);
    }
    if (transpose) {  // out[:, row0:row0 + rows] = x @ panel^T
      Gemm(x, c, panel.get(), c, /*b_transposed=*/true, out + row0, r, static_cast<int>(m),
           static_cast<int>(rows), c);
    } else {  // out += x[:, row0:row0 + rows] @ panel
      Gemm(x + row0, r, panel.get(), c, /*b_transposed=*/false, out, c, static_cast<int>(m), c,
           static_cast<int>(rows), row0 == 0 ? F{0} : F{1});
    }
  }
}

absl::Status QuantizedMatmul(const core::Node& node, absl::Span<const Tensor> inputs,
                             const Tensor& out) {
  const Tensor& x = inputs[0];
  const Tensor& wq = inputs[1];
  absl::StatusOr<Quantization> dims = GetQuantizedMatmulDims(node, wq.shape());
  if (!dims.ok()) return dims.status();
  const Quantization& q = *dims;
  const int64_t inner = q.transpose ? q.columns : q.rows;
  const int64_t m = inner == 0 ? 0 : x.size() / inner;
  if (m > INT_MAX || q.rows > INT_MAX || q.columns > INT_MAX) {
    return absl::InvalidArgumentError("[quantized_matmul] a dimension exceeds what BLAS can index");
  }
  if (out.size() == 0) return absl::OkStatus();
  if (inner == 0) {  // sums of nothing
    std::memset(out.raw(), 0, out.nbytes());
    return absl::OkStatus();
  }
  const uint32_t* words = wq.data<uint32_t>();
  WithBlasOperands(x, inputs[2], out, [&](const auto* x_data, const auto* scales, auto* y) {
    using F = std::remove_const_t<std::remove_pointer_t<decltype(x_data)>>;
    std::unique_ptr<char[]> scratch;
    const core::DType compute =
        std::is_same_v<F, double> ? core::DType::kFloat64 : core::DType::kFloat32;
    const F* biases = static_cast<const F*>(ElementsAs(inputs[3], compute, scratch));
    QuantizedProduct(x_data, words, scales, biases, q, q.transpose, m, y);
  });
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<QuantizedMatmulDims> GetQuantizedMatmulDims(const core::Node& node,
                                                           const core::Shape& wq_shape) {
  absl::StatusOr<int64_t> bits = GetAttr<int64_t>(node, "bits");
  if (!bits.ok()) return bits.status();
  absl::StatusOr<int64_t> group_size = GetAttr<int64_t>(node, "group_size");
  if (!group_size.ok()) return group_size.status();
  absl::StatusOr<int64_t> transpose = GetAttr<int64_t>(node, "transpose");
  if (!transpose.ok()) return transpose.status();
  QuantizedMatmulDims q;
  q.rows = wq_shape[0];
  q.words_per_row = wq_shape[1];
  q.bits = static_cast<int>(*bits);
  q.group_size = static_cast<int>(*group_size);
  q.columns = q.words_per_row * 32 / q.bits;
  q.groups_per_row = q.columns / q.group_size;
  q.transpose = *transpose != 0;
  return q;
}

void RegisterQuantizedKernels(KernelTable& table) { table["quantized_matmul"] = &QuantizedMatmul; }

}  // namespace ferry::kernels::cpu
