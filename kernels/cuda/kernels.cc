// Host side of every CUDA op family but matmul: attributes and shapes become indexers and
// launches (launch.h). Mixed input dtypes are first converted to the compute dtype, as the
// CPU backend does, so each kernel sees one dtype.

#include "kernels/cuda/kernels.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/gemm.h"

namespace ferry::kernels::cuda {

using cpu::BroadcastStrides;
using cpu::GetAttr;

Context::~Context() {
  for (void* p : scratch_) cudaFreeAsync(p, stream_);
}

absl::StatusOr<void*> Context::Scratch(const std::string& op, size_t bytes) {
  void* p = nullptr;
  const cudaError_t error = cudaMallocFromPoolAsync(&p, bytes == 0 ? 1 : bytes, pool_, stream_);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(
        absl::StrCat("[", op, "] cannot allocate ", bytes,
                     " bytes of GPU scratch memory: ", cudaGetErrorString(error)));
  }
  scratch_.push_back(p);
  return p;
}

absl::StatusOr<void*> Context::Workspace(const std::string& op, size_t bytes) {
  if (workspace_ != nullptr && workspace_bytes_ >= bytes) return workspace_;
  absl::StatusOr<void*> made = Scratch(op, bytes);
  if (!made.ok()) return made;
  workspace_ = *made;
  workspace_bytes_ = bytes;
  return workspace_;
}

absl::StatusOr<const void*> Context::ElementsAs(const std::string& op, const Tensor& tensor,
                                                core::DType dtype) {
  if (tensor.dtype() == dtype) return static_cast<const void*>(tensor.raw());
  absl::StatusOr<void*> copy = Scratch(op, tensor.size() * core::SizeOf(dtype));
  if (!copy.ok()) return copy.status();
  absl::Status cast =
      CheckCuda(op, "convert",
                LaunchCast(tensor.dtype(), tensor.raw(), dtype, *copy, tensor.size(), stream_));
  if (!cast.ok()) return cast;
  return static_cast<const void*>(*copy);
}

absl::Status CheckCuda(const std::string& op, const char* what, cudaError_t error) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("[", op, "] ", what, " failed on the GPU: ", cudaGetErrorString(error)));
}

absl::StatusOr<Indexer> MakeIndexer(const std::string& op, absl::Span<const int64_t> shape,
                                    const std::vector<std::vector<int64_t>>& strides) {
  Indexer ix;
  const size_t operands = strides.size();
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (ix.rank > 0) {
      bool mergeable = true;
      for (size_t k = 0; k < operands; ++k) {
        mergeable = mergeable && ix.strides[k][ix.rank - 1] == strides[k][d] * shape[d];
      }
      if (mergeable) {
        ix.shape[ix.rank - 1] *= shape[d];
        for (size_t k = 0; k < operands; ++k) ix.strides[k][ix.rank - 1] = strides[k][d];
        continue;
      }
    }
    if (ix.rank == kMaxDims) {
      return absl::UnimplementedError(
          absl::StrCat("[", op, "] the CUDA backend handles at most ", kMaxDims,
                       " non-mergeable dimensions, shape ",
                       core::ShapeToString(core::Shape(shape.begin(), shape.end()))));
    }
    ix.shape[ix.rank] = shape[d];
    for (size_t k = 0; k < operands; ++k) ix.strides[k][ix.rank] = strides[k][d];
    ++ix.rank;
  }
  return ix;
}

namespace {

// ---- unary (unary.cu) ----

template <UnaryOp kOp>
absl::Status Unary(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) {
  if constexpr (kOp == UnaryOp::kIsNan || kOp == UnaryOp::kIsInf ||
                kOp == UnaryOp::kLogicalNot) {  // each element in its own dtype, bool out
    if (out.dtype() != core::DType::kBool) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] must produce bool, not ", core::DTypeName(out.dtype())));
    }
    return CheckCuda(
        node.op, "launch",
        LaunchUnary(kOp, inputs[0].dtype(), inputs[0].raw(), out.raw(), out.size(), ctx.stream()));
  }
  if (inputs[0].dtype() == core::DType::kComplex64) {  // abs: its magnitude, float32
    if (!UnaryTakesComplex(kOp)) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] does not apply to complex64"));
    }
    return CheckCuda(node.op, "launch",
                     LaunchUnary(kOp, core::DType::kComplex64, inputs[0].raw(), out.raw(),
                                 out.size(), ctx.stream()));
  }
  constexpr UnaryDomain kDomain = UnaryDomainOf(kOp);
  const core::DType t = out.dtype();
  const bool refused = (t == core::DType::kBool && kDomain != UnaryDomain::kAny &&
                        kDomain != UnaryDomain::kIntegerOrBool) ||
                       (kDomain == UnaryDomain::kFloating && !core::IsFloating(t)) ||
                       (kDomain == UnaryDomain::kIntegerOrBool && core::IsFloating(t));
  if (refused) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] does not apply to ", core::DTypeName(out.dtype())));
  }
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!x.ok()) return x.status();
  return CheckCuda(node.op, "launch",
                   LaunchUnary(kOp, out.dtype(), *x, out.raw(), out.size(), ctx.stream()));
}

// ---- binary (binary.cu) ----

