#ifndef FERRY_KERNELS_CUDA_LAUNCH_H_
#define FERRY_KERNELS_CUDA_LAUNCH_H_

// The launchers of the CUDA kernels, one family per .cu file (named as kernels/cpu/*.cc).
// Plain C++ (no absl), so nvcc and the host compiler both read it. Every launcher queues
// its work on `stream` and returns the launch's error (cudaSuccess when queued); the
// caller has checked types and shapes, as core/ops.h declares them.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/conv_geometry.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cuda {

inline constexpr int kMaxDims = 8;      // after merging dims contiguous for every operand
inline constexpr int kMaxOperands = 4;  // where: out, cond, x, y

// Row-major positions of `shape` mapped to element offsets of up to kMaxOperands operands:
// position p has offset sum_d index_d(p) * strides[k][d] in operand k (0 to broadcast,
// negative to walk backwards). rank 0 is one element at offset 0.
struct Indexer {
  int rank = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
};

enum class UnaryOp {
  kNeg,
  kAbs,
  kRelu,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kSin,
  kCos,
  kTanh,
  kSigmoid,
  kGelu,
  kErf,
  // floating only
  kLog1p,
  kExpm1,
  kLog2,
  kLog10,
  // every dtype, bool included, kept
  kSquare,
  kFloor,
  kCeil,
  kRound,
  kSign,
  // integers and bool
  kBitwiseInvert,
  // predicates: any input dtype, bool out
  kIsNan,
  kIsInf,
  kLogicalNot
};
// The dtypes a unary op accepts (kernels/cpu/unary.cc's domains): kNumeric all but bool,
// kFloating the floating ones, kAny all, kIntegerOrBool no floating one. Predicates: any.
enum class UnaryDomain { kNumeric, kFloating, kAny, kIntegerOrBool };
constexpr UnaryDomain UnaryDomainOf(UnaryOp op) {
  switch (op) {
    case UnaryOp::kNeg:
    case UnaryOp::kAbs:
    case UnaryOp::kRelu:
      return UnaryDomain::kNumeric;
    case UnaryOp::kSquare:
    case UnaryOp::kFloor:
    case UnaryOp::kCeil:
    case UnaryOp::kRound:
    case UnaryOp::kSign:
    case UnaryOp::kIsNan:
    case UnaryOp::kIsInf:
    case UnaryOp::kLogicalNot:
      return UnaryDomain::kAny;
    case UnaryOp::kBitwiseInvert:
      return UnaryDomain::kIntegerOrBool;
    default:
      return UnaryDomain::kFloating;
  }
}

// The unary ops complex64 takes (kernels/cpu/unary.cc's kComplex): abs gives float32.
constexpr bool UnaryTakesComplex(UnaryOp op) {
  switch (op) {
    case UnaryOp::kNeg:
    case UnaryOp::kAbs:
    case UnaryOp::kSquare:
    case UnaryOp::kExp:
    case UnaryOp::kLog:
    case UnaryOp::kSqrt:
    case UnaryOp::kSin:
    case UnaryOp::kCos:
    case UnaryOp::kIsNan:
    case UnaryOp::kIsInf:
      return true;
    default:
      return false;
  }
}

enum class BinaryOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMaximum,
  kMinimum,
  kEqual,
  kLess,
  kGreater,
  kLogicalAnd,
  kLogicalOr,
  kNotEqual,
  kLessEqual,
  kGreaterEqual,
  kArctan2,
  kLogAddExp,
  kFloorDivide,
  kRemainder,
  kBitwiseAnd,
  kBitwiseOr,
  kBitwiseXor,
  kLeftShift,
  kRightShift
};
// The binary ops complex64 takes (kernels/cpu/binary.cc's kComplex).
constexpr bool BinaryTakesComplex(BinaryOp op) {
  return op == BinaryOp::kAdd || op == BinaryOp::kSub || op == BinaryOp::kMul ||
         op == BinaryOp::kDiv || op == BinaryOp::kEqual || op == BinaryOp::kNotEqual;
}
enum class ReduceOp { kSum, kProd, kMean, kMax, kMin };  // complex64: sum, prod, mean
enum class ScanOp { kSum, kProd, kMax, kMin, kLogAddExp };
enum class ScatterOp { kAssign, kAdd, kProd, kMax, kMin };

// unary.cu: y[i] = op(x[i]) for n dense elements, both of `dtype` (the predicates read
// `dtype` and write bool; abs of complex64 writes float32). y may be x: each thread reads
// element i before writing it.
cudaError_t LaunchUnary(UnaryOp op, core::DType dtype, const void* x, void* y, int64_t n,
                        cudaStream_t stream);

