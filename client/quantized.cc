// Affine quantization as MLX's. quantize and dequantize are composed of ordinary ops, with
// MLX's arithmetic (so results match MLX's bit for bit); quantized_matmul of a matrix is
// the backends' op (core/ops.h), of a batch of matrices composed. Packing is one code path
// for every width:
// `bits` elements fill whole words every period of P = lcm(bits, 32) / bits elements
// (W = P * bits / 32 words), so each word of a period is a fixed sum of shifted elements
// and each element a fixed OR of at most two shifted words; the shifts are constants.

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/quantized_codes.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry {
namespace {

// The elements and words of one packing period.
struct Period {
  int elements;
  int words;
};

Period PeriodOf(int bits) {
  const int bit_count = std::lcm(bits, 32);
  return {bit_count / bits, bit_count / 32};
}

void CheckGroupAndBits(const char* op, int group_size, int bits) {
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    detail::ThrowOpError(op,
                         absl::StrCat("group_size must be 32, 64 or 128, got ", group_size, "."));
  }
  if (bits < 1 || bits > 8 || bits == 7) {
    detail::ThrowOpError(op, absl::StrCat("bits must be 1, 2, 3, 4, 5, 6 or 8, got ", bits, "."));
  }
}

// a with its last axis split into (count, size).
Array SplitLast(const Array& a, int64_t size) {
  Shape shape = a.shape();
  shape.back() /= size;
  shape.push_back(size);
  return reshape(a, shape);
}

// a with its last two axes merged.
Array MergeLast(const Array& a) {
  Shape shape(a.shape().begin(), a.shape().end() - 1);
  shape.back() *= a.shape().back();
  return reshape(a, shape);
}

}  // namespace

namespace detail {

Array PackCodes(const Array& q, int bits) {
  const Period period = PeriodOf(bits);
  // Word j of a period takes element i shifted left by o_i - 32 j (it starts in word j) or
  // right by 32 j - o_i (it started in word j - 1); a shift of 32 leaves nothing (right_shift
  // of a count past the width gives 0), for elements elsewhere.
  std::vector<uint32_t> left(period.words * period.elements, 0);
  std::vector<uint32_t> right(period.words * period.elements, 32);
  for (int j = 0; j < period.words; ++j) {
    for (int i = 0; i < period.elements; ++i) {
      const int offset = i * bits - 32 * j;
      const int k = j * period.elements + i;
      if (offset >= 0 && offset < 32) {
        left[k] = offset;
        right[k] = 0;
      } else if (offset < 0 && offset + bits > 0) {
        right[k] = -offset;
      }
    }
  }
  const Shape matrix = {period.words, period.elements};
  Array elements = expand_dims(SplitLast(q, period.elements), -2);  // (..., periods, 1, P)
  Array parts = left_shift(right_shift(elements, from_host(right, matrix, q.device())),
                           from_host(left, matrix, q.device()));
  return MergeLast(sum(parts, -1));  // disjoint bits: the sum is their OR
}

}  // namespace detail