template <BinaryOp kOp>
absl::Status Binary(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  constexpr bool kComparison = kOp == BinaryOp::kEqual || kOp == BinaryOp::kLess ||
                               kOp == BinaryOp::kGreater || kOp == BinaryOp::kNotEqual ||
                               kOp == BinaryOp::kLessEqual || kOp == BinaryOp::kGreaterEqual;
  constexpr bool kLogical = kOp == BinaryOp::kLogicalAnd || kOp == BinaryOp::kLogicalOr;
  core::DType compute = out.dtype();
  if (kComparison) compute = core::PromoteTypes(a.dtype(), b.dtype());
  if (kLogical) compute = core::DType::kBool;
  if ((kComparison || kLogical) && out.dtype() != core::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] must produce bool, not ", core::DTypeName(out.dtype())));
  }
  if (core::IsComplex(compute) && !BinaryTakesComplex(kOp)) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] does not apply to complex64"));
  }
  if ((kOp == BinaryOp::kDiv || kOp == BinaryOp::kArctan2 || kOp == BinaryOp::kLogAddExp) &&
      !core::IsFloating(out.dtype()) && !(kOp == BinaryOp::kDiv && core::IsComplex(out.dtype()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", node.op, "] must produce a floating dtype, not ", core::DTypeName(out.dtype())));
  }
  if (((kOp >= BinaryOp::kBitwiseAnd) && core::IsFloating(out.dtype())) ||
      ((kOp == BinaryOp::kFloorDivide || kOp == BinaryOp::kRemainder) &&
       out.dtype() == core::DType::kBool)) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] does not apply to ", core::DTypeName(out.dtype())));
  }
  absl::StatusOr<const void*> a_data = ctx.ElementsAs(node.op, a, compute);
  if (!a_data.ok()) return a_data.status();
  absl::StatusOr<const void*> b_data = ctx.ElementsAs(node.op, b, compute);
  if (!b_data.ok()) return b_data.status();
  absl::StatusOr<Indexer> ix =
      MakeIndexer(node.op, out.shape(),
                  {core::ContiguousStrides(out.shape()), BroadcastStrides(a.shape(), out.shape()),
                   BroadcastStrides(b.shape(), out.shape())});
  if (!ix.ok()) return ix.status();
  return CheckCuda(
      node.op, "launch",
      LaunchBinary(kOp, compute, *a_data, *b_data, out.raw(), *ix, out.size(), ctx.stream()));
}

// ---- where (where.cu) ----

absl::Status Where(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) {
  absl::StatusOr<const void*> cond = ctx.ElementsAs(node.op, inputs[0], core::DType::kBool);
  if (!cond.ok()) return cond.status();
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[1], out.dtype());
  if (!x.ok()) return x.status();
  absl::StatusOr<const void*> y = ctx.ElementsAs(node.op, inputs[2], out.dtype());
  if (!y.ok()) return y.status();
  const core::Shape& shape = out.shape();
  absl::StatusOr<Indexer> ix = MakeIndexer(
      node.op, shape,
      {core::ContiguousStrides(shape), BroadcastStrides(inputs[0].shape(), shape),
       BroadcastStrides(inputs[1].shape(), shape), BroadcastStrides(inputs[2].shape(), shape)});
  if (!ix.ok()) return ix.status();
  return CheckCuda(
      node.op, "launch",
      LaunchWhere(out.dtype(), *cond, *x, *y, out.raw(), *ix, out.size(), ctx.stream()));
}

// ---- astype (astype.cu) ----

absl::Status Astype(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  return CheckCuda(node.op, "launch",
                   LaunchCast(inputs[0].dtype(), inputs[0].raw(), out.dtype(), out.raw(),
                              out.size(), ctx.stream()));
}

// view: the bytes as they are, copied on the stream.
absl::Status View(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                  const Tensor& out) {
  return CheckCuda(node.op, "copy",
                   cudaMemcpyAsync(out.raw(), inputs[0].raw(), out.nbytes(),
                                   cudaMemcpyDeviceToDevice, ctx.stream()));
}

// ---- reductions and softmax (reduce.cu, softmax.cu) ----

// How a list of axes splits `shape` into groups: the kept and reduced indexers of launch.h.
struct Groups {
  Indexer kept, reduced;
  int64_t outputs = 1, count = 1;
};

absl::StatusOr<Groups> MakeGroups(const core::Node& node, const core::Shape& shape,
                                  const std::vector<int64_t>& axes) {
  const int rank = static_cast<int>(shape.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : axes) {
    absl::StatusOr<int> a = core::NormalizeAxis(axis, rank);
    if (!a.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", a.status().message()));
    }
    reduced[*a] = true;
  }
  const std::vector<int64_t> strides = core::ContiguousStrides(shape);
  core::Shape kept_shape, reduced_shape;
  std::vector<int64_t> kept_strides, reduced_strides;
  Groups groups;
  for (int d = 0; d < rank; ++d) {
    (reduced[d] ? reduced_shape : kept_shape).push_back(shape[d]);
    (reduced[d] ? reduced_strides : kept_strides).push_back(strides[d]);
    (reduced[d] ? groups.count : groups.outputs) *= shape[d];
  }
  absl::StatusOr<Indexer> kept = MakeIndexer(node.op, kept_shape, {kept_strides});
  if (!kept.ok()) return kept.status();
  absl::StatusOr<Indexer> red = MakeIndexer(node.op, reduced_shape, {reduced_strides});
  if (!red.ok()) return red.status();
  groups.kept = *kept;
  groups.reduced = *red;
  return groups;
}

template <ReduceOp kOp>
absl::Status Reduce(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  absl::StatusOr<Groups> groups = MakeGroups(node, inputs[0].shape(), *axes);
  if (!groups.ok()) return groups.status();
  if (out.size() == 0) return absl::OkStatus();
  if ((kOp == ReduceOp::kMax || kOp == ReduceOp::kMin) && groups->count == 0) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op,
                                                   "] cannot reduce over an empty axis of shape ",
                                                   core::ShapeToString(inputs[0].shape())));
  }
  if (core::IsComplex(out.dtype()) && (kOp == ReduceOp::kMax || kOp == ReduceOp::kMin)) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] does not apply to complex64"));
  }
  if (out.dtype() == core::DType::kBool) {  // max/min of bool: as uint8, same bytes
    absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], core::DType::kBool);
    if (!x.ok()) return x.status();
    return CheckCuda(node.op, "launch",
                     LaunchReduce(kOp, core::DType::kUInt8, *x, out.raw(), groups->kept,
                                  groups->reduced, groups->outputs, groups->count, ctx.stream()));
  }
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!x.ok()) return x.status();
  return CheckCuda(node.op, "launch",
                   LaunchReduce(kOp, out.dtype(), *x, out.raw(), groups->kept, groups->reduced,
                                groups->outputs, groups->count, ctx.stream()));
}