// binary.cu: out = op(a, b) over ix (operands 0 out, 1 a, 2 b). a and b hold `compute`
// (complex64 for add, sub, mul, div, equal and not_equal only); out
// holds `compute` for arithmetic and bool for comparisons and logical ops. out may be a or b
// (same shape, in-place reuse): each thread reads its inputs before writing that element.
cudaError_t LaunchBinary(BinaryOp op, core::DType compute, const void* a, const void* b, void* out,
                         const Indexer& ix, int64_t n, cudaStream_t stream);

// where.cu: out = cond ? x : y over ix (operands 0 out, 1 cond, 2 x, 3 y); cond is bool, x,
// y and out hold `dtype`.
cudaError_t LaunchWhere(core::DType dtype, const void* cond, const void* x, const void* y,
                        void* out, const Indexer& ix, int64_t n, cudaStream_t stream);

// astype.cu: n dense elements converted from `from` to `to` with astype's rules.
cudaError_t LaunchCast(core::DType from, const void* src, core::DType to, void* dst, int64_t n,
                       cudaStream_t stream);

// layout.cu: dst[offset 0] = src[offset 1] over ix, elements of `element_size` bytes
// (1, 2, 4 or 8).
cudaError_t LaunchCopy(int element_size, const void* src, void* dst, const Indexer& ix, int64_t n,
                       cudaStream_t stream);

// generators.cu: n copies of one element of `element_size` bytes; start + i * step (in
// double, then astype's rules).
cudaError_t LaunchFill(int element_size, uint64_t element_bits, void* dst, int64_t n,
                       cudaStream_t stream);
cudaError_t LaunchArange(core::DType dtype, double start, double step, void* dst, int64_t n,
                         cudaStream_t stream);

// random.cu: core/philox.h's PhiloxUniform(i, key, a, b) or PhiloxNormal(...) rounded to
// `dtype` (floating). `key` is the device's uint32 (2,) key. Uniform samples that round to
// `b` or above become `below_b` when `cap` (low < high).
cudaError_t LaunchRandom(bool uniform, core::DType dtype, const uint32_t* key, double a, double b,
                         bool cap, double below_b, void* dst, int64_t n, cudaStream_t stream);

// reduce.cu: `outputs` groups; group g starts at offset(kept, g) of x (operand 0) and adds
// offset(reduced, j) for its `count` elements j. y is dense: y[g]. x and y hold `dtype`.
cudaError_t LaunchReduce(ReduceOp op, core::DType dtype, const void* x, void* y,
                         const Indexer& kept, const Indexer& reduced, int64_t outputs,
                         int64_t count, cudaStream_t stream);
// The index (along the reduced range) of the first max or min; NaN beats every number.
cudaError_t LaunchArgReduce(bool max, core::DType dtype, const void* x, uint32_t* y,
                            const Indexer& kept, const Indexer& reduced, int64_t outputs,
                            int64_t count, cudaStream_t stream);

// softmax.cu: groups as LaunchReduce. softmax writes y at x's offsets (same dense shape);
// logsumexp writes y[g]. `dtype` is floating.
cudaError_t LaunchSoftmax(bool logsumexp, core::DType dtype, const void* x, void* y,
                          const Indexer& kept, const Indexer& reduced, int64_t outputs,
                          int64_t count, cudaStream_t stream);

// scan.cu: y = the scan of x (dense, both of `dtype`) along the middle axis of
// (outer, n, inner); inclusive or exclusive, forwards or reversed. y may be x.
cudaError_t LaunchScan(ScanOp op, core::DType dtype, const void* x, void* y, int64_t outer,
                       int64_t n, int64_t inner, bool reverse, bool inclusive, cudaStream_t stream);

// random.cu: y[i] = word 0 of core/philox.h's block i under `key` (uint32 (2,) on the device).
cudaError_t LaunchRandomBits(const uint32_t* key, uint32_t* y, int64_t n, cudaStream_t stream);

// indexing.cu. Slice starts: for position p < count of the index shape, the index
// values[offset(ix, p)] (negative counts from `dim`) adds index * stride to starts[p]; an
// index with index + slice > dim instead lowers *bad to p (atomicMin).
cudaError_t LaunchSliceStarts(const int64_t* values, const Indexer& ix, int64_t count, int64_t dim,
                              int64_t slice, int64_t stride, int64_t* starts,
                              unsigned long long* bad, cudaStream_t stream);