namespace {

// words (..., K * bits / 32) unpacked into (..., K) uint32 values.
Array Unpack(const Array& words, int bits) {
  const Period period = PeriodOf(bits);
  const uint32_t mask = (uint32_t{1} << bits) - 1;
  Array grouped = SplitLast(words, period.words);  // (..., periods, W)
  if (period.words == 1) {  // bits divides 32: no element straddles two words
    std::vector<uint32_t> shifts(period.elements);
    for (int i = 0; i < period.elements; ++i) shifts[i] = i * bits;
    Array values =
        right_shift(grouped, from_host(shifts, {period.elements}, words.device())) & mask;
    return MergeLast(values);
  }
  // Element i starts at bit o_i of the period: word o_i / 32 shifted right by o_i % 32, OR the
  // next word shifted left by 32 - o_i % 32 when it straddles (a shift of 32 gives 0).
  std::vector<int32_t> low_word(period.elements), high_word(period.elements);
  std::vector<uint32_t> low_shift(period.elements), high_shift(period.elements);
  for (int i = 0; i < period.elements; ++i) {
    const int offset = i * bits;
    low_word[i] = offset / 32;
    low_shift[i] = offset % 32;
    const bool straddles = offset % 32 + bits > 32;
    high_word[i] = straddles ? offset / 32 + 1 : offset / 32;
    high_shift[i] = straddles ? 32 - offset % 32 : 32;
  }
  const Shape p = {period.elements};
  const Device& on = words.device();
  Array low =
      right_shift(take(grouped, from_host(low_word, p, on), -1), from_host(low_shift, p, on));
  Array high =
      left_shift(take(grouped, from_host(high_word, p, on), -1), from_host(high_shift, p, on));
  return MergeLast((low | high) & mask);
}

void CheckQuantized(const char* op, const Array& wq, const Array& scales, const Array& biases,
                    int group_size, int bits) {
  CheckGroupAndBits(op, group_size, bits);
  if (wq.dtype() != uint32) {
    detail::ThrowOpError(op, absl::StrCat("the quantized matrix must be uint32, got ",
                                          core::DTypeName(wq.dtype()), "."));
  }
  if (!core::IsFloating(scales.dtype()) || !core::IsFloating(biases.dtype())) {
    detail::ThrowOpError(op, "scales and biases must be floating.");
  }
  const int64_t elements = wq.ndim() >= 2 ? wq.shape().back() * 32 / bits : 0;
  if (wq.ndim() < 2 || elements % group_size != 0) {
    detail::ThrowOpError(op, absl::StrCat("the quantized matrix ", core::ShapeToString(wq.shape()),
                                          " must have rank 2 or more and rows of whole groups: ",
                                          elements, " elements per row at bits=", bits,
                                          " is not a multiple of group_size=", group_size, "."));
  }
  Shape expected = wq.shape();
  expected.back() = elements / group_size;
  if (scales.shape() != expected || biases.shape() != expected) {
    detail::ThrowOpError(
        op, absl::StrCat("scales ", core::ShapeToString(scales.shape()), " and biases ",
                         core::ShapeToString(biases.shape()), " do not fit the quantized matrix ",
                         core::ShapeToString(wq.shape()), " with group_size=", group_size,
                         " and bits=", bits, " (expected ", core::ShapeToString(expected), ")."));
  }
}

// x's last dim against the dequantized (rows, columns) matrix it multiplies.
void CheckX(const Array& x, int64_t rows, int64_t columns, bool transpose) {
  const int64_t inner = transpose ? columns : rows;
  if (x.ndim() < 1 || x.shape().back() != inner) {
    detail::ThrowOpError(
        "quantized_matmul",
        absl::StrCat("x's last dim must be ", inner, " (the dequantized matrix is (", rows, ", ",
                     columns, ")", transpose ? ", transposed" : "", "), got shape ",
                     core::ShapeToString(x.shape()), "."));
  }
}

// s * q + b in `dtype`.
Array Dequantize(const Array& wq, const Array& scales, const Array& biases, int group_size,
                 int bits, Dtype dtype) {
  Array values = SplitLast(astype(Unpack(wq, bits), dtype), group_size);
  return MergeLast(values * expand_dims(astype(scales, dtype), -1) +
                   expand_dims(astype(biases, dtype), -1));
}

}  // namespace