template <bool kMax>
absl::Status ArgReduce(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                       const Tensor& out) {
  absl::StatusOr<int64_t> axis = GetAttr<int64_t>(node, "axis");
  if (!axis.ok()) return axis.status();
  const Tensor& in = inputs[0];
  if (out.size() == 0) return absl::OkStatus();
  std::vector<int64_t> axes;
  if (!in.shape().empty()) axes.push_back(*axis);
  absl::StatusOr<Groups> groups = MakeGroups(node, in.shape(), axes);
  if (!groups.ok()) return groups.status();
  if (groups->count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] cannot reduce over axis ", *axis, " of size 0"));
  }
  return CheckCuda(node.op, "launch",
                   LaunchArgReduce(kMax, in.dtype(), in.raw(), out.data<uint32_t>(), groups->kept,
                                   groups->reduced, groups->outputs, groups->count, ctx.stream()));
}

template <bool kLogSumExp>
absl::Status Softmax(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                     const Tensor& out) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  if (!core::IsFloating(out.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] needs a floating dtype, not ", core::DTypeName(out.dtype())));
  }
  absl::StatusOr<Groups> groups = MakeGroups(node, inputs[0].shape(), *axes);
  if (!groups.ok()) return groups.status();
  if (inputs[0].size() == 0 && out.size() == 0) return absl::OkStatus();
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!x.ok()) return x.status();
  return CheckCuda(node.op, "launch",
                   LaunchSoftmax(kLogSumExp, out.dtype(), *x, out.raw(), groups->kept,
                                 groups->reduced, groups->outputs, groups->count, ctx.stream()));
}

// all and any: the elements as bool ("not zero", NaN is true), then max (any) or min (all)
// of those bytes; an empty all is true, as the CPU's fold starts.
template <bool kAll>
absl::Status AllAny(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  absl::StatusOr<Groups> groups = MakeGroups(node, inputs[0].shape(), *axes);
  if (!groups.ok()) return groups.status();
  if (out.dtype() != core::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] must produce bool, not ", core::DTypeName(out.dtype())));
  }
  if (out.size() == 0) return absl::OkStatus();
  if (groups->count == 0) {
    return CheckCuda(node.op, "launch",
                     LaunchFill(1, kAll ? 1 : 0, out.raw(), out.size(), ctx.stream()));
  }
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], core::DType::kBool);
  if (!x.ok()) return x.status();
  return CheckCuda(
      node.op, "launch",
      LaunchReduce(kAll ? ReduceOp::kMin : ReduceOp::kMax, core::DType::kUInt8, *x, out.raw(),
                   groups->kept, groups->reduced, groups->outputs, groups->count, ctx.stream()));
}

// ---- scans (scan.cu) ----

template <ScanOp kOp>
absl::Status Scan(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                  const Tensor& out) {
  absl::StatusOr<int64_t> axis_attr = GetAttr<int64_t>(node, "axis");
  if (!axis_attr.ok()) return axis_attr.status();
  absl::StatusOr<int64_t> reverse = GetAttr<int64_t>(node, "reverse");
  if (!reverse.ok()) return reverse.status();
  absl::StatusOr<int64_t> inclusive = GetAttr<int64_t>(node, "inclusive");
  if (!inclusive.ok()) return inclusive.status();
  const core::Shape& shape = inputs[0].shape();
  const int rank = static_cast<int>(shape.size());
  absl::StatusOr<int> axis = core::NormalizeAxis(*axis_attr, rank);
  if (!axis.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", axis.status().message()));
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < *axis; ++d) outer *= shape[d];
  for (int d = *axis + 1; d < rank; ++d) inner *= shape[d];
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!x.ok()) return x.status();
  return CheckCuda(node.op, "launch",
                   LaunchScan(kOp, out.dtype(), *x, out.raw(), outer, shape[*axis], inner,
                              *reverse != 0, *inclusive != 0, ctx.stream()));
}

// ---- layout (layout.cu) ----

absl::Status CopyStrided(Context& ctx, const std::string& op, const core::Shape& shape, void* dst,
                         std::vector<int64_t> dst_strides, int64_t dst_base, const void* src,
                         std::vector<int64_t> src_strides, int64_t src_base, core::DType dtype) {
  const int64_t n = core::NumElements(shape);
  if (n == 0) return absl::OkStatus();
  absl::StatusOr<Indexer> ix = MakeIndexer(op, shape, {dst_strides, src_strides});
  if (!ix.ok()) return ix.status();
  const size_t size = core::SizeOf(dtype);
  return CheckCuda(
      op, "launch",
      LaunchCopy(static_cast<int>(size), static_cast<const char*>(src) + src_base * size,
                 static_cast<char*>(dst) + dst_base * size, *ix, n, ctx.stream()));
}

absl::Status Reshape(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                     const Tensor& out) {
  absl::StatusOr<const void*> src = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!src.ok()) return src.status();
  if (*src == out.raw() || out.nbytes() == 0) return absl::OkStatus();
  return CheckCuda(
      node.op, "copy",
      cudaMemcpyAsync(out.raw(), *src, out.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()));
}

absl::Status Transpose(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                       const Tensor& out) {
  absl::StatusOr<cpu::StridedSource> source = cpu::TransposeSource(node, inputs[0].shape());
  if (!source.ok()) return source.status();
  absl::StatusOr<const void*> src = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!src.ok()) return src.status();
  return CopyStrided(ctx, node.op, out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0,
                     *src, source->strides, 0, out.dtype());
}

absl::Status BroadcastTo(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  absl::StatusOr<core::Shape> broadcast = core::BroadcastShapes(inputs[0].shape(), out.shape());
  if (!broadcast.ok() || *broadcast != out.shape()) {
    return absl::InvalidArgumentError(absl::StrCat("[broadcast_to] cannot broadcast ",
                                                   core::ShapeToString(inputs[0].shape()), " to ",
                                                   core::ShapeToString(out.shape())));
  }
  absl::StatusOr<const void*> src = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!src.ok()) return src.status();
  return CopyStrided(ctx, node.op, out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0,
                     *src, BroadcastStrides(inputs[0].shape(), out.shape()), 0, out.dtype());
}