// out[s * slice_n + j] = a[starts[s] + offset(slice, j)] for n = count * slice_n elements.
cudaError_t LaunchGather(int element_size, const void* a, void* out, const int64_t* starts,
                         const Indexer& slice, int64_t slice_n, int64_t n, cudaStream_t stream);
// out[starts[s] + offset(slice, j)] combined with updates[s * slice_n + j], slices s in
// order per position j (deterministic); `serial`: one thread, the CPU's loop order.
cudaError_t LaunchScatter(ScatterOp op, core::DType dtype, void* out, const void* updates,
                          const int64_t* starts, int64_t count, const Indexer& slice,
                          int64_t slice_n, bool serial, cudaStream_t stream);

// sort.cu: each row along the middle axis of (outer, n, inner) of x sorted stably, NaN
// last: out gets the values (`dtype`) or, with `indices`, their positions (uint32).
// `order` is scratch of outer * inner * padded uint32; padded: a power of two >= n.
cudaError_t LaunchSort(bool indices, core::DType dtype, const void* x, void* out, uint32_t* order,
                       int64_t outer, int64_t n, int64_t inner, int64_t padded,
                       cudaStream_t stream);

// conv.cu, over kernels/conv_geometry.h, all of floating `dtype`:
// rows [row0, row0 + rows) of x's lowered matrix into `lowered` (dense, a row of
// groups x LoweredDepth elements), taps in the padding zero;
cudaError_t LaunchConvolutionLowering(core::DType dtype, const void* x, void* lowered,
                                      const ConvGeometry& g, int64_t row0, int64_t rows,
                                      cudaStream_t stream);
// or the whole convolution of x with k into y directly, a thread per output element
// summing in double (for many small groups, where products per group cost more).
cudaError_t LaunchConvolution(core::DType dtype, const void* x, const void* k, void* y,
                              const ConvGeometry& g, cudaStream_t stream);

// quantized.cu: quantized_matmul (core/ops.h) with a matrix of `rows` x `columns` packed in
// MLX's affine quantization (kernels/quantized_packing.h). x, scales, biases and y hold
// `dtype` (floating); sums are in float (double for float64).
struct QuantizedMatrix {
  const uint32_t* words;  // rows x words_per_row
  const void* scales;     // rows x (columns / group_size)
  const void* biases;
  int64_t rows, columns, words_per_row;
  int group_size, bits;
};
// The matrix dequantized into w (rows x columns of `dtype`), for a product through cuBLASLt.
cudaError_t LaunchDequantize(core::DType dtype, const QuantizedMatrix& q, void* w,
                             cudaStream_t stream);
// y (m x rows) = x (m x columns) @ w^T, or (!transpose) y (m x columns) = x (m x rows) @ w,
// reading the packed words as it goes; for m up to kQuantizedVectorRows (a batch of vectors,
// as in decoding), where dequantizing the whole matrix would cost more than the product.
inline constexpr int64_t kQuantizedVectorRows = 8;
cudaError_t LaunchQuantizedVectors(core::DType dtype, const void* x, const QuantizedMatrix& q,
                                   bool transpose, int64_t m, void* y, cudaStream_t stream);

// linalg.cu: around cuSOLVER, on `count` dense row-major matrices `stride` elements apart, of
// `dtype` float32 or float64 (what the linear algebra computes in).
// Zeroes the elements below the diagonal of each rows x cols matrix (keep_upper), or above.
cudaError_t LaunchZeroTriangle(core::DType dtype, void* a, int64_t count, int64_t rows,
                               int64_t cols, int64_t stride, bool keep_upper, cudaStream_t stream);
// Writes the n x n identity into each matrix.
cudaError_t LaunchIdentity(core::DType dtype, void* a, int64_t count, int64_t n, int64_t stride,
                           cudaStream_t stream);
// info[b] = 1 + the first d with a_b[d, d] == 0, else 0, for n x n matrices n * n apart (as
// cuSOLVER's devInfo, so that one read-back serves both).
cudaError_t LaunchFindZeroDiagonal(core::DType dtype, const void* a, int64_t count, int64_t n,
                                   int* info, cudaStream_t stream);
// x_b (n x k, dense rows) = a_b^-1 x_b in place, a_b (n x n, rows lda apart) lower (or
// upper) triangular, its other triangle not read; a_b a_stride apart, x_b x_stride apart. A
// thread per column: for the diagonal blocks of linalg.cc's blocked solve.
cudaError_t LaunchTriangularBlockSolve(core::DType dtype, const void* a, int64_t a_stride,
                                       int64_t lda, void* x, int64_t x_stride, int64_t count,
                                       int64_t n, int64_t k, bool upper, cudaStream_t stream);