std::tuple<Array, Array, Array> quantize(const Array& w, int group_size, int bits) {
  CheckGroupAndBits("quantize", group_size, bits);
  if (!core::IsFloating(w.dtype())) {
    detail::ThrowOpError("quantize",
                         absl::StrCat("w must be floating, got ", core::DTypeName(w.dtype()), "."));
  }
  if (w.ndim() < 2 || w.shape().back() % group_size != 0) {
    detail::ThrowOpError(
        "quantize", absl::StrCat("w must have rank 2 or more and a last dim divisible by "
                                 "group_size ",
                                 group_size, ", got shape ", core::ShapeToString(w.shape()), "."));
  }
  const double levels = (1 << bits) - 1;
  // 16-bit floats are quantized in float32 (their scales and biases rounded at the end), as
  // MLX's kernels do.
  const Dtype dtype = w.dtype();
  Array groups =
      SplitLast(dtype == float16 || dtype == bfloat16 ? astype(w, float32) : w, group_size);
  Array w_max = max(groups, -1, /*keepdims=*/true);
  Array w_min = min(groups, -1, /*keepdims=*/true);
  Array scales = maximum((w_max - w_min) / levels, 1e-7);
  Array biases = w_min;
  if (bits > 1) {
    // The bias is the group's edge of larger magnitude, and the scale is adjusted so that
    // the edge is exactly q0 levels from it: the edge is represented without error.
    Array mask = abs(w_min) > abs(w_max);
    scales = where(mask, scales, -scales);
    Array edge = where(mask, w_min, w_max);
    Array q0 = round(edge / scales);
    scales = where(q0 != 0, edge / q0, scales);
    biases = where(q0 == 0, 0, edge);
  }
  Array q = astype(clip(round((groups - biases) / scales), 0, levels), uint32);
  return {detail::PackCodes(MergeLast(q), bits), astype(squeeze(scales, -1), dtype),
          astype(squeeze(biases, -1), dtype)};
}

Array dequantize(const Array& wq, const Array& scales, const Array& biases, int group_size,
                 int bits) {
  CheckQuantized("dequantize", wq, scales, biases, group_size, bits);
  return Dequantize(wq, scales, biases, group_size, bits, scales.dtype());
}

namespace {

// Up to this many pairs, gather_qmm in a floating-point mode (composed) multiplies each
// pair's matrices alone, dequantizing only the picked ones; more share one dequantization
// and matmul, which keeps the graph small.
constexpr int64_t kPerMatrixProducts = 256;

// product(i) for each i < count, stacked into `batch` followed by a product's shape.
template <typename Product>
Array StackedProducts(const Shape& batch, int64_t count, Product product) {
  std::vector<Array> products;
  for (int64_t i = 0; i < count; ++i) products.push_back(product(i));
  Shape out = batch;
  out.insert(out.end(), products[0].shape().begin(), products[0].shape().end());
  return reshape(stack(products, 0), out);
}

}  // namespace

Array quantized_matmul(const Array& x, const Array& wq, const Array& scales, const Array& biases,
                       bool transpose, int group_size, int bits) {
  CheckQuantized("quantized_matmul", wq, scales, biases, group_size, bits);
  CheckX(x, wq.shape()[wq.ndim() - 2], wq.shape().back() * 32 / bits, transpose);
  const Dtype scale_dtype = core::PromoteTypes(scales.dtype(), biases.dtype());
  const Array a = detail::AsFloating(x);
  if (wq.ndim() == 2) {  // the backends' kernel
    return detail::MakeOp("quantized_matmul",
                          {a, wq, astype(scales, scale_dtype), astype(biases, scale_dtype)},
                          {{"bits", int64_t{bits}},
                           {"group_size", int64_t{group_size}},
                           {"transpose", int64_t{transpose ? 1 : 0}}});
  }
  if (a.ndim() >= 2 && core::BroadcastShapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                             Shape(wq.shape().begin(), wq.shape().end() - 2))
                           .ok()) {
    // A batch of matrices (a mixture of experts' picks): gather_qmm pairs them as matmul's
    // batches broadcast, and the kernel reads each matrix's words in place.
    return gather_qmm(a, wq, scales, biases, std::nullopt, std::nullopt, transpose, group_size,
                      bits);
  }
  // A vector x against a batch of matrices, or batches that do not broadcast (matmul says
  // so): composed, with the kernel's arithmetic (16-bit operands multiply in float32 with
  // the weights dequantized in float32, and the result is rounded once).
  const Dtype result = core::PromoteTypes(a.dtype(), scale_dtype);
  const Dtype compute = result == float16 || result == bfloat16 ? float32 : result;
  Array w = Dequantize(wq, scales, biases, group_size, bits, compute);
  return astype(matmul(astype(a, compute), transpose ? swapaxes(w, -1, -2) : w), result);
}

