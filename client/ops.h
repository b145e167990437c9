#ifndef FERRY_CLIENT_OPS_H_
#define FERRY_CLIENT_OPS_H_

// The operations on arrays, after MLX's. Each builds a lazy array at once, with its dtype
// and shape worked out by core's inference: a bad call throws ferry::Error
// (INVALID_ARGUMENT, "[op] ...") at the line that made it, not at eval. Semantics follow
// NumPy/MLX: broadcasting, type promotion, negative axes counting from the end.

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/device.h"
#include "client/dtype.h"

namespace ferry {

// ---- Operands ----------------------------------------------------------------------------

// An array or a C++ number (bool, integer, floating or std::complex) used as an operand. A
// number becomes a scalar `constant` whose dtype follows MLX's weak-scalar rule against the
// array it meets: a float number takes a floating or complex64 array's dtype and makes an
// integer or bool array float32; an integer number takes the array's dtype (int32 with a
// bool array); a bool stays bool; a complex number makes complex64.
class Operand {
 public:
  enum class Kind { kArray, kBool, kInt, kFloat, kComplex };

  Operand(const Array& array) : kind_(Kind::kArray), array_(array) {}  // NOLINT
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  Operand(T value) {  // NOLINT: numbers convert implicitly, as in MLX
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::kBool;
      int_ = value ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::kInt;
      int_ = static_cast<int64_t>(value);
    } else {
      kind_ = Kind::kFloat;
      float_ = static_cast<double>(value);
    }
  }

  template <typename T>
  Operand(std::complex<T> value)  // NOLINT: as MLX's Python complex scalars
      : kind_(Kind::kComplex),
        float_(static_cast<double>(value.real())),
        imag_(static_cast<double>(value.imag())) {}

  Kind kind() const { return kind_; }
  const std::optional<Array>& array() const { return array_; }
  int64_t int_value() const { return int_; }
  double float_value() const { return float_; }  // the real part of a complex number
  double imag_value() const { return imag_; }

 private:
  Kind kind_;
  std::optional<Array> array_;
  int64_t int_ = 0;
  double float_ = 0;
  double imag_ = 0;
};

// ---- Creation (creation.cc) ----------------------------------------------------------------

// An array holding a copy of `data` (row-major, prod(shape) elements of T) on `device`. On a
// daemon a small one travels with the evals that use it (inline up to 64 KiB, else one
// pipeline step; eval() of the array itself uploads it), and a large one (past the daemon's
// chunk_bytes, 1 MiB by default) is uploaded here, straight from `data`, and kept resident
// with no copy on this side: `data` may be reused once this returns, and the call throws
// if the daemon cannot take it (UNAVAILABLE, RESOURCE_EXHAUSTED).
Array from_host_bytes(const void* data, size_t nbytes, Dtype dtype, const Shape& shape,
                      Device device = default_device());
template <typename T>
Array from_host(const T* data, const Shape& shape, Device device = default_device());
template <typename T>
Array from_host(const std::vector<T>& data, const Shape& shape, Device device = default_device());
Array from_host(const std::vector<bool>& data, const Shape& shape,
                Device device = default_device());

Array full(const Shape& shape, double value, Dtype dtype = float32,
           Device device = default_device());
Array zeros(const Shape& shape, Dtype dtype = float32, Device device = default_device());
Array ones(const Shape& shape, Dtype dtype = float32, Device device = default_device());
// [start, stop) in steps of `step`: ceil((stop - start) / step) elements.
Array arange(double start, double stop, double step = 1.0, Dtype dtype = float32,
             Device device = default_device());
Array arange(double start, double stop, Dtype dtype, Device device = default_device());
Array arange(double stop, Dtype dtype = float32, Device device = default_device());

Array astype(const Array& a, Dtype dtype);
// The same bytes read as `dtype`, as NumPy's and MLX's view: a dtype of another size scales
// the last axis (float32 (4, 6) as uint8 is (4, 24)); no gradient flows through.
Array view(const Array& a, Dtype dtype);

// ---- Unary (unary.cc) -----------------------------------------------------------------------
// negative, abs and relu keep the dtype (not bool); the others compute in float32 unless
// the input is already floating.

Array negative(const Array& a);
Array abs(const Array& a);
Array exp(const Array& a);
Array log(const Array& a);
Array sqrt(const Array& a);
Array rsqrt(const Array& a);
Array sin(const Array& a);
Array cos(const Array& a);
Array tanh(const Array& a);
Array sigmoid(const Array& a);
Array relu(const Array& a);
Array gelu(const Array& a);  // the exact (erf) form
Array erf(const Array& a);

// ---- Binary (binary.cc) ---------------------------------------------------------------------
// Broadcasting; the result takes the promoted dtype, except divide (floating), comparisons
// and logical ops (bool). With two numbers the result lives on default_device().

Array add(const Operand& a, const Operand& b);
Array subtract(const Operand& a, const Operand& b);
Array multiply(const Operand& a, const Operand& b);
Array divide(const Operand& a, const Operand& b);
Array power(const Operand& a, const Operand& b);
Array maximum(const Operand& a, const Operand& b);
Array minimum(const Operand& a, const Operand& b);
Array equal(const Operand& a, const Operand& b);
Array less(const Operand& a, const Operand& b);
Array greater(const Operand& a, const Operand& b);
Array logical_and(const Operand& a, const Operand& b);
Array logical_or(const Operand& a, const Operand& b);

// x where `condition` is nonzero, else y; all three broadcast together.
Array where(const Array& condition, const Operand& x, const Operand& y);

Array operator-(const Array& a);
Array operator+(const Operand& a, const Operand& b);
Array operator-(const Operand& a, const Operand& b);
Array operator*(const Operand& a, const Operand& b);
Array operator/(const Operand& a, const Operand& b);
Array operator<(const Operand& a, const Operand& b);
Array operator>(const Operand& a, const Operand& b);
Array operator==(const Operand& a, const Operand& b);
Array operator&&(const Operand& a, const Operand& b);
Array operator||(const Operand& a, const Operand& b);