absl::Status Slice(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) {
  absl::StatusOr<cpu::StridedSource> source =
      cpu::SliceSource(node, inputs[0].shape(), out.shape());
  if (!source.ok()) return source.status();
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<const void*> src = ctx.ElementsAs(node.op, inputs[0], out.dtype());
  if (!src.ok()) return src.status();
  return CopyStrided(ctx, node.op, out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0,
                     *src, source->strides, source->base, out.dtype());
}

absl::Status Concatenate(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  std::vector<core::Shape> shapes;
  for (const Tensor& in : inputs) shapes.push_back(in.shape());
  absl::StatusOr<std::vector<int64_t>> starts = cpu::ConcatenateStarts(node, shapes, out.shape());
  if (!starts.ok()) return starts.status();
  const std::vector<int64_t> out_strides = core::ContiguousStrides(out.shape());
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<const void*> src = ctx.ElementsAs(node.op, inputs[i], out.dtype());
    if (!src.ok()) return src.status();
    absl::Status copied = CopyStrided(ctx, node.op, shapes[i], out.raw(), out_strides, (*starts)[i],
                                      *src, core::ContiguousStrides(shapes[i]), 0, out.dtype());
    if (!copied.ok()) return copied;
  }
  return absl::OkStatus();
}

// ---- gather, scatter (indexing.cu), slice_update (layout.cu) ----

// The element offsets into `a` at which the slices start (a scratch array of one int64 per
// position of index_shape), after checking every index on the device; `overlap` says
// whether a slice spans more than one element along an indexed axis.
absl::StatusOr<const int64_t*> SliceStarts(Context& ctx, const core::Node& node, const Tensor& a,
                                           absl::Span<const Tensor> indices,
                                           const core::Shape& index_shape,
                                           const std::vector<int64_t>& slice_shape, bool* overlap) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  const std::vector<int64_t> a_strides = core::ContiguousStrides(a.shape());
  const int64_t count = core::NumElements(index_shape);
  const size_t k_count = indices.size();
  absl::StatusOr<void*> starts = ctx.Scratch(node.op, count * sizeof(int64_t));
  if (!starts.ok()) return starts.status();
  absl::StatusOr<void*> bad = ctx.Scratch(node.op, k_count * sizeof(uint64_t));
  if (!bad.ok()) return bad.status();
  absl::Status status = CheckCuda(
      node.op, "clear", cudaMemsetAsync(*starts, 0, count * sizeof(int64_t), ctx.stream()));
  if (status.ok()) {
    status = CheckCuda(node.op, "clear",
                       cudaMemsetAsync(*bad, 0xff, k_count * sizeof(uint64_t), ctx.stream()));
  }
  if (!status.ok()) return status;
  *overlap = false;
  std::vector<const int64_t*> values(k_count);
  std::vector<std::vector<int64_t>> strides(k_count);
  for (size_t k = 0; k < k_count; ++k) {
    const int64_t axis = (*axes)[k];
    *overlap = *overlap || slice_shape[axis] > 1;
    absl::StatusOr<const void*> v = ctx.ElementsAs(node.op, indices[k], core::DType::kInt64);
    if (!v.ok()) return v.status();
    values[k] = static_cast<const int64_t*>(*v);
    strides[k] = BroadcastStrides(indices[k].shape(), index_shape);
    absl::StatusOr<Indexer> ix = MakeIndexer(node.op, index_shape, {strides[k]});
    if (!ix.ok()) return ix.status();
    status = CheckCuda(node.op, "launch",
                       LaunchSliceStarts(values[k], *ix, count, a.shape()[axis], slice_shape[axis],
                                         a_strides[axis], static_cast<int64_t*>(*starts),
                                         static_cast<unsigned long long*>(*bad) + k, ctx.stream()));
    if (!status.ok()) return status;
  }
  // The check needs the answer now: one small copy back and a wait.
  std::vector<uint64_t> first_bad(k_count);
  status = CheckCuda(node.op, "check indices",
                     cudaMemcpyAsync(first_bad.data(), *bad, k_count * sizeof(uint64_t),
                                     cudaMemcpyDeviceToHost, ctx.stream()));
  if (status.ok())
    status = CheckCuda(node.op, "check indices", cudaStreamSynchronize(ctx.stream()));
  if (!status.ok()) return status;
  for (size_t k = 0; k < k_count; ++k) {
    if (first_bad[k] == ~uint64_t{0}) continue;
    // The offending value, at position first_bad[k] of the broadcast index shape.
    int64_t p = static_cast<int64_t>(first_bad[k]), offset = 0;
    for (int d = static_cast<int>(index_shape.size()) - 1; d >= 0; --d) {
      offset += (p % index_shape[d]) * strides[k][d];
      p /= index_shape[d];
    }
    int64_t given = 0;
    status =
        CheckCuda(node.op, "check indices",
                  cudaMemcpy(&given, values[k] + offset, sizeof(int64_t), cudaMemcpyDeviceToHost));
    if (!status.ok()) return status;
    const int64_t axis = (*axes)[k];
    const int64_t slice = slice_shape[axis];
    const int64_t dim = a.shape()[axis];
    return absl::InvalidArgumentError(
        slice == 1 ? absl::StrCat("[", node.op, "] index ", given, " is out of range for axis ",
                                  axis, " of length ", dim)
                   : absl::StrCat("[", node.op, "] index ", given, " with a slice of ", slice,
                                  " is out of range for axis ", axis, " of length ", dim));
  }
  return static_cast<const int64_t*>(*starts);
}

absl::Status Gather(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  const Tensor& a = inputs[0];
  absl::StatusOr<std::vector<int64_t>> sizes = GetAttr<std::vector<int64_t>>(node, "slice_sizes");
  if (!sizes.ok()) return sizes.status();
  const size_t lead = out.shape().size() - a.shape().size();
  const core::Shape index_shape(out.shape().begin(), out.shape().begin() + lead);
  bool overlap = false;
  absl::StatusOr<const int64_t*> starts =
      SliceStarts(ctx, node, a, inputs.subspan(1), index_shape, *sizes, &overlap);
  if (!starts.ok()) return starts.status();
  const int64_t slice_n = core::NumElements(*sizes);
  if (out.size() == 0 || slice_n == 0) return absl::OkStatus();
  absl::StatusOr<Indexer> slice =
      MakeIndexer(node.op, *sizes, {core::ContiguousStrides(a.shape())});
  if (!slice.ok()) return slice.status();
  return CheckCuda(node.op, "launch",
                   LaunchGather(static_cast<int>(core::SizeOf(a.dtype())), a.raw(), out.raw(),
                                *starts, *slice, slice_n, out.size(), ctx.stream()));
}