// ---- MLX's floating-point modes --------------------------------------------------------------

namespace {

struct FloatMode {
  const char* name;
  int group_size;
  int bits;
  bool power_of_two_scales;  // E8M0 scales (the mx modes), else E4M3 (nvfp4)
};

constexpr FloatMode kFloatModes[] = {
    {"mxfp4", 32, 4, true}, {"mxfp8", 32, 8, true}, {"nvfp4", 16, 4, false}};

// The value of each E4M3 code (OCP's "FN" variant: no infinities, 0x7f and 0xff NaN).
float E4m3(uint32_t code) {
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  const int exponent = static_cast<int>((code >> 3) & 0xf), mantissa = static_cast<int>(code & 7);
  if (exponent == 15 && mantissa == 7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(mantissa / 8.0f, -6);
  return sign * std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
}

// Every code's value, for a take: E2M1 (4 bits) or E4M3 (8 bits) elements, E8M0 or E4M3
// scales (E8M0 255 is NaN).
Array CodeTable(int bits, bool power_of_two, const Device& device) {
  std::vector<float> values;
  if (bits == 4) {
    values = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0f, -0.5, -1, -1.5, -2, -3, -4, -6};
  } else {
    for (uint32_t code = 0; code < 256; ++code) {
      values.push_back(!power_of_two ? E4m3(code)
                       : code == 255 ? std::numeric_limits<float>::quiet_NaN()
                                     : std::ldexp(1.0f, static_cast<int>(code) - 127));
    }
  }
  return from_host(values, {static_cast<int64_t>(values.size())}, device);
}

const FloatMode& GetFloatMode(const char* op, const std::string& mode,
                              std::optional<int> group_size, std::optional<int> bits) {
  for (const FloatMode& m : kFloatModes) {
    if (mode != m.name) continue;
    if (group_size.value_or(m.group_size) != m.group_size || bits.value_or(m.bits) != m.bits) {
      detail::ThrowOpError(op, absl::StrCat("mode \"", mode, "\" takes group_size ", m.group_size,
                                            " and bits ", m.bits, "."));
    }
    return m;
  }
  detail::ThrowOpError(op, absl::StrCat("mode must be \"affine\", \"mxfp4\", \"mxfp8\" or "
                                        "\"nvfp4\", got \"",
                                        mode, "\"."));
}

// The codes' values times their groups' scales, in float32 (exact: a product of a 2- or
// 4-bit mantissa and a power of two or a 4-bit one).
Array DequantizeFloat(const char* op, const FloatMode& mode, const Array& wq, const Array& scales) {
  if (wq.dtype() != uint32 || scales.dtype() != uint8) {
    detail::ThrowOpError(
        op,
        absl::StrCat("mode \"", mode.name, "\" needs uint32 words and uint8 scales, got ",
                     core::DTypeName(wq.dtype()), " and ", core::DTypeName(scales.dtype()), "."));
  }
  const int64_t elements = wq.ndim() >= 2 ? wq.shape().back() * 32 / mode.bits : 0;
  Shape expected = wq.shape();
  if (!expected.empty()) expected.back() = elements / mode.group_size;
  if (wq.ndim() < 2 || elements % mode.group_size != 0 || scales.shape() != expected) {
    detail::ThrowOpError(
        op, absl::StrCat("scales ", core::ShapeToString(scales.shape()),
                         " do not fit the quantized matrix ", core::ShapeToString(wq.shape()),
                         " in mode \"", mode.name, "\" (groups of ", mode.group_size, ")."));
  }
  const Array values = take(CodeTable(mode.bits, false, wq.device()), Unpack(wq, mode.bits));
  const Array scale = take(CodeTable(8, mode.power_of_two_scales, wq.device()), scales);
  return MergeLast(SplitLast(values, mode.group_size) * expand_dims(scale, -1));
}

// E2M1 codes of x as MLX's quantize writes them: to the nearest of 0, 0.5, 1, 1.5, 2, 3, 4,
// 6 (multiples of the binade's quantum: 0.5 below 2, 1 below 4, 2 up to 6), a tie toward
// zero (MLX's rule, unlike to_fp8's ties to even), saturating at 6; a value that rounds to
// zero is +0.
Array ToE2m1(const Array& x) {
  const Array a = minimum(abs(x), 6.0f);
  const Array quantum = where(a < 2.0f, 0.5f, where(a < 4.0f, 1.0f, 2.0f));
  const Array r = ceil(a / quantum - 0.5f) * quantum;  // exact: a / quantum < 4
  const Array magnitude =
      astype(where(r < 2.0f, r * 2.0f, where(r < 4.0f, r + 2.0f, r * 0.5f + 4.0f)), uint32);
  return magnitude | astype(where((magnitude != 0u) && (x < 0.0f), 8, 0), uint32);
}

// MLX's quantize in a floating-point mode: each group's scale makes its largest magnitude
// fit the element format (6 for E2M1, 448 for E4M3): 2^ceil(log2(amax / 6 or 448)) as E8M0
// for the mx modes (2^0 for a zero group), E4M3(amax / 6) for nvfp4; elements are the
// codes of w / scale (0 where the scale is 0).
std::vector<Array> QuantizeFloat(const FloatMode& mode, const Array& w) {
  // As MLX, amax / 6 (or 448) and w / scale are rounded to w's dtype (a 16-bit float), then
  // encoded from float32.
  auto in_w_dtype = [&](const Array& a) { return astype(astype(a, w.dtype()), float32); };
  const Array groups = SplitLast(astype(w, float32), mode.group_size);
  const Array amax = max(abs(groups), -1, /*keepdims=*/true);
  const float largest = mode.bits == 4 ? 6.0f : 448.0f;
  const Array y = in_w_dtype(amax / largest);
  Array scale_codes = to_fp8(y);  // nvfp4's
  if (mode.power_of_two_scales) {
    // ceil(log2(y)) from y's bits, exactly: its exponent, plus one unless y is a power of 2.
    const Array y_bits = view(y, uint32);
    const Array exponent = astype(right_shift(y_bits, 23), int32) +
                           astype((y_bits & 0x7fffffu) != 0u, int32);  // + 127 biased
    scale_codes = astype(where(amax > 0.0f, clip(exponent, 0, 254), 127), uint8);
  }
  const Array scales =
      take(CodeTable(8, mode.power_of_two_scales, w.device()), astype(scale_codes, int32));
  const Array x =
      where(scales == 0.0f, 0.0f, in_w_dtype(groups / where(scales == 0.0f, 1.0f, scales)));
  const Array codes = mode.bits == 8 ? astype(to_fp8(x), uint32) : ToE2m1(x);
  return {detail::PackCodes(MergeLast(codes), mode.bits), squeeze(scale_codes, -1)};
}

}  // namespace

