#ifndef FERRY_CORE_OPS_H_
#define FERRY_CORE_OPS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/graph.h"

namespace ferry::core {

// The op vocabulary. Each op is declared once (core/ops/*.cc): its arity and its type
// inference, which also validates attributes. Client, daemon and every backend use this
// one declaration. Semantics follow NumPy/MLX.
//
// Attribute conventions (the client always sends them normalized):
//   axes: list of non-negative, distinct axes; an empty list reduces nothing.
//   keepdims: integer 0 or 1.   shape: list of dims.   dtype: a dtype attribute.
//
// Leaves (no inputs)
//   parameter     index:i dtype shape           the declared type, carried as attributes
//                                               so inference needs nothing but the node
//   constant      value:tensor                  value's type
//   full          value:f shape dtype           filled with value (for an integer dtype
//                                               the value must be finite and fit in it)
//   arange        start:f stop:f step:f dtype   (max(0, ceil((stop-start)/step)),) elements;
//                                               finite values, step != 0, dtype not bool
// Random (input: key, uint32 (2,); counter-based Philox 4x32-10, see core/philox.h)
//   random_uniform  low:f high:f shape dtype(floating)    finite, low <= high
//   random_normal   loc:f scale:f shape dtype(floating)   finite, scale >= 0
// Unary, same shape. neg abs relu keep the dtype (neg/abs/relu of bool are refused);
// exp log sqrt rsqrt sin cos tanh sigmoid gelu erf give FloatingResultType(dtype).
//   neg abs exp log sqrt rsqrt sin cos tanh sigmoid relu gelu erf
// Binary, broadcasting; the result dtype is PromoteTypes(a, b), except div (floating:
// FloatingResultType of the promoted type), comparisons and logical ops (bool).
//   add sub mul div pow maximum minimum equal less greater logical_and logical_or
// where(cond, x, y)   broadcast of all three; dtype PromoteTypes(x, y); cond is any dtype
// astype              dtype
// view                dtype: the same bytes read as dtype; another size scales the last
//                     axis (whose bytes must divide evenly); only bool views as bool
// Reductions (one input): axes keepdims
//   sum prod (bool -> int32, others keep)   mean (FloatingResultType)   max min (keep)
//   max and min refuse to reduce an axis of length 0 (there is no identity).
// argmax argmin       axis:i keepdims -> uint32; axis of length > 0
// matmul(a, b)        NumPy matmul: 1-D operands promoted and squeezed, batch dims
//                     broadcast; floating dtypes only; dtype PromoteTypes(a, b)
// reshape             shape (no -1: the client resolves it); same element count
// depends(x, d...)    x itself (a view, its type), computed only once d... are: they order
//                     the graph (checkpoint recomputes after the cotangents); any dtypes
// transpose           perm: a permutation of the axes
// broadcast_to        shape
// slice               start stop strides: one each per axis; a stride is nonzero, and
//                     start/stop are already clamped as NumPy does for that stride:
//                     stride > 0: 0 <= start <= dim and 0 <= stop <= dim;
//                     stride < 0: -1 <= start <= dim - 1 and -1 <= stop <= dim - 1
//                     (stop -1 means "past index 0"). Output dim on each axis:
//                     max(0, ceil((stop - start) / stride)).
// concatenate(x...)   axis:i; rank >= 1; dtype PromoteTypes over all inputs; equal ranks,
//                     equal dims except on axis
// softmax             axes; FloatingResultType
// logsumexp           axes keepdims; FloatingResultType
// -- Part B ------------------------------------------------------------------------------
// random_bits(key)    shape -> uint32; element i is word 0 of Philox block i
// gather(a, idx...)   axes (one distinct axis per index array) slice_sizes (one per axis
//                     of a, 0 <= size <= dim): out[i..., s...] = a[start + s] with
//                     start[axes[k]] = idx[k][i...] (negative counts from the end) and 0
//                     elsewhere; shape broadcast(idx...) + slice_sizes. Indices are integers;
//                     one out of range fails the kernel.
// scatter scatter_add scatter_prod scatter_max scatter_min (a, idx..., updates)
//                     axes; updates has a's dtype and shape broadcast(idx...) + slice
//                     shape (rank of a, dims <= a's); the result is a with each slice
//                     written (scatter: later wins) or combined at the gather starts.
// slice_update(src, update)  start stop strides as slice; update has src's dtype and the
//                     slice's shape; the result is src with the slice replaced.
// sort argsort        axis; rank >= 1; ascending, stable, NaN last; argsort -> uint32
// partition argpartition  axis kth (0 <= kth < dim): element kth is in sorted position,
//                     smaller ones before, larger after (the CPU reference sorts fully)
// convolution(in, w)  stride padding_lo padding_hi kernel_dilation (one per spatial dim)
//                     groups; channels last as MLX: in (N, spatial..., C_in), w (C_out,
//                     kernel..., C_in/groups), same floating dtype; out (N, out..., C_out)
// quantized_matmul(x, wq, scales, biases)  bits group_size transpose: wq a uint32 (R, W)
//                     matrix of MLX's affine quantization (element k of row r is bits
//                     [k*bits, (k+1)*bits) of the row's words, low bits first), dequantized
//                     to w (R, C = W*32/bits) with w = s*q + b per group of group_size
//                     (32, 64, 128) along a row; scales and biases (R, C/group_size), one
//                     floating dtype. out = x @ w^T (transpose; x (..., C) -> (..., R)) or
//                     x @ w (x (..., R) -> (..., C)), x floating, dtype promote(x, scales);
//                     16-bit operands compute in float32.
// Linear algebra on the last two axes (a batch of matrices; floating, 16-bit computed in
// float32). A matrix a kernel cannot factor fails the kernel with INVALID_ARGUMENT naming it.
// cholesky(a)         upper: a (..., n, n) symmetric positive definite (only the lower, or
//                     upper, triangle is read) -> L with a = L L^T (or U with a = U^T U),
//                     zeros in the other triangle
// solve(a, b)         a (..., n, n), b (..., n, k) with the same batch -> x with a x = b;
//                     dtype promote(a, b); a singular a fails
// solve_triangular(a, b)  upper: as solve with a lower (upper) triangular; the other
//                     triangle is not read
// qr(a)               a (..., m, n) -> (..., size): Q (m, k) then R (k, n), k = min(m, n),
//                     packed as core/linalg_layout.h says
// svd(a)              compute_uv: -> U (m, m), S (k) descending, Vt (n, n), packed; S only
//                     without compute_uv
// eigh(a)             upper compute_vectors: a (..., n, n) symmetric (one triangle read) ->
//                     eigenvalues (n) ascending then eigenvectors as columns (n, n), packed
// eig(a)              compute_vectors: a (..., n, n) -> complex64 eigenvalues (n) then
//                     eigenvectors as columns (n, n), packed as eigh's, LAPACK's geev order
//                     and normalization (unit norm, largest component real)
// lu(a)               a (..., m, n) -> LU (m, n) (L's unit diagonal implied), pivots (k),
//                     permutation (m), packed, in float64 for float64 and float32 otherwise
//                     (indices as exact values); a singular a is factored too
//
// ---- part A ----
// Unary: square floor ceil round sign keep the dtype (bool too; round is half to even);
// log1p expm1 log2 log10 give FloatingResultType(dtype); isnan isinf logical_not give
// bool for any dtype; bitwise_invert keeps an integer or bool dtype (floating refused).
// Binary, broadcasting: not_equal less_equal greater_equal -> bool; arctan2 logaddexp ->
// FloatingResultType(promoted); floor_divide remainder -> promoted, not bool (floor and
// NumPy's sign of the divisor; integer division by 0 gives 0); bitwise_and bitwise_or
// bitwise_xor -> promoted, integer or bool; left_shift right_shift -> promoted, integer
// (a count outside [0, bits) shifts everything out: 0, or -1 for a negative signed value
// shifted right).
// all any             axes keepdims -> bool, any dtype (empty axes give true / false)
// cumsum cumprod cummax cummin logcumsumexp   axis:i reverse:0/1 inclusive:0/1; rank >= 1;
//                     cumsum and cumprod of bool give int32, logcumsumexp gives
//                     FloatingResultType, others keep the dtype. Exclusive scans start from
//                     the identity (0, 1, lowest, highest, -inf).
//
// ---- complex64 ----
// Only these ops take or give complex64; every other refuses it: parameter constant astype
// view neg abs square exp log sqrt sin cos isnan isinf add sub mul div equal not_equal sum prod
// mean reshape depends transpose broadcast_to slice concatenate where gather scatter slice_update
// eig, and: abs of complex64 gives float32 (the magnitude); astype to a real dtype takes the
// real part (to bool: either part not zero), from one gives a zero imaginary part.
// real imag           complex64 -> float32        conjugate   complex64 -> complex64
// fft                 axis:i n:i inverse:0/1 real:0/1, the DFT along axis (forward
//                     exp(-2 pi i jk/n); the inverse scales by 1/n): real 0 complex64 ->
//                     complex64 with dim n; real 1 forward (rfft) float32 dim n ->
//                     complex64 dim n/2+1; real 1 inverse (irfft) complex64 dim n/2+1 ->
//                     float32 dim n (the imaginary parts of bins 0 and n/2 are not read)
//
// ---- collectives (client/distributed.h) ----
// Every rank of group `group` (a handle the client chose when it formed the group in each
// session, >= 1) runs the same collective node, and a pair of ranks a send and its recv;
// `size` is the group's rank count the client built for
// (the daemon refuses a node whose size differs from its group's). No bool input for the
// reductions; all_sum, all_gather, sum_scatter, all_to_all, send and recv take complex64.
// all_sum all_max all_min   group:i size:i   same type: the elementwise sum/max/min over ranks
// all_gather                group:i size:i   the ranks' inputs in rank order along axis 0
//                                             (dim 0 times size; a scalar gives (size,))
// sum_scatter               group:i size:i   rank r's slice r of the sum over ranks: dim 0
//                                             (divisible by size) divided by size
// all_to_all                group:i size:i   dim 0 (divisible by size) in size parts: part j
//                                             goes to rank j, part i of the result came
//                                             from rank i (same type)
// send(x)                   dst:i group:i size:i   x to rank dst (a ring neighbour of the
//                                             sending rank), which runs the matching recv;
//                                             gives x
// recv (no inputs)          src:i group:i size:i shape dtype   what rank src sends (its
//                                             send: the same dtype and element count)
//
// ---- recurrences ----
// gated_delta(q, k, v, g, beta, state[, mask])  the gated delta rule (Qwen3-Next's linear
//                     attention), as mlx-lm's gated_delta_ops: q, k (B, T, Hk, Dk), v (B, T,
//                     Hv, Dv) with Hv a multiple of Hk (value head h reads q/k head
//                     h / (Hv/Hk)), g (B, T, Hv) or (B, T, Hv, Dk), beta (B, T, Hv), state
//                     (B, Hv, Dv, Dk), each float32, float16 or bfloat16 and computed in
//                     float32; mask bool (B, T). Per step t: S = S * g[t];
//                     delta = (v[t] - S k[t]) * beta[t]; S = S + delta k[t]^T;
//                     y[t] = S q[t]; a masked-out step computes y[t] but keeps the old S.
//                     -> float32 (B, T*Hv*Dv + Hv*Dv*Dk): y then the final S per batch row,
//                     packed as core/gated_delta_layout.h says
// gated_delta_vjp(q, k, v, g, beta, state, cotangent[, mask])  gated_delta's backward:
//                     cotangent float32 of gated_delta's result shape -> float32
//                     (B, GradRowSize()): the cotangents of q, k (per value head), v, g, beta
//                     and state, packed as core/gated_delta_layout.h says. The states it
//                     needs are recomputed from checkpoints, never inverted.
//
// An op takes exactly the attributes listed for it: InferOp refuses a missing one, one of
// the wrong kind, and one it does not know.

struct OpDef {
  std::string name;
  int min_inputs = 0;
  int max_inputs = 0;  // -1: any number
  // The output type from the input types and attributes, or INVALID_ARGUMENT with a
  // message that starts with "[op] ". Call it through InferOp, which first checks the
  // arity, the attribute names and the input shapes, and afterwards the result's size.
  absl::StatusOr<TensorType> (*infer)(absl::Span<const TensorType> inputs,
                                      const Attrs& attrs) = nullptr;
  // The names of the attributes the op takes, sorted.
  std::vector<std::string> attrs;
};

// The declaration of `op`, or nullptr for an unknown op.
const OpDef* FindOp(std::string_view op);

// Whether `op` is a collective: the executor runs it with the session's group
// (kernels/collectives.h); backends have no kernel for it.
bool IsCollective(std::string_view op);

// Every op name, sorted.
std::vector<std::string> OpNames();

// Checks arity and infers the output type of `op` applied to `inputs`. Errors are
// INVALID_ARGUMENT and start with "[op] ".
absl::StatusOr<TensorType> InferOp(std::string_view op, absl::Span<const TensorType> inputs,
                                   const Attrs& attrs);

}  // namespace ferry::core

#endif  // FERRY_CORE_OPS_H_