// The result starts as a copy of `a` (nothing to copy when the executor reused a's buffer).
absl::Status CopyInto(Context& ctx, const core::Node& node, const Tensor& a, const Tensor& out) {
  if (a.raw() == out.raw() || a.nbytes() == 0) return absl::OkStatus();
  return CheckCuda(
      node.op, "copy",
      cudaMemcpyAsync(out.raw(), a.raw(), a.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()));
}

template <ScatterOp kOp>
absl::Status Scatter(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                     const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& updates = inputs.back();
  const size_t lead = updates.shape().size() - a.shape().size();
  const core::Shape index_shape(updates.shape().begin(), updates.shape().begin() + lead);
  const std::vector<int64_t> slice_shape(updates.shape().begin() + lead, updates.shape().end());
  bool overlap = false;
  absl::StatusOr<const int64_t*> starts = SliceStarts(
      ctx, node, a, inputs.subspan(1, inputs.size() - 2), index_shape, slice_shape, &overlap);
  if (!starts.ok()) return starts.status();
  absl::Status copied = CopyInto(ctx, node, a, out);
  if (!copied.ok()) return copied;
  const int64_t slice_n = core::NumElements(slice_shape);
  if (updates.size() == 0) return absl::OkStatus();
  absl::StatusOr<Indexer> slice =
      MakeIndexer(node.op, slice_shape, {core::ContiguousStrides(a.shape())});
  if (!slice.ok()) return slice.status();
  return CheckCuda(
      node.op, "launch",
      LaunchScatter(kOp, a.dtype(), out.raw(), updates.raw(), *starts,
                    core::NumElements(index_shape), *slice, slice_n, overlap, ctx.stream()));
}