std::vector<Array> quantize(const Array& w, std::optional<int> group_size, std::optional<int> bits,
                            const std::string& mode) {
  if (mode == "affine") {
    auto [wq, scales, biases] = quantize(w, group_size.value_or(64), bits.value_or(4));
    return {wq, scales, biases};
  }
  const FloatMode& m = GetFloatMode("quantize", mode, group_size, bits);
  if (!core::IsFloating(w.dtype())) {
    detail::ThrowOpError("quantize",
                         absl::StrCat("w must be floating, got ", core::DTypeName(w.dtype()), "."));
  }
  if (w.ndim() < 2 || w.shape().back() % m.group_size != 0) {
    detail::ThrowOpError(
        "quantize",
        absl::StrCat("w must have rank 2 or more and a last dim divisible by "
                     "group_size ",
                     m.group_size, ", got shape ", core::ShapeToString(w.shape()), "."));
  }
  return QuantizeFloat(m, w);
}

Array dequantize(const Array& wq, const Array& scales, const std::optional<Array>& biases,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                 std::optional<Dtype> dtype) {
  if (mode == "affine") {
    if (!biases.has_value()) detail::ThrowOpError("dequantize", "mode \"affine\" needs biases.");
    const Array w = dequantize(wq, scales, *biases, group_size.value_or(64), bits.value_or(4));
    return dtype.has_value() ? astype(w, *dtype) : w;
  }
  const FloatMode& m = GetFloatMode("dequantize", mode, group_size, bits);
  if (biases.has_value()) {
    detail::ThrowOpError("dequantize", absl::StrCat("mode \"", mode, "\" takes no biases."));
  }
  return astype(DequantizeFloat("dequantize", m, wq, scales), dtype.value_or(bfloat16));
}