// x_b -= t_b for `count` blocks of `size` dense elements, x_b x_stride apart, t_b size apart.
cudaError_t LaunchSubtract(core::DType dtype, void* x, int64_t x_stride, const void* t,
                           int64_t count, int64_t size, cudaStream_t stream);
// info[b] = 1 when matrix b (rows x cols) has a NaN or an infinity in the part an op reads:
// all of it (triangle 0), its lower (-1) or upper (1) triangle; info must start zeroed.
cudaError_t LaunchFindNonFinite(core::DType dtype, const void* a, int64_t count, int64_t rows,
                                int64_t cols, int triangle, int* info, cudaStream_t stream);
// qr of `count` dense row-major rows x cols matrices x (both at most kSmallQrOrder), a block
// per matrix, as LAPACK's geqrf and orgqr compute it (the same reflectors, so the same signs):
// Q (rows x k, k = min(rows, cols)) at q_at and R (k x cols) at r_at of each packed result
// in y, `stride` elements apart (core::QrLayout).
inline constexpr int kSmallQrOrder = 32;
cudaError_t LaunchSmallQr(core::DType dtype, const void* x, int64_t count, int rows, int cols,
                          void* y, int64_t stride, int64_t q_at, int64_t r_at, cudaStream_t stream);
// pointers[b] = base + b * stride_bytes for b < count: the device array of matrices the
// batched cuSOLVER calls (potrfBatched) take.
cudaError_t LaunchMatrixPointers(void* base, int64_t stride_bytes, int64_t count, void** pointers,
                                 cudaStream_t stream);
// lu's pivots and permutation (core/linalg_layout.h) from getrf's 1-based ipiv (k per matrix,
// k apart; null when k is 0): into each packed matrix (stride apart) at pivots_at and perm_at.
// `order` is scratch for count * rows ints.
cudaError_t LaunchLuPermutation(core::DType dtype, const int* ipiv, int* order, void* packed,
                                int64_t count, int64_t rows, int64_t k, int64_t stride,
                                int64_t pivots_at, int64_t perm_at, cudaStream_t stream);

// complex.cu: y[i] = part(x[i]) for n dense complex64 elements: the real or imaginary part
// (y float32), or the conjugate (y complex64; y may be x).
enum class ComplexPart { kReal, kImag, kConjugate };
cudaError_t LaunchComplexPart(ComplexPart part, const void* x, void* y, int64_t n,
                              cudaStream_t stream);

// fft.cu: the fft op (core/ops.h) on x, dense, of shape (outer, in_dim, inner) with y dense
// of shape (outer, out_dim, inner): the n-point DFT of every line along the middle axis, as
// kernels/fft_plan.h's passes, one launch each. x is float32 when `real` and not `inverse`
// (rfft), else complex64; y is float32 when `real` and `inverse` (irfft), else complex64.
// `a` and `b` are scratch of FftScratchElements(p) complex64 elements each.
int64_t FftScratchElements(const FftProblem& p);
cudaError_t LaunchFft(const FftProblem& p, const void* x, void* y, void* a, void* b,
                      cudaStream_t stream);

// gated_delta.cu: the gated_delta op (core/ops.h) on dense float32 operands (mask: bool
// bytes, or nullptr for none), written packed into `out` as core/gated_delta_layout.h says.
struct GatedDeltaArgs {
  const float *q, *k, *v, *g, *beta, *state;
  const uint8_t* mask;
  int64_t b, t, hk, hv, dk, dv;
  bool vector_gate;
};
cudaError_t LaunchGatedDelta(const GatedDeltaArgs& args, float* out, cudaStream_t stream);

// gated_delta_vjp.cu: the gated_delta_vjp op (core/ops.h) on dense float32 operands, its
// cotangents written packed into `out` as core/gated_delta_layout.h says. `interval` is
// core::GatedDeltaCheckpointInterval(t); `scratch` holds scratch_per_block floats per
// (batch row, value head): (ceil(t / interval) + interval) * dv * dk + 3 * dv + dk.
struct GatedDeltaVjpArgs : GatedDeltaArgs {
  const float* cotangent;
  int64_t interval, scratch_per_block;
};
cudaError_t LaunchGatedDeltaVjp(const GatedDeltaVjpArgs& args, float* out, float* scratch,
                                cudaStream_t stream);

// fault.cu (tests only): a kernel that writes through a wild pointer.
cudaError_t LaunchFault(cudaStream_t stream);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_LAUNCH_H_