// ---- Reductions (reduce.cc) -----------------------------------------------------------------
// Over all axes, one axis or a list of axes; keepdims leaves reduced axes as size 1.
// sum and prod of bool give int32; mean computes in float32 unless the input is floating.

Array sum(const Array& a, bool keepdims = false);
Array sum(const Array& a, int axis, bool keepdims = false);
Array sum(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array prod(const Array& a, bool keepdims = false);
Array prod(const Array& a, int axis, bool keepdims = false);
Array prod(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array mean(const Array& a, bool keepdims = false);
Array mean(const Array& a, int axis, bool keepdims = false);
Array mean(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array max(const Array& a, bool keepdims = false);
Array max(const Array& a, int axis, bool keepdims = false);
Array max(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array min(const Array& a, bool keepdims = false);
Array min(const Array& a, int axis, bool keepdims = false);
Array min(const Array& a, const std::vector<int>& axes, bool keepdims = false);

// Indices (uint32) of the first largest / smallest element along `axis`, or of the
// flattened array.
Array argmax(const Array& a, bool keepdims = false);
Array argmax(const Array& a, int axis, bool keepdims = false);
Array argmin(const Array& a, bool keepdims = false);
Array argmin(const Array& a, int axis, bool keepdims = false);

// exp(a) / sum(exp(a)) over the axes (all by default), computed stably.
Array softmax(const Array& a);
Array softmax(const Array& a, int axis);
Array softmax(const Array& a, const std::vector<int>& axes);
// log(sum(exp(a))) over the axes, computed stably.
Array logsumexp(const Array& a, bool keepdims = false);
Array logsumexp(const Array& a, int axis, bool keepdims = false);
Array logsumexp(const Array& a, const std::vector<int>& axes, bool keepdims = false);

// ---- Linear algebra (linalg.cc) -------------------------------------------------------------

// NumPy matmul: 1-D operands are promoted to matrices and squeezed back, batch dims
// broadcast. Floating or complex64 dtypes (complex64 as four real products).
Array matmul(const Array& a, const Array& b);

// ---- Layout (layout.cc) ---------------------------------------------------------------------

// Same elements, new shape; one dim may be -1 and is worked out from the others.
Array reshape(const Array& a, const Shape& shape);
// Permutes the axes; without `axes`, reverses them.
Array transpose(const Array& a);
Array transpose(const Array& a, const std::vector<int>& axes);
Array broadcast_to(const Array& a, const Shape& shape);
// a[start:stop:strides] per axis, with Python's rules: negative indices count from the end,
// out-of-range bounds are clamped, negative strides walk backwards.
Array slice(const Array& a, const Shape& start, const Shape& stop);
Array slice(const Array& a, const Shape& start, const Shape& stop, const Shape& strides);
// Joins arrays along `axis`; they must agree on every other dim.
Array concatenate(const std::vector<Array>& arrays, int axis = 0);

// ---- Elementwise, part A (unary.cc, binary.cc) ---------------------------------------------
// square floor ceil round sign keep the dtype (bool too); round is half to even, as NumPy.
// log1p expm1 log2 log10 compute in float32 unless the input is floating. isnan isinf
// logical_not give bool for any dtype. bitwise_invert takes integers or bool.

Array square(const Array& a);
Array reciprocal(const Array& a);  // 1 / a, floating
Array log1p(const Array& a);
Array expm1(const Array& a);
Array log2(const Array& a);
Array log10(const Array& a);
Array floor(const Array& a);
Array ceil(const Array& a);
// To `decimals` places (negative: tens, hundreds...); as MLX, round(a * 10^d) * 10^-d.
Array round(const Array& a, int decimals = 0);
Array sign(const Array& a);
Array isnan(const Array& a);
Array isinf(const Array& a);
Array logical_not(const Array& a);
Array bitwise_invert(const Array& a);
Array silu(const Array& a);      // a * sigmoid(a)
Array softplus(const Array& a);  // log(1 + exp(a)) = logaddexp(a, 0)

// Broadcasting. not_equal less_equal greater_equal give bool; arctan2 and logaddexp are
// floating; floor_divide and remainder take the promoted dtype (not bool) with NumPy's
// signs (the remainder has the divisor's sign; integer division by 0 gives 0); the bitwise
// ops take integers (and bool, except the shifts).
Array not_equal(const Operand& a, const Operand& b);
Array less_equal(const Operand& a, const Operand& b);
Array greater_equal(const Operand& a, const Operand& b);
Array arctan2(const Operand& a, const Operand& b);
Array logaddexp(const Operand& a, const Operand& b);
Array floor_divide(const Operand& a, const Operand& b);
Array remainder(const Operand& a, const Operand& b);
Array bitwise_and(const Operand& a, const Operand& b);
Array bitwise_or(const Operand& a, const Operand& b);
Array bitwise_xor(const Operand& a, const Operand& b);
Array left_shift(const Operand& a, const Operand& b);
Array right_shift(const Operand& a, const Operand& b);
// minimum(maximum(a, a_min), a_max); either bound may be left out, not both.
Array clip(const Array& a, const std::optional<Operand>& a_min,
           const std::optional<Operand>& a_max);

Array operator!=(const Operand& a, const Operand& b);
Array operator<=(const Operand& a, const Operand& b);
Array operator>=(const Operand& a, const Operand& b);
Array operator%(const Operand& a, const Operand& b);
Array operator&(const Operand& a, const Operand& b);
Array operator|(const Operand& a, const Operand& b);
Array operator^(const Operand& a, const Operand& b);
Array operator<<(const Operand& a, const Operand& b);
Array operator>>(const Operand& a, const Operand& b);
Array operator~(const Array& a);

// ---- Reductions and scans, part A (reduce.cc, scan.cc) --------------------------------------
// all / any: whether every / some element is nonzero (NaN counts), as bool; over an empty
// axis, true / false. var / std: the variance and standard deviation with `ddof` delta
// degrees of freedom (divide by n - ddof), computed as MLX does,
// mean(square(a - mean(a))) * n / (n - ddof); floating (float32 for integer input).

Array all(const Array& a, bool keepdims = false);
Array all(const Array& a, int axis, bool keepdims = false);
Array all(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array any(const Array& a, bool keepdims = false);
Array any(const Array& a, int axis, bool keepdims = false);
Array any(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array var(const Array& a, bool keepdims = false, int ddof = 0);
Array var(const Array& a, int axis, bool keepdims = false, int ddof = 0);
Array var(const Array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0);
Array std(const Array& a, bool keepdims = false, int ddof = 0);
Array std(const Array& a, int axis, bool keepdims = false, int ddof = 0);
Array std(const Array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0);

// Running sum / product / max / min / log-sum-exp along `axis` (without one: of the
// flattened array), as MLX: `reverse` runs from the end, an exclusive scan (inclusive =
// false) leaves element i out of result i and starts from the identity (-inf for
// logcumsumexp). cumsum and cumprod of bool give int32; logcumsumexp gives a floating dtype
// and never overflows where exp would.
Array cumsum(const Array& a, bool reverse = false, bool inclusive = true);
Array cumsum(const Array& a, int axis, bool reverse = false, bool inclusive = true);
Array cumprod(const Array& a, bool reverse = false, bool inclusive = true);
Array cumprod(const Array& a, int axis, bool reverse = false, bool inclusive = true);
Array cummax(const Array& a, bool reverse = false, bool inclusive = true);
Array cummax(const Array& a, int axis, bool reverse = false, bool inclusive = true);
Array cummin(const Array& a, bool reverse = false, bool inclusive = true);
Array cummin(const Array& a, int axis, bool reverse = false, bool inclusive = true);
Array logcumsumexp(const Array& a, bool reverse = false, bool inclusive = true);
Array logcumsumexp(const Array& a, int axis, bool reverse = false, bool inclusive = true);

// ---- Layout, part A (layout.cc) ---------------------------------------------------------------
// Compositions of reshape, transpose, broadcast_to, slice and concatenate, as MLX composes
// them. Negative axes count from the end.

// Without axes, removes every dim of size 1; an axis given must have size 1.
Array squeeze(const Array& a);
Array squeeze(const Array& a, int axis);
Array squeeze(const Array& a, const std::vector<int>& axes);
// Inserts dims of size 1 so that they sit at `axes` of the result.
Array expand_dims(const Array& a, int axis);
Array expand_dims(const Array& a, const std::vector<int>& axes);
// Merges the axes start_axis..end_axis (inclusive) into one; a scalar becomes shape (1,).
Array flatten(const Array& a, int start_axis = 0, int end_axis = -1);
Array swapaxes(const Array& a, int axis1, int axis2);
// Moves axis `source` to position `destination`, the others keeping their order.
Array moveaxis(const Array& a, int source, int destination);
// Joins arrays of one shape along a new axis.
Array stack(const std::vector<Array>& arrays, int axis = 0);
// Into `num_splits` equal parts along `axis` (it must divide the dim), or at `indices`
// (Python slice rules: a[:i0], a[i0:i1], ..., a[ik:]). As in MLX, split(a, {2}) is the
// num_splits overload; write split(a, Shape{2}) for indices.
std::vector<Array> split(const Array& a, int num_splits, int axis = 0);
std::vector<Array> split(const Array& a, const Shape& indices, int axis = 0);
// `value` (in a's dtype) before and after each axis: one (before, after) pair per axis, or
// one pair for all of them.
Array pad(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
          double value = 0);
Array pad(const Array& a, int64_t pad_width, double value = 0);
// The array repeated reps[i] times along axis i (NumPy's tile: reps and shape are aligned
// on the right, the shorter padded with ones).
Array tile(const Array& a, const Shape& reps);
// Each element repeated `repeats` times along `axis` (without one: of the flattened array).
Array repeat(const Array& a, int64_t repeats, int axis);
Array repeat(const Array& a, int64_t repeats);
// Elements shifted along the axes, wrapping around (without axes: the flattened array).
Array roll(const Array& a, int64_t shift);
Array roll(const Array& a, int64_t shift, int axis);
Array roll(const Array& a, const Shape& shifts, const std::vector<int>& axes);
// ---- Indexing (indexing.cc) -------------------------------------------------------------
// As MLX: indices are integer arrays, negative indices count from the end, and an index
// out of range fails the eval ("[gather] index 5 is out of range ...").

// a[..., indices, ...] along `axis`: the axis is replaced by indices' shape. Without an
// axis, a is flattened first.
Array take(const Array& a, const Array& indices, int axis);
Array take(const Array& a, const Array& indices);
Array take(const Array& a, int64_t index, int axis);
// The elements of a's row-major data at offset + sum(index[d] * strides[d]) for each index
// of `shape`, as MLX's as_strided (a gather, not a view: writes to it do not alias a).
// Every position must lie inside a, or it throws INVALID_ARGUMENT.
Array as_strided(const Array& a, const Shape& shape, const Shape& strides, int64_t offset = 0);
// Picks along `axis` with indices of a's rank that broadcast with a on the other axes.
// Without an axis, both are flattened.
Array take_along_axis(const Array& a, const Array& indices, int axis);
Array take_along_axis(const Array& a, const Array& indices);
// a with values (broadcast to indices' shape, cast to a's dtype) written at the indices
// along `axis`; later duplicates win.
Array put_along_axis(const Array& a, const Array& indices, const Operand& values, int axis);
// MLX's gather: out[i..., s...] = a[start + s], start[axes[k]] = indices[k][i...]; the
// result has shape broadcast(indices) + slice_sizes.
Array gather(const Array& a, const std::vector<Array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes);
// MLX's scatters: a with updates (shape broadcast(indices) + a slice of a's rank) written
// or combined at the starts the indices give; for scatter, later duplicates win.
Array scatter(const Array& a, const std::vector<Array>& indices, const Array& updates,
              const std::vector<int>& axes);
Array scatter_add(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes);
Array scatter_prod(const Array& a, const std::vector<Array>& indices, const Array& updates,
                   const std::vector<int>& axes);
Array scatter_max(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes);
Array scatter_min(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes);
// src with src[start:stop:strides] (slice's rules) replaced by update, broadcast to the
// slice's shape and cast to src's dtype.
Array slice_update(const Array& src, const Operand& update, const Shape& start, const Shape& stop);
Array slice_update(const Array& src, const Operand& update, const Shape& start, const Shape& stop,
                   const Shape& strides);
// MLX's dynamic slice and slice_update: the starts along `axes` are an integer array of one
// element per axis, read on the device, so one graph serves every start (a decoder's
// position in its KV cache, a sliding window). slice returns the block of shape slice_size
// (one size per axis of a) starting there (at 0 on the other axes); slice_update writes
// update (src's rank, cast to its dtype) there. Negative starts count from the end; a block
// that does not fit fails the eval ("[gather] index 7 with a slice of 2 is out of range
// ..."). Gradients flow to a, src and update.
// (Templates only so that a braced list, `slice_update(src, x, {0}, {3})`, still means the
// static forms: a list deduces no Start.)
namespace detail {
Array DynamicSlice(const Array& a, const Array& start, const std::vector<int>& axes,
                   const Shape& slice_size);
Array DynamicSliceUpdate(const Array& src, const Array& update, const Array& start,
                         const std::vector<int>& axes);
}  // namespace detail
template <typename Start, typename = std::enable_if_t<std::is_same_v<Start, Array>>>
Array slice(const Array& a, const Start& start, const std::vector<int>& axes,
            const Shape& slice_size) {
  return detail::DynamicSlice(a, start, axes, slice_size);
}
template <typename Start, typename = std::enable_if_t<std::is_same_v<Start, Array>>>
Array slice_update(const Array& src, const Array& update, const Start& start,
                   const std::vector<int>& axes) {
  return detail::DynamicSliceUpdate(src, update, start, axes);
}

// ---- Sorting (sort.cc) ---------------------------------------------------------------------
// Ascending and stable, NaN last; without an axis the array is flattened. The arg forms
// give uint32 indices. partition puts the element of sorted rank kth (negative counts from
// the end) in place, smaller ones before it and larger after. topk gives the k largest
// along the axis (in ascending order here; MLX leaves the order unspecified).

Array sort(const Array& a);
Array sort(const Array& a, int axis);
Array argsort(const Array& a);
Array argsort(const Array& a, int axis);
Array partition(const Array& a, int kth);
Array partition(const Array& a, int kth, int axis);
Array argpartition(const Array& a, int kth);
Array argpartition(const Array& a, int kth, int axis);
Array topk(const Array& a, int k);
Array topk(const Array& a, int k, int axis);

// ---- Convolution (conv.cc) ----------------------------------------------------------------
// Channels last, as MLX: input (N, spatial..., C_in), weight (C_out, kernel..., C_in/groups),
// result (N, out..., C_out). Floating dtypes; a 16-bit input is computed in higher
// precision and rounded once.

Array conv1d(const Array& input, const Array& weight, int stride = 1, int padding = 0,
             int dilation = 1, int groups = 1);
Array conv2d(const Array& input, const Array& weight, const std::pair<int, int>& stride = {1, 1},
             const std::pair<int, int>& padding = {0, 0},
             const std::pair<int, int>& dilation = {1, 1}, int groups = 1);
Array conv3d(const Array& input, const Array& weight,
             const std::tuple<int, int, int>& stride = {1, 1, 1},
             const std::tuple<int, int, int>& padding = {0, 0, 0},
             const std::tuple<int, int, int>& dilation = {1, 1, 1}, int groups = 1);
// 1 to 3 spatial dims; each list holds one value per spatial dim, or one for all.
Array conv_general(const Array& input, const Array& weight, const std::vector<int>& stride,
                   const std::vector<int>& padding_lo, const std::vector<int>& padding_hi,
                   const std::vector<int>& kernel_dilation, int groups = 1);

// Transposed convolutions, as MLX (conv_transpose.cc): weight (C_out, kernel...,
// C_in/groups); input element i of an axis adds w[k] * x[i] to output i * stride +
// k * dilation - padding, so the result is (in - 1) * stride - 2 * padding +
// dilation * (kernel - 1) + 1 + output_padding long; 0 <= output_padding < stride.
// Composed as a convolution of the input spread `stride` apart with the kernel flipped.
Array conv_transpose1d(const Array& input, const Array& weight, int stride = 1, int padding = 0,
                       int dilation = 1, int output_padding = 0, int groups = 1);
Array conv_transpose2d(const Array& input, const Array& weight,
                       const std::pair<int, int>& stride = {1, 1},
                       const std::pair<int, int>& padding = {0, 0},
                       const std::pair<int, int>& dilation = {1, 1},
                       const std::pair<int, int>& output_padding = {0, 0}, int groups = 1);
Array conv_transpose3d(const Array& input, const Array& weight,
                       const std::tuple<int, int, int>& stride = {1, 1, 1},
                       const std::tuple<int, int, int>& padding = {0, 0, 0},
                       const std::tuple<int, int, int>& dilation = {1, 1, 1},
                       const std::tuple<int, int, int>& output_padding = {0, 0, 0}, int groups = 1);
// 1 to 3 spatial dims; each list holds one value per spatial dim, or one for all.
Array conv_transpose_general(const Array& input, const Array& weight,
                             const std::vector<int>& stride, const std::vector<int>& padding,
                             const std::vector<int>& dilation,
                             const std::vector<int>& output_padding, int groups = 1);

// ---- Pooling (pooling.cc) -----------------------------------------------------------------
// Channels last, as MLX's nn.MaxPool and nn.AvgPool: x (N, spatial..., C). Each output takes
// the max or the mean of a window of `kernel` taps, windows `stride` apart (by default the
// kernel: windows side by side), over x padded by `padding` on both sides of each spatial
// axis (at most half the kernel): max pads with -inf (the lowest value for integers), so
// padding never wins; avg pads with zeros and divides by the whole window (PyTorch's
// count_include_pad). avg computes float16 and bfloat16 in float32 and integers as float32.
Array max_pool1d(const Array& x, int kernel, std::optional<int> stride = std::nullopt,
                 int padding = 0);
Array max_pool2d(const Array& x, const std::pair<int, int>& kernel,
                 std::optional<std::pair<int, int>> stride = std::nullopt,
                 const std::pair<int, int>& padding = {0, 0});
Array avg_pool1d(const Array& x, int kernel, std::optional<int> stride = std::nullopt,
                 int padding = 0);
Array avg_pool2d(const Array& x, const std::pair<int, int>& kernel,
                 std::optional<std::pair<int, int>> stride = std::nullopt,
                 const std::pair<int, int>& padding = {0, 0});
// 1 to 3 spatial dims; each list holds one value per spatial dim, or one for all; an empty
// stride is the kernel.
Array max_pool_general(const Array& x, const std::vector<int>& kernel,
                       const std::vector<int>& stride, const std::vector<int>& padding);
Array avg_pool_general(const Array& x, const std::vector<int>& kernel,
                       const std::vector<int>& stride, const std::vector<int>& padding);

// ---- More linear algebra (linalg.cc, einsum.cc) --------------------------------------------

// alpha * (a @ b) + beta * c; with beta 0, c only shapes the result.
Array addmm(const Array& c, const Array& a, const Array& b, float alpha = 1.0f, float beta = 1.0f);
// NumPy's einsum without ellipses: "ij,jk->ik", "bij,bjk->bik", "ij->ji", "i,j->ij",
// "ii->i", "ii", "ij->i", implicit output ("ij,jk"). Repeated labels in one operand take
// the diagonal; other labels absent from the output are summed.
Array einsum(const std::string& subscripts, const std::vector<Array>& operands);

// ---- Composed ops, part C ------------------------------------------------------------------
// Built from the ops above (so every backend and autodiff have them at once), with NumPy's
// and MLX's semantics.

// Trigonometric and hyperbolic functions (trig.cc); integers and bool compute in float32.
// tan is sin / cos; the inverse functions go through arctan2, log1p and sqrt in forms that
// keep their precision near 0 and 1; sinh and cosh overflow where exp does (|a| > 88.7 in
// float32, NumPy at 89.4).
Array tan(const Array& a);
Array arcsin(const Array& a);
Array arccos(const Array& a);
Array arctan(const Array& a);
Array sinh(const Array& a);
Array cosh(const Array& a);
Array arcsinh(const Array& a);
Array arccosh(const Array& a);
Array arctanh(const Array& a);

// The inverse of erf (trig.cc), by Giles' approximation ("Approximating the erfinv
// function", GPU Computing Gems, 2010, as MLX): float32 within a few ulps; float64 refined
// by two Newton steps on erf up to |erfinv| ~ 3.8 (|a| < 1 - 1e-7), ~1e-7 relative beyond.
// +-inf at +-1, NaN past them.
Array erfinv(const Array& a);

// Comparisons with tolerance (compare.cc). isclose: |a - b| <= atol + rtol * |b|
// elementwise (infinities close only to themselves, NaN to nothing unless equal_nan), bool.
// allclose and array_equal reduce to one bool; array_equal is false for different shapes.
Array isclose(const Array& a, const Array& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);
Array allclose(const Array& a, const Array& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false);
Array array_equal(const Array& a, const Array& b, bool equal_nan = false);
// NaN to `nan`, infinities to `posinf`/`neginf` (default: the dtype's largest finite values);
// integers and bool unchanged.
Array nan_to_num(const Array& a, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                 std::optional<double> neginf = std::nullopt);

// Matrices from nothing and triangles (triangular.cc). k shifts the diagonal: k > 0 above
// the main one, k < 0 below. tril and triu act on the last two axes (at least two).
Array eye(int64_t n, int64_t m, int64_t k = 0, Dtype dtype = float32,
          Device device = default_device());
Array eye(int64_t n, Dtype dtype = float32, Device device = default_device());
Array identity(int64_t n, Dtype dtype = float32, Device device = default_device());
// Ones at and below diagonal k of an n x m matrix, zeros above.
Array tri(int64_t n, int64_t m, int64_t k = 0, Dtype dtype = float32,
          Device device = default_device());
Array tril(const Array& a, int64_t k = 0);  // zeros above diagonal k
Array triu(const Array& a, int64_t k = 0);  // zeros below diagonal k

// `num` evenly spaced values from start to stop, both included (creation.cc); floating.
Array linspace(double start, double stop, int64_t num = 50, Dtype dtype = float32,
               Device device = default_device());

// Diagonals and grids (diagonal.cc). diagonal: the elements a[..., i, i + offset] of axes
// axis1 and axis2, which are removed, the diagonal becoming the last axis (NumPy's order).
// diag: the k-th diagonal of a 2-D array, or the square matrix with a 1-D array on its
// diagonal k. meshgrid: coordinate arrays of 1-D (flattened) inputs, "xy" (Cartesian: the
// first two outputs' axes swapped) or "ij" (matrix) indexing; sparse keeps them unbroadcast.
// kron: the Kronecker product, shapes aligned on the right.
Array diagonal(const Array& a, int offset = 0, int axis1 = 0, int axis2 = 1);
Array diag(const Array& a, int k = 0);
std::vector<Array> meshgrid(const std::vector<Array>& arrays, bool sparse = false,
                            const std::string& indexing = "xy");
Array kron(const Array& a, const Array& b);

// `a` unchanged, as a constant to autodiff: no gradient flows back through it (autodiff.cc).
Array stop_gradient(const Array& a);

// The inputs unchanged (views, no copies), each computed only after every one of
// `dependencies` is: an order for the graph, as MLX's depends (checkpoint recomputes its
// function only once the cotangents exist). The dependencies are computed, not kept: eval
// them too to read them. Gradients flow to the inputs, none to the dependencies.
std::vector<Array> depends(const std::vector<Array>& inputs,
                           const std::vector<Array>& dependencies);

// Products over chosen axes (linalg.cc), floating as matmul. tensordot sums a's axes_a
// against b's axes_b (or a's last `axes` against b's first), the result keeps a's other
// axes then b's; inner sums over both last axes; outer multiplies the flattened operands.
Array tensordot(const Array& a, const Array& b, int axes = 2);
Array tensordot(const Array& a, const Array& b, const std::vector<int>& axes_a,
                const std::vector<int>& axes_b);
Array inner(const Array& a, const Array& b);
Array outer(const Array& a, const Array& b);

namespace linalg {

// Norms as NumPy's and MLX's linalg.norm, in float32 unless a is floating (linalg.cc).
// Without ord: the 2-norm of the flattened axes (Frobenius for matrices). With one axis (or
// a 1-D a), ord is a vector norm: inf max|a|, -inf min|a|, 0 the count of nonzeros, p
// (sum |a|^p)^(1/p). With two axes (or a 2-D a): 1 / -1 the max / min column sum of |a|,
// inf / -inf the max / min row sum, "fro" the Frobenius norm, 2 / -2 the largest / smallest
// singular value and "nuc" their sum (through svd).
Array norm(const Array& a, const std::optional<std::vector<int>>& axes = std::nullopt,
           bool keepdims = false);
Array norm(const Array& a, double ord, const std::optional<std::vector<int>>& axes = std::nullopt,
           bool keepdims = false);
Array norm(const Array& a, const std::string& ord,
           const std::optional<std::vector<int>>& axes = std::nullopt, bool keepdims = false);

// Decompositions and solves of the matrices on the last two axes (decompositions.cc, solve.cc),
// in a's floating dtype (float32 for integers; 16-bit compute in float32) as NumPy's and
// MLX's linalg. A matrix that cannot be factored (not positive definite, singular) fails its
// eval with INVALID_ARGUMENT naming it.

// L with a = L L^T (or U with a = U^T U); reads only that triangle of a.
Array cholesky(const Array& a, bool upper = false);
// Q (..., m, k) with orthonormal columns and upper triangular R (..., k, n), k = min(m, n).
std::pair<Array, Array> qr(const Array& a);
// {U (..., m, m), S (..., k) descending, Vt (..., n, n)} with a = U[:, :k] diag(S) Vt[:k];
// {S} without compute_uv.
std::vector<Array> svd(const Array& a, bool compute_uv = true);
// Eigenvalues (..., n) ascending and eigenvectors (columns of (..., n, n)) of symmetric a,
// read from its lower ("L") or upper ("U") triangle.
std::pair<Array, Array> eigh(const Array& a, const std::string& uplo = "L");
Array eigvalsh(const Array& a, const std::string& uplo = "L");
// Eigenvalues (..., n) and eigenvectors (columns of (..., n, n), unit norm) of a general
// square a, complex64, in LAPACK's order (MLX's, NumPy's): conjugate pairs side by side.
std::pair<Array, Array> eig(const Array& a);
Array eigvals(const Array& a);

// LU with partial pivoting, as MLX's: {P, L (..., m, k), U (..., k, n)} with row j of a equal
// to row P[j] of L U (P uint32); lu_factor gives LAPACK's (LU, pivots) (uint32, 0-based). A
// singular a is factored too.
std::vector<Array> lu(const Array& a);
std::pair<Array, Array> lu_factor(const Array& a);
// The determinant, and (sign, log |det|) for when it would overflow (NumPy's, through lu).
Array det(const Array& a);
std::pair<Array, Array> slogdet(const Array& a);

// x with a x = b: a (..., n, n), b (..., n, k) or a vector (n,), batches broadcast.
Array solve(const Array& a, const Array& b);
// The same with a lower (upper) triangular; the other triangle is not read.
Array solve_triangular(const Array& a, const Array& b, bool upper = false);
Array inv(const Array& a);
Array tri_inv(const Array& a, bool upper = false);
// a x b along `axis` (length 2 or 3 in each; a 2-vector's third component is 0), batch
// axes broadcast; length 3 there in the result.
Array cross(const Array& a, const Array& b, int axis = -1);
// a^-1 from a's Cholesky factor (cholesky(a, upper)).
Array cholesky_inv(const Array& factor, bool upper = false);
// The Moore-Penrose pseudo-inverse (..., n, m), through svd; singular values below
// max(m, n) * eps * max(S) count as zero (NumPy's default).
Array pinv(const Array& a);

}  // namespace linalg

// ---- Composed ops, part D -------------------------------------------------------------------
// The rest of MLX's ops.h that composes from the ops above (MLX's signatures and dtypes).

// Arrays shaped like `a` (creation.cc), in a's dtype unless one is given, on a's device.
Array zeros_like(const Array& a, std::optional<Dtype> dtype = std::nullopt);
Array ones_like(const Array& a, std::optional<Dtype> dtype = std::nullopt);
Array full_like(const Array& a, double value, std::optional<Dtype> dtype = std::nullopt);
// The window functions of NumPy and MLX (creation.cc), float32 of length M (M <= 0: empty;
// M == 1: [1]): Hann 0.5 - 0.5 cos(2 pi n / (M - 1)), Hamming 0.54 - 0.46 cos(...),
// Blackman 0.42 - 0.5 cos(...) + 0.08 cos(2 ...), Bartlett the triangle.
Array hanning(int M, Device device = default_device());
Array hamming(int M, Device device = default_device());
Array blackman(int M, Device device = default_device());
Array bartlett(int M, Device device = default_device());

// Elementwise (unary.cc). isfinite, isposinf, isneginf give bool (integers: finite);
// trunc rounds toward zero, keeping the dtype; degrees and radians convert angles
// (integers compute in float32); positive is a itself.
Array isfinite(const Array& a);
Array isposinf(const Array& a);
Array isneginf(const Array& a);
Array trunc(const Array& a);
Array degrees(const Array& a);
Array radians(const Array& a);
Array positive(const Array& a);

// Layout (layout.cc). atleast_Nd prepends (and for 3-D of a matrix, appends) axes of size 1
// as NumPy; broadcast_arrays broadcasts all to their common shape; flip reverses the axes
// given (all without any); unstack splits along `axis` and drops it; matrix_transpose swaps
// the last two axes.
Array atleast_1d(const Array& a);
Array atleast_2d(const Array& a);
Array atleast_3d(const Array& a);
std::vector<Array> atleast_1d(const std::vector<Array>& arrays);
std::vector<Array> atleast_2d(const std::vector<Array>& arrays);
std::vector<Array> atleast_3d(const std::vector<Array>& arrays);
std::vector<Array> broadcast_arrays(const std::vector<Array>& arrays);
Array flip(const Array& a);
Array flip(const Array& a, int axis);
Array flip(const Array& a, const std::vector<int>& axes);
std::vector<Array> unstack(const Array& a, int axis = 0);
Array matrix_transpose(const Array& a);

// Reductions (reduce.cc). count_nonzero: int32 counts; median: the middle element of the
// sorted axes (the mean of the two middle ones for an even count), floating (integers in
// float32), NaN where the axes hold one; number_of_elements: the product of the sizes of
// `axes` (of the other axes when inverted) as a scalar of `dtype`.
Array count_nonzero(const Array& a, bool keepdims = false);
Array count_nonzero(const Array& a, int axis, bool keepdims = false);
Array count_nonzero(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array median(const Array& a, bool keepdims = false);
Array median(const Array& a, int axis, bool keepdims = false);
Array median(const Array& a, const std::vector<int>& axes, bool keepdims = false);
Array number_of_elements(const Array& a, const std::vector<int>& axes, bool inverted,
                         Dtype dtype = int32);
// The sum of diagonal `offset` of axes axis1 and axis2 (diagonal.cc), in sum's dtype or
// the one given.
Array trace(const Array& a, int offset = 0, int axis1 = 0, int axis2 = 1,
            std::optional<Dtype> dtype = std::nullopt);

// Indexing (indexing.cc). scatter_add_axis adds values (broadcast to indices' shape) at the
// indices along `axis`, duplicates accumulating; masked_scatter writes src's elements, in
// row-major order, where mask (broadcast to a's shape) is true (NumPy's place), src
// holding at least as many; slice_update_add/prod/max/min combine update with the slice
// instead of replacing it.
Array scatter_add_axis(const Array& a, const Array& indices, const Operand& values, int axis);
Array masked_scatter(const Array& a, const Array& mask, const Array& src);
Array slice_update_add(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides = {});
Array slice_update_prod(const Array& src, const Operand& update, const Shape& start,
                        const Shape& stop, const Shape& strides = {});
Array slice_update_max(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides = {});
Array slice_update_min(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides = {});

// Where each value would go in the 1-D ascending `sorted_sequence` (sort.cc): the count of
// elements below it ("left") or at or below it ("right"), uint32, shaped as values.
// Compares every pair, so it suits sequences of thousands rather than millions.
Array searchsorted(const Array& sorted_sequence, const Array& values,
                   const std::string& side = "left");

// Products (linalg.cc). hadamard_transform: the last axis (a power of two long) times the
// Sylvester-Hadamard matrix, scaled by `scale` (1 / sqrt(n) by default), floating
// (integers in float32). gather_mm: matmul of a's and b's matrices picked by lhs_indices
// and rhs_indices over their batch axes (flattened; all of them without indices), the
// index arrays broadcast with each other to the result's batch shape, as MLX. Its own op
// (MLX's GatherMM): the backends multiply the picked matrices where they lie, pairs in a row
// on one matrix of b (indices sorted by expert) as one product; an index out of range fails
// at eval with INVALID_ARGUMENT, a negative one counts from the end (as take).
Array hadamard_transform(const Array& a, std::optional<float> scale = std::nullopt);
Array gather_mm(const Array& a, const Array& b,
                const std::optional<Array>& lhs_indices = std::nullopt,
                const std::optional<Array>& rhs_indices = std::nullopt);
// a (M, K) @ b (K, N) over each segment [start, end) of the inner axis: segments (..., 2)
// of integers give a result (..., M, N), as MLX.
Array segmented_mm(const Array& a, const Array& b, const Array& segments);
// a @ b with blocks of block_size x block_size masked, as MLX: mask_lhs (..., ceil(M / bs),
// ceil(K / bs)), mask_rhs (..., ceil(K / bs), ceil(N / bs)), mask_out (..., ceil(M / bs),
// ceil(N / bs)); a bool mask zeroes its blocks, another dtype scales them. Any block_size
// (MLX takes 32 and 64).
Array block_masked_mm(const Array& a, const Array& b, int block_size = 64,
                      const std::optional<Array>& mask_out = std::nullopt,
                      const std::optional<Array>& mask_lhs = std::nullopt,
                      const std::optional<Array>& mask_rhs = std::nullopt);

// ---- Quantization (quantized.cc) --------------------------------------------------------------
// MLX's affine quantization. Every `group_size` (32, 64 or 128) consecutive elements of a
// row of w (floating, rank >= 2) share a scale s and a bias b (the group's min and its
// range / (2^bits - 1) for 1 bit; past that the edge of larger magnitude, with the scale
// adjusted so that edge is exact); each element becomes q = round((w - b) / s), clipped to
// [0, 2^bits - 1], in `bits` (1 to 6, or 8) bits, packed from the low bits of uint32 words up
// as one bit stream (3, 5 and 6-bit elements straddle words). quantize returns (wq, scales,
// biases): wq has K * bits / 32 words per row, scales and biases K / group_size values in
// w's dtype (16-bit floats are quantized in float32). Results match MLX's bit for bit.
std::tuple<Array, Array, Array> quantize(const Array& w, int group_size = 64, int bits = 4);
// s * q + b per element, in the scales' dtype.
Array dequantize(const Array& wq, const Array& scales, const Array& biases, int group_size = 64,
                 int bits = 4);
// x @ dequantize(w).T (transpose) or x @ dequantize(w), batch dims broadcast as matmul, in
// the promoted dtype of x and the scales (16-bit operands multiply in float32). A matrix w,
// or a batch of them (as gather_qmm), runs the backends' kernel, which reads the packed
// words (a vector x against a batch is dequantized and multiplied); gradients reach x,
// scales and biases.
Array quantized_matmul(const Array& x, const Array& wq, const Array& scales, const Array& biases,
                       bool transpose = true, int group_size = 64, int bits = 4);
// MLX's signatures with a mode: "affine" (biases needed; group_size and bits default to 64
// and 4) as above, or a floating-point mode of MLX's for checkpoints it quantized:
// "mxfp4", "mxfp8" (groups of 32) and "nvfp4" (groups of 16), whose elements are E2M1
// (4 bits) or E4M3 (8 bits) codes packed in uint32 words, with one uint8 scale per group:
// 2^(s - 127) (E8M0) for the mx modes, an E4M3 value for nvfp4; no biases. group_size and
// bits, when given, must be the mode's. Floating modes dequantize in float32, exactly, and
// round once to `dtype` (bfloat16 by default, as MLX); their product is composed
// (dequantize, then matmul in float32 for 16-bit x) and has x's dtype. quantize in a
// floating-point mode returns {wq, scales} (in "affine", {wq, scales, biases}), equal to
// MLX's; nvfp4's global scale is not taken.
std::vector<Array> quantize(const Array& w, std::optional<int> group_size, std::optional<int> bits,
                            const std::string& mode);
Array dequantize(const Array& wq, const Array& scales, const std::optional<Array>& biases,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                 std::optional<Dtype> dtype = std::nullopt);
Array quantized_matmul(const Array& x, const Array& wq, const Array& scales,
                       const std::optional<Array>& biases, bool transpose,
                       std::optional<int> group_size, std::optional<int> bits,
                       const std::string& mode);
// quantized_matmul of x's matrices picked by lhs_indices against the quantized matrices
// (wq, scales, biases alike) picked by rhs_indices, as gather_mm picks them (MLX's
// gather_qmm in affine mode: a mixture of experts' quantized layers). Its own op: the
// backends read each picked matrix's words in place (as gather_mm); an index out of range
// fails at eval with INVALID_ARGUMENT, a negative one counts from the end.
Array gather_qmm(const Array& x, const Array& wq, const Array& scales, const Array& biases,
                 const std::optional<Array>& lhs_indices = std::nullopt,
                 const std::optional<Array>& rhs_indices = std::nullopt, bool transpose = true,
                 int group_size = 64, int bits = 4);
// With a mode, as quantized_matmul's: MLX's gather_qmm(..., mode=...), e.g. the "mxfp4"
// experts of a GGUF gpt-oss checkpoint (load_gguf).
Array gather_qmm(const Array& x, const Array& wq, const Array& scales,
                 const std::optional<Array>& biases, const std::optional<Array>& lhs_indices,
                 const std::optional<Array>& rhs_indices, bool transpose,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode);

// MLX's FP8: to_fp8 gives each element's E4M3 code (OCP's "FN": bias 7, largest 448, no
// infinities) as uint8, rounded to nearest, ties to even, saturating at +-448 (NaN too, as
// MLX); from_fp8 reads uint8 codes back as `dtype` (0x7f and 0xff are NaN).
Array to_fp8(const Array& x);
Array from_fp8(const Array& x, Dtype dtype);

// ---- complex64 (complex.cc; the Fourier transforms are in fft.h) -----------------------------

// complex64 arrays come from host std::complex<float> data, complex numbers (x * 1if),
// astype, or these. Arithmetic (+ - * /), == and !=, abs (the magnitude, float32), square,
// exp, log, sqrt, sin, cos, isnan, isinf, sum, prod, mean, matmul and the layout and
// indexing ops take them; the others throw. The real and imaginary parts, as float32; of a
// real array, the array itself and zeros of its dtype (as MLX).
Array real(const Array& a);
Array imag(const Array& a);
// The complex conjugate; a real array is its own.
Array conjugate(const Array& a);
// real + i imag, broadcast, as complex64.
Array complex(const Array& real, const Array& imag);

// ---- Templates -------------------------------------------------------------------------------

template <typename T>
Array from_host(const T* data, const Shape& shape, Device device) {
  size_t count = 1;
  for (int64_t dim : shape) count *= static_cast<size_t>(dim < 0 ? 0 : dim);
  return from_host_bytes(data, count * sizeof(T), dtype_of<T>(), shape, std::move(device));
}

template <typename T>
Array from_host(const std::vector<T>& data, const Shape& shape, Device device) {
  return from_host_bytes(data.data(), data.size() * sizeof(T), dtype_of<T>(), shape,
                         std::move(device));
}

}  // namespace ferry

#endif  // FERRY_CLIENT_OPS_H_