Array quantized_matmul(const Array& x, const Array& wq, const Array& scales,
                       const std::optional<Array>& biases, bool transpose,
                       std::optional<int> group_size, std::optional<int> bits,
                       const std::string& mode) {
  if (mode == "affine") {
    if (!biases.has_value()) {
      detail::ThrowOpError("quantized_matmul", "mode \"affine\" needs biases.");
    }
    return quantized_matmul(x, wq, scales, *biases, transpose, group_size.value_or(64),
                            bits.value_or(4));
  }
  const FloatMode& m = GetFloatMode("quantized_matmul", mode, group_size, bits);
  if (biases.has_value()) {
    detail::ThrowOpError("quantized_matmul", absl::StrCat("mode \"", mode, "\" takes no biases."));
  }
  const Array w = DequantizeFloat("quantized_matmul", m, wq, scales);
  CheckX(x, w.shape()[w.ndim() - 2], w.shape().back(), transpose);
  // As the affine batch path: 16-bit x multiplies in float32, rounded once.
  const Array a = detail::AsFloating(x);
  const Dtype compute = a.dtype() == float64 ? float64 : float32;
  return astype(matmul(astype(a, compute), astype(transpose ? swapaxes(w, -1, -2) : w, compute)),
                a.dtype());
}

Array gather_qmm(const Array& x, const Array& wq, const Array& scales,
                 const std::optional<Array>& biases, const std::optional<Array>& lhs_indices,
                 const std::optional<Array>& rhs_indices, bool transpose,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode) {
  constexpr char op[] = "gather_qmm";
  if (x.ndim() < 2 || wq.ndim() < 2 || scales.ndim() != wq.ndim() ||
      (biases.has_value() && biases->ndim() != wq.ndim())) {
    detail::ThrowOpError(
        op,
        absl::StrCat("needs x (..., M, K) and wq, scales (and biases) of one rank "
                     "(..., rows, words), got ",
                     core::ShapeToString(x.shape()), ", ", core::ShapeToString(wq.shape()), ", ",
                     core::ShapeToString(scales.shape()),
                     biases.has_value() ? ", " + core::ShapeToString(biases->shape()) : "", "."));
  }
  const Array lhs = detail::MatrixIndices(op, "lhs_indices", x, lhs_indices);
  const Array rhs = detail::MatrixIndices(op, "rhs_indices", wq, rhs_indices);
  const Shape batch = detail::IndexBatch(op, lhs, rhs);
  if (mode == "affine" && biases.has_value()) {
    // The backends' kernel: each picked matrix's words read where they lie.
    const int gs = group_size.value_or(64), b = bits.value_or(4);
    CheckQuantized(op, wq, scales, *biases, gs, b);
    const Dtype scale_dtype = core::PromoteTypes(scales.dtype(), biases->dtype());
    return detail::MakeOp(
        op,
        {detail::AsFloating(x), wq, astype(scales, scale_dtype), astype(*biases, scale_dtype),
         broadcast_to(lhs, batch), broadcast_to(rhs, batch)},
        {{"bits", int64_t{b}},
         {"group_size", int64_t{gs}},
         {"transpose", int64_t{transpose ? 1 : 0}}});
  }
  const int64_t count = core::NumElements(batch);
  auto product_of = [&](const Array& a, const Array& w, const Array& s,
                        const std::optional<Array>& b) {
    return quantized_matmul(a, w, s, b, transpose, group_size, bits, mode);
  };
  if (count > 0 && count <= kPerMatrixProducts) {
    // A few pairs (a token's experts): each picked matrix copied once and multiplied alone.
    auto matrices = [](const Array& a) {
      return reshape(a, {-1, a.shape()[a.ndim() - 2], a.shape().back()});
    };
    const Array x3 = matrices(x), w3 = matrices(wq), s3 = matrices(scales);
    const std::optional<Array> b3 =
        biases.has_value() ? std::optional<Array>(matrices(*biases)) : std::nullopt;
    const Array lhs_flat = reshape(broadcast_to(lhs, batch), {-1});
    const Array rhs_flat = reshape(broadcast_to(rhs, batch), {-1});
    return StackedProducts(batch, count, [&](int64_t i) {
      const Array l = take(lhs_flat, i, 0), r = take(rhs_flat, i, 0);
      return product_of(take(x3, l, 0), take(w3, r, 0), take(s3, r, 0),
                        b3.has_value() ? std::optional<Array>(take(*b3, r, 0)) : std::nullopt);
    });
  }
  // One quantized product per picked pair: x's matrices against the picked rows of words.
  const Array product = product_of(
      detail::PickMatrices(x, lhs, batch), detail::PickMatrices(wq, rhs, batch),
      detail::PickMatrices(scales, rhs, batch),
      biases.has_value() ? std::optional<Array>(detail::PickMatrices(*biases, rhs, batch))
                         : std::nullopt);
  Shape out_shape = batch;
  out_shape.insert(out_shape.end(), product.shape().end() - 2, product.shape().end());
  return reshape(product, out_shape);
}