absl::Status SliceUpdate(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  const Tensor& src = inputs[0];
  const Tensor& update = inputs[1];
  absl::StatusOr<std::vector<int64_t>> start = GetAttr<std::vector<int64_t>>(node, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<std::vector<int64_t>> strides = GetAttr<std::vector<int64_t>>(node, "strides");
  if (!strides.ok()) return strides.status();
  absl::Status copied = CopyInto(ctx, node, src, out);
  if (!copied.ok()) return copied;
  std::vector<int64_t> out_strides = core::ContiguousStrides(src.shape());
  int64_t base = 0;
  for (size_t d = 0; d < out_strides.size(); ++d) {
    base += (*start)[d] * out_strides[d];
    out_strides[d] *= (*strides)[d];
  }
  return CopyStrided(ctx, node.op, update.shape(), out.raw(), out_strides, base, update.raw(),
                     core::ContiguousStrides(update.shape()), 0, out.dtype());
}

// ---- sort, argsort, partition, argpartition (sort.cu) ----

// partition sorts fully, as the CPU: its contract holds and both backends agree exactly.
template <bool kIndices>
absl::Status Sort(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                  const Tensor& out) {
  const Tensor& in = inputs[0];
  absl::StatusOr<int64_t> axis_attr = GetAttr<int64_t>(node, "axis");
  if (!axis_attr.ok()) return axis_attr.status();
  const core::Shape& shape = in.shape();
  absl::StatusOr<int> axis = core::NormalizeAxis(*axis_attr, static_cast<int>(shape.size()));
  if (!axis.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", axis.status().message()));
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < *axis; ++d) outer *= shape[d];
  for (size_t d = static_cast<size_t>(*axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t n = shape[*axis];
  if (out.size() == 0) return absl::OkStatus();
  int64_t padded = 1;
  while (padded < n) padded <<= 1;
  absl::StatusOr<void*> order =
      ctx.Scratch(node.op, static_cast<size_t>(outer * inner * padded) * sizeof(uint32_t));
  if (!order.ok()) return order.status();
  return CheckCuda(
      node.op, "launch",
      LaunchSort(kIndices, in.dtype(), in.raw(), out.raw(), static_cast<uint32_t*>(*order), outer,
                 n, inner, padded, ctx.stream()));
}

// ---- convolution (conv.cu, products through gemm.h) ----

// Past this many groups the direct kernel runs: each group of a lowered convolution is a
// product of its own, and many small products cost more in launches than they save.
constexpr int64_t kMaxLoweredGroups = 8;
// A pass's lowered band: rows enough for products that fill the GPU.
constexpr size_t kPassBytes = size_t{64} << 20;

absl::Status Convolution(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  const Tensor& in = inputs[0];
  const Tensor& w = inputs[1];
  if (!core::IsFloating(in.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[convolution] needs a floating dtype, not ", core::DTypeName(in.dtype())));
  }
  absl::StatusOr<ConvGeometry> g = cpu::GetConvGeometry(node, in.shape(), w.shape(), out.shape());
  if (!g.ok()) return g.status();
  if (out.size() == 0) return absl::OkStatus();
  const int64_t depth = LoweredDepth(*g);
  if (depth == 0) {  // no input channels: sums of nothing
    return CheckCuda(node.op, "zero fill",
                     cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  absl::StatusOr<const void*> k = ctx.ElementsAs(node.op, w, in.dtype());
  if (!k.ok()) return k.status();
  if (g->groups > kMaxLoweredGroups) {
    return CheckCuda(node.op, "launch",
                     LaunchConvolution(in.dtype(), in.raw(), *k, out.raw(), *g, ctx.stream()));
  }
  const size_t size = core::SizeOf(in.dtype());
  const int64_t rows = LoweredRows(*g);
  const bool identity = LoweringIsIdentity(*g);
  const int64_t per_pass =
      identity ? std::min<int64_t>(rows, INT_MAX) : LoweredRowsPerPass(*g, size, kPassBytes);
  void* lowered = nullptr;
  if (!identity) {
    absl::StatusOr<void*> band = ctx.Scratch(node.op, per_pass * g->groups * depth * size);
    if (!band.ok()) return band.status();
    lowered = *band;
  }
  const int64_t cout_g = g->c_out / g->groups;
  Gemm gemm;
  gemm.n = cout_g;
  gemm.k = depth;
  gemm.lda = g->groups * depth;
  gemm.ldb = depth;
  gemm.ldc = g->c_out;
  gemm.b_transposed = true;
  const auto* x_bytes = static_cast<const char*>(in.raw());
  const auto* k_bytes = static_cast<const char*>(*k);
  auto* y_bytes = static_cast<char*>(out.raw());
  std::vector<GemmOperands> calls(static_cast<size_t>(g->groups));
  for (int64_t row0 = 0; row0 < rows; row0 += per_pass) {
    gemm.m = std::min(per_pass, rows - row0);
    const char* a = x_bytes + row0 * g->c_in * size;
    if (!identity) {
      absl::Status lowered_ok = CheckCuda(
          node.op, "lowering",
          LaunchConvolutionLowering(in.dtype(), in.raw(), lowered, *g, row0, gemm.m, ctx.stream()));
      if (!lowered_ok.ok()) return lowered_ok;
      a = static_cast<const char*>(lowered);
    }
    for (int64_t group = 0; group < g->groups; ++group) {
      calls[group] = {a + group * depth * size, k_bytes + group * cout_g * depth * size,
                      y_bytes + (row0 * g->c_out + group * cout_g) * size};
    }
    absl::Status ran = RunGemms(ctx, node.op, in.dtype(), gemm, calls);
    if (absl::IsUnimplemented(ran)) {      // a layout cuBLASLt has no kernel for: every output
      return CheckCuda(node.op, "launch",  // directly, whatever passes ran
                       LaunchConvolution(in.dtype(), in.raw(), *k, out.raw(), *g, ctx.stream()));
    }
    if (!ran.ok()) return ran;
  }
  return absl::OkStatus();
}

// ---- quantized_matmul (quantized.cu, products through gemm.h) ----

// x's rows times the packed matrix (QuantizedProduct). The scratch a product dequantizes into
// is in the output's dtype: 16-bit weights are rounded once, for the tensor cores.
absl::Status QuantizedMatmul(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                             const Tensor& out) {
  const core::DType dtype = out.dtype();
  const Tensor& wq = inputs[1];
  absl::StatusOr<cpu::QuantizedMatmulDims> dims = cpu::GetQuantizedMatmulDims(node, wq.shape());
  if (!dims.ok()) return dims.status();
  QuantizedMatrix q;
  q.words = static_cast<const uint32_t*>(wq.raw());
  q.rows = dims->rows;
  q.columns = dims->columns;
  q.words_per_row = dims->words_per_row;
  q.bits = dims->bits;
  q.group_size = dims->group_size;
  const bool transpose = dims->transpose;
  const int64_t inner = transpose ? q.columns : q.rows;
  if (out.size() == 0) return absl::OkStatus();
  if (inner == 0) {  // sums of nothing
    return CheckCuda(node.op, "zero fill",
                     cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  const int64_t m = inputs[0].size() / inner;
  absl::StatusOr<const void*> x = ctx.ElementsAs(node.op, inputs[0], dtype);
  if (!x.ok()) return x.status();
  absl::StatusOr<const void*> scales = ctx.ElementsAs(node.op, inputs[2], dtype);
  if (!scales.ok()) return scales.status();
  absl::StatusOr<const void*> biases = ctx.ElementsAs(node.op, inputs[3], dtype);
  if (!biases.ok()) return biases.status();
  q.scales = *scales;
  q.biases = *biases;
  DequantizedScratch dequantized;
  return QuantizedProduct(ctx, node.op, dtype, q, transpose, static_cast<const char*>(*x), m,
                          static_cast<char*>(out.raw()), dequantized);
}

}  // namespace

absl::Status QuantizedProduct(Context& ctx, const std::string& op, core::DType dtype,
                              const QuantizedMatrix& q, bool transpose, const char* x, int64_t rows,
                              char* y, DequantizedScratch& dequantized) {
  const size_t size = core::SizeOf(dtype);
  const int64_t inner = transpose ? q.columns : q.rows;
  const int64_t width = transpose ? q.rows : q.columns;  // of the result
  if (rows > kQuantizedVectorRows && rows <= INT_MAX && q.rows <= INT_MAX && q.columns <= INT_MAX &&
      !dequantized.unavailable) {
    if (dequantized.data == nullptr) {
      absl::StatusOr<void*> w = ctx.Scratch(op, q.rows * q.columns * size);
      if (!w.ok() && !absl::IsResourceExhausted(w.status())) return w.status();
      dequantized.unavailable = !w.ok();
      if (w.ok()) dequantized.data = *w;
    }
    if (dequantized.data != nullptr) {
      absl::Status ran =
          CheckCuda(op, "launch", LaunchDequantize(dtype, q, dequantized.data, ctx.stream()));
      if (!ran.ok()) return ran;
      Gemm gemm;
      gemm.m = rows;
      gemm.n = width;
      gemm.k = inner;
      gemm.lda = inner;
      gemm.ldb = q.columns;
      gemm.ldc = width;
      gemm.b_transposed = transpose;
      const GemmOperands call = {x, dequantized.data, y};
      ran = RunGemms(ctx, op, dtype, gemm, {&call, 1});
      if (!absl::IsUnimplemented(ran)) return ran;
    }
  }
  for (int64_t row0 = 0; row0 < rows; row0 += kQuantizedVectorRows) {
    const int64_t chunk = std::min(kQuantizedVectorRows, rows - row0);
    absl::Status ran =
        CheckCuda(op, "launch",
                  LaunchQuantizedVectors(dtype, x + row0 * inner * size, q, transpose, chunk,
                                         y + row0 * width * size, ctx.stream()));
    if (!ran.ok()) return ran;
  }
  return absl::OkStatus();
}

namespace {

// ---- real, imag, conjugate (complex.cu) ----

template <ComplexPart kPart>
absl::Status Part(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                  const Tensor& out) {
  if (inputs[0].dtype() != core::DType::kComplex64) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] needs a complex64 input, not ",
                                                   core::DTypeName(inputs[0].dtype())));
  }
  return CheckCuda(node.op, "launch",
                   LaunchComplexPart(kPart, inputs[0].raw(), out.raw(), out.size(), ctx.stream()));
}

// ---- fft (fft.cu) ----

absl::Status Fft(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                 const Tensor& out) {
  absl::StatusOr<FftProblem> problem = cpu::GetFftProblem(node, inputs[0].shape(), out.shape());
  if (!problem.ok()) return problem.status();
  const FftProblem& p = *problem;
  if (out.size() == 0) return absl::OkStatus();
  const size_t bytes = static_cast<size_t>(FftScratchElements(p)) * sizeof(float) * 2;
  absl::StatusOr<void*> a = ctx.Scratch(node.op, bytes);
  if (!a.ok()) return a.status();
  absl::StatusOr<void*> b = ctx.Scratch(node.op, bytes);
  if (!b.ok()) return b.status();
  return CheckCuda(node.op, "launch",
                   LaunchFft(p, inputs[0].raw(), out.raw(), *a, *b, ctx.stream()));
}

// ---- generators (generators.cu) ----

absl::Status Full(Context& ctx, const core::Node& node, absl::Span<const Tensor>,
                  const Tensor& out) {
  absl::StatusOr<double> value = GetAttr<double>(node, "value");
  if (!value.ok()) return value.status();
  // The element's bytes, converted on the host exactly as the CPU backend does.
  uint64_t bits = 0;
  cpu::DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T element;
    cpu::Store(&element, cpu::ConvertTo<T>(*value));
    std::memcpy(&bits, &element, sizeof(T));
  });
  return CheckCuda(node.op, "launch",
                   LaunchFill(static_cast<int>(core::SizeOf(out.dtype())), bits, out.raw(),
                              out.size(), ctx.stream()));
}

absl::Status Arange(Context& ctx, const core::Node& node, absl::Span<const Tensor>,
                    const Tensor& out) {
  absl::StatusOr<double> start = GetAttr<double>(node, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<double> step = GetAttr<double>(node, "step");
  if (!step.ok()) return step.status();
  return CheckCuda(node.op, "launch",
                   LaunchArange(out.dtype(), *start, *step, out.raw(), out.size(), ctx.stream()));
}

// ---- random (random.cu) ----

template <bool kUniform>
absl::Status Random(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  const Tensor& key = inputs[0];
  if (key.dtype() != core::DType::kUInt32 || key.shape() != core::Shape{2}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", node.op, "] the key must be uint32(2,), not ", core::TypeToString(key.type)));
  }
  absl::StatusOr<double> a = GetAttr<double>(node, kUniform ? "low" : "loc");
  if (!a.ok()) return a.status();
  absl::StatusOr<double> b = GetAttr<double>(node, kUniform ? "high" : "scale");
  if (!b.ok()) return b.status();
  if (!core::IsFloating(out.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] needs a floating dtype, not ", core::DTypeName(out.dtype())));
  }
  double below_b = 0;
  cpu::DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (cpu::kIsFloating<T>) below_b = cpu::LargestBelow<T>(*b);
  });
  return CheckCuda(node.op, "launch",
                   LaunchRandom(kUniform, out.dtype(), key.data<uint32_t>(), *a, *b,
                                kUniform && *a < *b, below_b, out.raw(), out.size(), ctx.stream()));
}

