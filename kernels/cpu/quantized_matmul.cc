// quantized_matmul (core/ops.h), in float32 (float64 for float64 operands) as matmul. x @ w^T
// runs quantized_matmul_loops.h's loops, in the widest vectors the CPU has, rows of w split
// among its cores: up to 256 rows of x (any number at 3, 5 and 6 bits) dequantize the words
// in registers; more multiply panels dequantized in bit-plane order through OpenBLAS. x @ w
// dequantizes the matrix a panel of rows at a time in its own order (4 MiB: bigger products
// for OpenBLAS, still in cache): words of widths dividing 32 with shifts the compiler knows,
// 3, 5 and 6 bits element by element. gather_qmm runs the same products on the picked
// matrices in place.

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <type_traits>

#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/parallel_rows.h"
#include "kernels/cpu/quantized_matmul_loops.h"
#include "kernels/cpu/simd_level.h"
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

template <typename F>
QuantizedLoops<F> QuantizedLoopsFor(int bits) {
  if constexpr (std::is_same_v<F, float>) {
    return Float32QuantizedLoops(bits, BestSimdLevel());
  } else {
    return Float64QuantizedLoops(bits);
  }
}

// Rows of x up to which x @ w^T dequantizes each vector of words in registers (Dots, once
// per 8 or 16 rows of x); more multiply dequantized panels through OpenBLAS. Measured on
// 4096 x 4096 at 4 bits (AVX-512, 2 cores): Dots 187 and 193 GFLOP/s at 128 and 256 rows,
// panels 133 and 178.
constexpr int64_t kDotRows = 256;

// Work (multiply-adds) below which a part of a loop is not worth a thread.
constexpr int64_t kWorkPerThread = int64_t{1} << 20;

// x @ w^T through the vector loops; false, having done nothing, where they do not apply
// (x @ w, or many rows at a width not dividing 32).
template <typename F>
bool VectorLoopsProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                        const Quantization& q, bool transpose, int64_t m, F* out) {
  const QuantizedLoops<F> loops = QuantizedLoopsFor<F>(q.bits);
  if (!transpose || loops.dots == nullptr) return false;
  if (m <= kDotRows || loops.dequantize == nullptr) {
    ForRowsInParallel(q.rows, kWorkPerThread / (q.columns * m), [&](int64_t begin, int64_t end) {
      loops.dots(x, m, wq, scales, biases, q, begin, end, out, q.rows);
    });
    return true;
  }
  // x in plane order, as the panels: element j of word w of a row goes to j * words + w.
  const int64_t words = q.words_per_row, per_word = 32 / q.bits;
  std::unique_ptr<F[]> x_planes(new F[m * q.columns]);
  for (int64_t i = 0; i < m; ++i) {
    const F* row = x + i * q.columns;
    F* planes = x_planes.get() + i * q.columns;
    for (int64_t w = 0; w < words; ++w) {
      for (int64_t j = 0; j < per_word; ++j) planes[j * words + w] = row[w * per_word + j];
    }
  }
  const int64_t per_panel =
      std::max<int64_t>(1, static_cast<int64_t>(kPanelBytes / (q.columns * sizeof(F))));
  std::unique_ptr<F[]> panel(new F[std::min(per_panel, q.rows) * q.columns]);
  const int c = static_cast<int>(q.columns);
  for (int64_t row0 = 0; row0 < q.rows; row0 += per_panel) {
    const int64_t rows = std::min(per_panel, q.rows - row0);
    ForRowsInParallel(rows, kWorkPerThread / q.columns, [&](int64_t begin, int64_t end) {
      loops.dequantize(wq, scales, biases, q, row0 + begin, row0 + end,
                       panel.get() + begin * q.columns);
    });
    Gemm(x_planes.get(), c, /*a_transposed=*/false, panel.get(), c, /*b_transposed=*/true,
         out + row0, static_cast<int>(q.rows), static_cast<int>(m), static_cast<int>(rows), c);
  }
  return true;
}

// out = x @ w^T (transpose; x m x columns) or x @ w (x m x rows), all dense in F.
template <typename F>
void QuantizedProduct(const F* x, const uint32_t* wq, const F* scales, const F* biases,
                      const Quantization& q, bool transpose, int64_t m, F* out) {
  if (VectorLoopsProduct(x, wq, scales, biases, q, transpose, m, out)) return;
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
      Gemm(x, c, /*a_transposed=*/false, panel.get(), c, /*b_transposed=*/true, out + row0, r,
           static_cast<int>(m), static_cast<int>(rows), c);
    } else {  // out += x[:, row0:row0 + rows] @ panel
      Gemm(x + row0, r, /*a_transposed=*/false, panel.get(), c, /*b_transposed=*/false, out, c,
           static_cast<int>(m), c, static_cast<int>(rows), row0 == 0 ? F{0} : F{1});
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
  // The biases in the dtype WithBlasOperands computes in.
  HostScratch scratch;
  absl::StatusOr<const void*> biases = ElementsAs(
      node.op, inputs[3],
      out.dtype() == core::DType::kFloat64 ? core::DType::kFloat64 : core::DType::kFloat32,
      scratch);
  if (!biases.ok()) return biases.status();
  return WithBlasOperands(node.op, x, inputs[2], out,
                          [&](const auto* x_data, const auto* scales, auto* y) {
                            using F = std::remove_const_t<std::remove_pointer_t<decltype(x_data)>>;
                            QuantizedProduct(x_data, words, scales, static_cast<const F*>(*biases),
                                             q, q.transpose, m, y);
                          });
}

