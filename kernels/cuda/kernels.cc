// Host side of every CUDA op family but matmul: attributes and shapes become indexers and
// launches (launch.h). Mixed input dtypes are first converted to the compute dtype, as the
// CPU backend does, so each kernel sees one dtype.

#include "kernels/cuda/kernels.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

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
  if ((kOp == BinaryOp::kDiv || kOp == BinaryOp::kArctan2 || kOp == BinaryOp::kLogAddExp) &&
      !core::IsFloating(out.dtype())) {
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

}  // namespace

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

void RegisterAstypeKernels(KernelTable& table) { table["astype"] = &Astype; }

void RegisterReduceKernels(KernelTable& table) {
  table["sum"] = &Reduce<ReduceOp::kSum>;
  table["prod"] = &Reduce<ReduceOp::kProd>;
  table["mean"] = &Reduce<ReduceOp::kMean>;
  table["max"] = &Reduce<ReduceOp::kMax>;
  table["min"] = &Reduce<ReduceOp::kMin>;
  table["argmax"] = &ArgReduce<true>;
  table["argmin"] = &ArgReduce<false>;
}

void RegisterSoftmaxKernels(KernelTable& table) {
  table["softmax"] = &Softmax<false>;
  table["logsumexp"] = &Softmax<true>;
}

void RegisterLayoutKernels(KernelTable& table) {
  table["reshape"] = &Reshape;
  table["transpose"] = &Transpose;
  table["broadcast_to"] = &BroadcastTo;
  table["slice"] = &Slice;
  table["concatenate"] = &Concatenate;
}

void RegisterGeneratorKernels(KernelTable& table) {
  table["full"] = &Full;
  table["arange"] = &Arange;
}

void RegisterRandomKernels(KernelTable& table) {
  table["random_uniform"] = &Random<true>;
  table["random_normal"] = &Random<false>;
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
    RegisterLayoutKernels(*t);
    RegisterSoftmaxKernels(*t);
    RegisterGeneratorKernels(*t);
    RegisterRandomKernels(*t);
    return t;
  }();
  return *table;
}

}  // namespace ferry::kernels::cuda