absl::Status RandomBits(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  const Tensor& key = inputs[0];
  if (key.dtype() != core::DType::kUInt32 || key.shape() != core::Shape{2}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", node.op, "] the key must be uint32(2,), not ", core::TypeToString(key.type)));
  }
  return CheckCuda(
      node.op, "launch",
      LaunchRandomBits(key.data<uint32_t>(), out.data<uint32_t>(), out.size(), ctx.stream()));
}

}  // namespace

void RegisterIndexingKernels(KernelTable& table) {
  table["gather"] = &Gather;
  table["scatter"] = &Scatter<ScatterOp::kAssign>;
  table["scatter_add"] = &Scatter<ScatterOp::kAdd>;
  table["scatter_prod"] = &Scatter<ScatterOp::kProd>;
  table["scatter_max"] = &Scatter<ScatterOp::kMax>;
  table["scatter_min"] = &Scatter<ScatterOp::kMin>;
  table["slice_update"] = &SliceUpdate;
}

void RegisterSortKernels(KernelTable& table) {
  table["sort"] = &Sort<false>;
  table["argsort"] = &Sort<true>;
  table["partition"] = &Sort<false>;
  table["argpartition"] = &Sort<true>;
}

void RegisterConvolutionKernels(KernelTable& table) { table["convolution"] = &Convolution; }

void RegisterQuantizedKernels(KernelTable& table) { table["quantized_matmul"] = &QuantizedMatmul; }

void RegisterScanKernels(KernelTable& table) {
  table["cumsum"] = &Scan<ScanOp::kSum>;
  table["cumprod"] = &Scan<ScanOp::kProd>;
  table["cummax"] = &Scan<ScanOp::kMax>;
  table["cummin"] = &Scan<ScanOp::kMin>;
  table["logcumsumexp"] = &Scan<ScanOp::kLogAddExp>;
}