// The runs of a gather_qmm (GatherMmRuns: one matrix of w, x's matrices one after
// another), each one QuantizedProduct reading that matrix's words where they lie; scales and
// biases of another dtype than F are widened one matrix at a time.
template <typename F>
absl::Status GatherQuantizedProducts(const F* x, const Tensor& wq, const Tensor& scales,
                                     const Tensor& biases, const Quantization& q, int64_t m,
                                     const std::vector<int64_t>& lhs,
                                     const std::vector<int64_t>& rhs, F* out) {
  const core::DType compute =
      std::is_same_v<F, double> ? core::DType::kFloat64 : core::DType::kFloat32;
  const int64_t inner = q.transpose ? q.columns : q.rows;
  const int64_t width = q.transpose ? q.rows : q.columns;
  const int64_t groups = q.rows * q.groups_per_row;
  HostScratch scratch;
  F* widened = nullptr;  // the scales, then the biases, of matrix `widened_index`
  int64_t widened_index = -1;
  if (scales.dtype() != compute) {
    absl::StatusOr<void*> bytes =
        scratch.Take("gather_qmm", 2 * groups * static_cast<int64_t>(sizeof(F)));
    if (!bytes.ok()) return bytes.status();
    widened = static_cast<F*>(*bytes);
  }
  for (const GatherMmRun& run : GatherMmRuns(m, true, lhs, rhs)) {
    const int64_t e = rhs[run.first];
    const F* s = static_cast<const F*>(scales.raw()) + e * groups;
    const F* b = static_cast<const F*>(biases.raw()) + e * groups;
    if (widened != nullptr) {
      if (e != widened_index) {
        const size_t size = core::SizeOf(scales.dtype());
        CastElements(static_cast<const char*>(scales.raw()) + e * groups * size, scales.dtype(),
                     widened, compute, groups);
        CastElements(static_cast<const char*>(biases.raw()) + e * groups * size, biases.dtype(),
                     widened + groups, compute, groups);
        widened_index = e;
      }
      s = widened;
      b = widened + groups;
    }
    QuantizedProduct(x + lhs[run.first] * m * inner,
                     wq.data<uint32_t>() + e * q.rows * q.words_per_row, s, b, q, q.transpose,
                     run.count * m, out + run.first * m * width);
  }
  return absl::OkStatus();
}

absl::Status GatherQmm(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  const Tensor& x = inputs[0];
  const Tensor& wq = inputs[1];
  const core::Shape& w_shape = wq.shape();
  absl::StatusOr<Quantization> dims =
      GetQuantizedMatmulDims(node, core::Shape(w_shape.end() - 2, w_shape.end()));
  if (!dims.ok()) return dims.status();
  const Quantization& q = *dims;
  const int64_t m = x.shape()[x.shape().size() - 2];
  const int64_t x_count = core::NumElements(core::Shape(x.shape().begin(), x.shape().end() - 2));
  const int64_t w_count = core::NumElements(core::Shape(w_shape.begin(), w_shape.end() - 2));
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<std::vector<int64_t>> lhs = GatherIndices(node.op, inputs[4]);
  if (!lhs.ok()) return lhs.status();
  absl::StatusOr<std::vector<int64_t>> rhs = GatherIndices(node.op, inputs[5]);
  if (!rhs.ok()) return rhs.status();
  absl::Status checked = CheckGatherIndices(node.op, "x", x_count, "wq", w_count, *lhs, *rhs);
  if (!checked.ok()) return checked;
  if ((q.transpose ? q.columns : q.rows) == 0) {  // sums of nothing
    std::memset(out.raw(), 0, out.nbytes());
    return absl::OkStatus();
  }
  if (m * static_cast<int64_t>(lhs->size()) > INT_MAX || q.rows > INT_MAX || q.columns > INT_MAX) {
    return absl::InvalidArgumentError("[gather_qmm] a dimension exceeds what BLAS can index");
  }
  const core::DType compute =
      out.dtype() == core::DType::kFloat64 ? core::DType::kFloat64 : core::DType::kFloat32;
  HostScratch x_scratch, c_scratch;
  absl::StatusOr<const void*> x_data = ElementsAs(node.op, x, compute, x_scratch);
  if (!x_data.ok()) return x_data.status();
  void* c_data = out.raw();
  if (out.dtype() != compute) {
    absl::StatusOr<void*> c =
        c_scratch.Take(node.op, out.size() * static_cast<int64_t>(core::SizeOf(compute)));
    if (!c.ok()) return c.status();
    c_data = *c;
  }
  absl::Status ran =
      compute == core::DType::kFloat64
          ? GatherQuantizedProducts(static_cast<const double*>(*x_data), wq, inputs[2], inputs[3],
                                    q, m, *lhs, *rhs, static_cast<double*>(c_data))
          : GatherQuantizedProducts(static_cast<const float*>(*x_data), wq, inputs[2], inputs[3], q,
                                    m, *lhs, *rhs, static_cast<float*>(c_data));
  if (!ran.ok()) return ran;
  if (c_data != out.raw()) CastElements(c_data, compute, out.raw(), out.dtype(), out.size());
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

void RegisterQuantizedKernels(KernelTable& table) {
  table["quantized_matmul"] = &QuantizedMatmul;
  table["gather_qmm"] = &GatherQmm;
}

}  // namespace ferry::kernels::cpu