Array gather_qmm(const Array& x, const Array& wq, const Array& scales, const Array& biases,
                 const std::optional<Array>& lhs_indices, const std::optional<Array>& rhs_indices,
                 bool transpose, int group_size, int bits) {
  return gather_qmm(x, wq, scales, std::optional<Array>(biases), lhs_indices, rhs_indices,
                    transpose, group_size, bits, "affine");
}

// E4M3 by arithmetic rather than a search of the 256 codes, so it stays one pass over
// memory: the magnitude (saturated at 448; NaN counts as 448, as MLX) is rounded half to
// even at its binade's quantum, 2^(e - 3) for e >= -6 and 2^-9 below (subnormals), which is
// exact in float32; then its exponent and top three mantissa bits are the code.
Array to_fp8(const Array& x) {
  if (!core::IsFloating(x.dtype())) {
    detail::ThrowOpError(
        "to_fp8", absl::StrCat("needs a floating input, got ", core::DTypeName(x.dtype()), "."));
  }
  const Array xf = astype(x, float32);
  const Array sign = right_shift(view(xf, uint32), 31);  // -0.0 keeps its sign
  const Array magnitude = abs(xf);
  const Array a = where(isnan(magnitude), 448.0f, minimum(magnitude, 448.0f));
  const Array exponent =
      maximum(astype(right_shift(view(a, uint32), 23), int32) - 127, -6);  // a's binade
  const Array quantum = view(astype(left_shift(exponent + (127 - 3), 23), uint32), float32);
  const Array r = round(a / quantum) * quantum;
  const Array r_bits = view(r, uint32);
  const Array normal =
      left_shift(right_shift(r_bits, 23) - (127 - 7), 3) | (right_shift(r_bits, 20) & 7);
  const Array subnormal = astype(r * 512.0f, uint32);
  const Array code = where(r < 0.015625f, subnormal, normal) | left_shift(sign, 7);
  return astype(code, uint8);
}

Array from_fp8(const Array& x, Dtype dtype) {
  if (x.dtype() != uint8) {
    detail::ThrowOpError(
        "from_fp8", absl::StrCat("needs uint8 E4M3 codes, got ", core::DTypeName(x.dtype()), "."));
  }
  if (!core::IsFloating(dtype)) {
    detail::ThrowOpError("from_fp8",
                         absl::StrCat("needs a floating dtype, got ", core::DTypeName(dtype), "."));
  }
  return astype(take(CodeTable(8, false, x.device()), astype(x, int32), 0), dtype);
}

}  // namespace ferry