void RegisterUnaryKernels(KernelTable& table) {
  table["neg"] = &Unary<UnaryOp::kNeg>;
  table["abs"] = &Unary<UnaryOp::kAbs>;
  table["relu"] = &Unary<UnaryOp::kRelu>;
  table["exp"] = &Unary<UnaryOp::kExp>;
  table["log"] = &Unary<UnaryOp::kLog>;
  table["sqrt"] = &Unary<UnaryOp::kSqrt>;
  table["rsqrt"] = &Unary<UnaryOp::kRsqrt>;
  table["sin"] = &Unary<UnaryOp::kSin>;
  table["cos"] = &Unary<UnaryOp::kCos>;
  table["tanh"] = &Unary<UnaryOp::kTanh>;
  table["sigmoid"] = &Unary<UnaryOp::kSigmoid>;
  table["gelu"] = &Unary<UnaryOp::kGelu>;
  table["erf"] = &Unary<UnaryOp::kErf>;
  table["log1p"] = &Unary<UnaryOp::kLog1p>;
  table["expm1"] = &Unary<UnaryOp::kExpm1>;
  table["log2"] = &Unary<UnaryOp::kLog2>;
  table["log10"] = &Unary<UnaryOp::kLog10>;
  table["square"] = &Unary<UnaryOp::kSquare>;
  table["floor"] = &Unary<UnaryOp::kFloor>;
  table["ceil"] = &Unary<UnaryOp::kCeil>;
  table["round"] = &Unary<UnaryOp::kRound>;
  table["sign"] = &Unary<UnaryOp::kSign>;
  table["bitwise_invert"] = &Unary<UnaryOp::kBitwiseInvert>;
  table["isnan"] = &Unary<UnaryOp::kIsNan>;
  table["isinf"] = &Unary<UnaryOp::kIsInf>;
  table["logical_not"] = &Unary<UnaryOp::kLogicalNot>;
}

void RegisterBinaryKernels(KernelTable& table) {
  table["add"] = &Binary<BinaryOp::kAdd>;
  table["sub"] = &Binary<BinaryOp::kSub>;
  table["mul"] = &Binary<BinaryOp::kMul>;
  table["div"] = &Binary<BinaryOp::kDiv>;
  table["pow"] = &Binary<BinaryOp::kPow>;
  table["maximum"] = &Binary<BinaryOp::kMaximum>;
  table["minimum"] = &Binary<BinaryOp::kMinimum>;
  table["equal"] = &Binary<BinaryOp::kEqual>;
  table["less"] = &Binary<BinaryOp::kLess>;
  table["greater"] = &Binary<BinaryOp::kGreater>;
  table["logical_and"] = &Binary<BinaryOp::kLogicalAnd>;
  table["logical_or"] = &Binary<BinaryOp::kLogicalOr>;
  table["not_equal"] = &Binary<BinaryOp::kNotEqual>;
  table["less_equal"] = &Binary<BinaryOp::kLessEqual>;
  table["greater_equal"] = &Binary<BinaryOp::kGreaterEqual>;
  table["arctan2"] = &Binary<BinaryOp::kArctan2>;
  table["logaddexp"] = &Binary<BinaryOp::kLogAddExp>;
  table["floor_divide"] = &Binary<BinaryOp::kFloorDivide>;
  table["remainder"] = &Binary<BinaryOp::kRemainder>;
  table["bitwise_and"] = &Binary<BinaryOp::kBitwiseAnd>;
  table["bitwise_or"] = &Binary<BinaryOp::kBitwiseOr>;
  table["bitwise_xor"] = &Binary<BinaryOp::kBitwiseXor>;
  table["left_shift"] = &Binary<BinaryOp::kLeftShift>;
  table["right_shift"] = &Binary<BinaryOp::kRightShift>;
}

void RegisterWhereKernels(KernelTable& table) { table["where"] = &Where; }

void RegisterAstypeKernels(KernelTable& table) {
  table["astype"] = &Astype;
  table["view"] = &View;
}

void RegisterReduceKernels(KernelTable& table) {
  table["sum"] = &Reduce<ReduceOp::kSum>;
  table["prod"] = &Reduce<ReduceOp::kProd>;
  table["mean"] = &Reduce<ReduceOp::kMean>;
  table["max"] = &Reduce<ReduceOp::kMax>;
  table["min"] = &Reduce<ReduceOp::kMin>;
  table["argmax"] = &ArgReduce<true>;
  table["argmin"] = &ArgReduce<false>;
  table["all"] = &AllAny<true>;
  table["any"] = &AllAny<false>;
}

void RegisterSoftmaxKernels(KernelTable& table) {
  table["softmax"] = &Softmax<false>;
  table["logsumexp"] = &Softmax<true>;
}

void RegisterLayoutKernels(KernelTable& table) {
  table["reshape"] = &Reshape;
  table["depends"] = &Reshape;  // the first input's bytes (the executor makes it a view)
  table["transpose"] = &Transpose;
  table["broadcast_to"] = &BroadcastTo;
  table["slice"] = &Slice;
  table["concatenate"] = &Concatenate;
}

void RegisterComplexKernels(KernelTable& table) {
  table["real"] = &Part<ComplexPart::kReal>;
  table["imag"] = &Part<ComplexPart::kImag>;
  table["conjugate"] = &Part<ComplexPart::kConjugate>;
}

void RegisterFftKernels(KernelTable& table) { table["fft"] = &Fft; }

void RegisterGeneratorKernels(KernelTable& table) {
  table["full"] = &Full;
  table["arange"] = &Arange;
}

void RegisterRandomKernels(KernelTable& table) {
  table["random_uniform"] = &Random<true>;
  table["random_normal"] = &Random<false>;
  table["random_bits"] = &RandomBits;
}

const KernelTable& CudaKernels() {
  static const KernelTable* const table = [] {
    auto* t = new KernelTable;
    RegisterUnaryKernels(*t);
    RegisterBinaryKernels(*t);
    RegisterWhereKernels(*t);
    RegisterAstypeKernels(*t);
    RegisterReduceKernels(*t);
    RegisterMatmulKernels(*t);
    RegisterGatherMmKernels(*t);
    RegisterLayoutKernels(*t);
    RegisterSoftmaxKernels(*t);
    RegisterGeneratorKernels(*t);
    RegisterRandomKernels(*t);
    RegisterScanKernels(*t);
    RegisterIndexingKernels(*t);
    RegisterSortKernels(*t);
    RegisterConvolutionKernels(*t);
    RegisterQuantizedKernels(*t);
    RegisterLinalgKernels(*t);
    RegisterComplexKernels(*t);
    RegisterFftKernels(*t);
    RegisterGatedDeltaKernels(*t);
    RegisterGatedDeltaVjpKernels(*t);
    return t;
  }();
  return *table;
}

}  // namespace ferry::kernels::cuda
