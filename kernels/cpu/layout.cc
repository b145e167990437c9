// Ops that move elements without computing: reshape (a copy here; the executor may make it
// a view instead), transpose, broadcast_to, slice and concatenate. Each is one strided copy:
// the source is read through strides that permute, repeat (0) or step backwards
// (negative), so the element bytes are all that matter and the dtype is never dispatched.

#include <cstring>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <typename Word>
void CopyWords(absl::Span<const int64_t> shape, void* dst, std::vector<int64_t> dst_strides,
               int64_t dst_base, const void* src, std::vector<int64_t> src_strides,
               int64_t src_base) {
  Word* d = static_cast<Word*>(dst);
  const Word* s = static_cast<const Word*>(src);
  ForEachRow<2>(
      shape, {std::move(dst_strides), std::move(src_strides)}, {dst_base, src_base},
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
        Word* to = d + off[0];
        const Word* from = s + off[1];
        if (step[0] == 1 && step[1] == 1) {
          std::memcpy(to, from, static_cast<size_t>(n) * sizeof(Word));
        } else {
          for (int64_t i = 0; i < n; ++i) to[i * step[0]] = from[i * step[1]];
        }
      });
}

// dst[dst_base + i . dst_strides] = src[src_base + i . src_strides] for every index i of
// `shape`; strides and bases in elements of `dtype`.
void CopyStrided(core::DType dtype, absl::Span<const int64_t> shape, void* dst,
                 std::vector<int64_t> dst_strides, int64_t dst_base, const void* src,
                 std::vector<int64_t> src_strides, int64_t src_base) {
  switch (core::SizeOf(dtype)) {
    case 1:
      return CopyWords<uint8_t>(shape, dst, std::move(dst_strides), dst_base, src,
                                std::move(src_strides), src_base);
    case 2:
      return CopyWords<uint16_t>(shape, dst, std::move(dst_strides), dst_base, src,
                                 std::move(src_strides), src_base);
    case 4:
      return CopyWords<uint32_t>(shape, dst, std::move(dst_strides), dst_base, src,
                                 std::move(src_strides), src_base);
    default:
      return CopyWords<uint64_t>(shape, dst, std::move(dst_strides), dst_base, src,
                                 std::move(src_strides), src_base);
  }
}

absl::Status Reshape(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  HostScratch scratch;
  absl::StatusOr<const void*> src = ElementsAs(node.op, inputs[0], out.dtype(), scratch);
  if (!src.ok()) return src.status();
  if (*src != out.raw()) std::memmove(out.raw(), *src, out.nbytes());
  return absl::OkStatus();
}

absl::Status Transpose(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<StridedSource> source = TransposeSource(node, inputs[0].shape());
  if (!source.ok()) return source.status();
  HostScratch scratch;
  absl::StatusOr<const void*> src = ElementsAs(node.op, inputs[0], out.dtype(), scratch);
  if (!src.ok()) return src.status();
  CopyStrided(out.dtype(), out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0, *src,
              std::move(source->strides), 0);
  return absl::OkStatus();
}

absl::Status BroadcastTo(const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  absl::StatusOr<core::Shape> broadcast = core::BroadcastShapes(inputs[0].shape(), out.shape());
  if (!broadcast.ok() || *broadcast != out.shape()) {
    return absl::InvalidArgumentError(absl::StrCat("[broadcast_to] cannot broadcast ",
                                                   core::ShapeToString(inputs[0].shape()), " to ",
                                                   core::ShapeToString(out.shape())));
  }
  HostScratch scratch;
  absl::StatusOr<const void*> src = ElementsAs(node.op, inputs[0], out.dtype(), scratch);
  if (!src.ok()) return src.status();
  CopyStrided(out.dtype(), out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0, *src,
              BroadcastStrides(inputs[0].shape(), out.shape()), 0);
  return absl::OkStatus();
}

absl::Status Slice(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<StridedSource> source = SliceSource(node, inputs[0].shape(), out.shape());
  if (!source.ok()) return source.status();
  if (out.size() == 0) return absl::OkStatus();
  HostScratch scratch;
  absl::StatusOr<const void*> src = ElementsAs(node.op, inputs[0], out.dtype(), scratch);
  if (!src.ok()) return src.status();
  CopyStrided(out.dtype(), out.shape(), out.raw(), core::ContiguousStrides(out.shape()), 0, *src,
              std::move(source->strides), source->base);
  return absl::OkStatus();
}

absl::Status Concatenate(const core::Node& node, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
  std::vector<core::Shape> shapes;
  for (const Tensor& in : inputs) shapes.push_back(in.shape());
  absl::StatusOr<std::vector<int64_t>> starts = ConcatenateStarts(node, shapes, out.shape());
  if (!starts.ok()) return starts.status();
  const std::vector<int64_t> out_strides = core::ContiguousStrides(out.shape());
  for (size_t i = 0; i < inputs.size(); ++i) {
    HostScratch scratch;
    absl::StatusOr<const void*> src = ElementsAs(node.op, inputs[i], out.dtype(), scratch);
    if (!src.ok()) return src.status();
    CopyStrided(out.dtype(), shapes[i], out.raw(), out_strides, (*starts)[i], *src,
                core::ContiguousStrides(shapes[i]), 0);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StridedSource> TransposeSource(const core::Node& node, const core::Shape& in) {
  absl::StatusOr<std::vector<int64_t>> perm = GetAttr<std::vector<int64_t>>(node, "perm");
  if (!perm.ok()) return perm.status();
  if (perm->size() != in.size()) {
    return absl::InvalidArgumentError(absl::StrCat("[transpose] perm has ", perm->size(),
                                                   " axes for an array of rank ", in.size()));
  }
  const std::vector<int64_t> in_strides = core::ContiguousStrides(in);
  StridedSource source;
  source.strides.resize(perm->size());
  for (size_t d = 0; d < perm->size(); ++d) {
    const int64_t axis = (*perm)[d];
    if (axis < 0 || axis >= static_cast<int64_t>(in_strides.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("[transpose] axis ", axis, " is out of range"));
    }
    source.strides[d] = in_strides[axis];
  }
  return source;
}

// start and strides are per axis, already clamped by the client as NumPy does for the
// stride's sign; the output shape says how many elements each axis takes.
absl::StatusOr<StridedSource> SliceSource(const core::Node& node, const core::Shape& in,
                                          const core::Shape& out) {
  absl::StatusOr<std::vector<int64_t>> start = GetAttr<std::vector<int64_t>>(node, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<std::vector<int64_t>> steps = GetAttr<std::vector<int64_t>>(node, "strides");
  if (!steps.ok()) return steps.status();
  const size_t rank = in.size();
  if (start->size() != rank || steps->size() != rank || out.size() != rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[slice] start and strides need one entry per axis of ", core::ShapeToString(in)));
  }
  const std::vector<int64_t> in_strides = core::ContiguousStrides(in);
  StridedSource source;
  source.strides.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t count = out[d];
    const int64_t first = (*start)[d];
    const int64_t last = first + (count - 1) * (*steps)[d];
    if (count > 0 && (first < 0 || first >= in[d] || last < 0 || last >= in[d])) {
      return absl::InvalidArgumentError(
          absl::StrCat("[slice] axis ", d, " reads outside ", core::ShapeToString(in)));
    }
    source.base += first * in_strides[d];
    // A stride only matters where the axis takes more than one element (and a huge one
    // there cannot be multiplied without overflow).
    source.strides[d] = count > 1 ? (*steps)[d] * in_strides[d] : 0;
  }
  return source;
}

absl::StatusOr<std::vector<int64_t>> ConcatenateStarts(const core::Node& node,
                                                       absl::Span<const core::Shape> inputs,
                                                       const core::Shape& out) {
  absl::StatusOr<int64_t> axis_attr = GetAttr<int64_t>(node, "axis");
  if (!axis_attr.ok()) return axis_attr.status();
  const int rank = static_cast<int>(out.size());
  absl::StatusOr<int> axis = core::NormalizeAxis(*axis_attr, rank);
  if (!axis.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[concatenate] ", axis.status().message()));
  }
  const int64_t axis_stride = core::ContiguousStrides(out)[*axis];
  std::vector<int64_t> starts;
  int64_t position = 0;  // where the next input starts along the axis
  for (const core::Shape& in : inputs) {
    if (static_cast<int>(in.size()) != rank || position + in[*axis] > out[*axis]) {
      return absl::InvalidArgumentError(
          absl::StrCat("[concatenate] input ", core::ShapeToString(in), " does not fit output ",
                       core::ShapeToString(out)));
    }
    starts.push_back(position * axis_stride);
    position += in[*axis];
  }
  return starts;
}

void RegisterLayoutKernels(KernelTable& table) {
  table["reshape"] = &Reshape;
  table["depends"] = &Reshape;  // the first input's bytes (the executor makes it a view)
  table["transpose"] = &Transpose;
  table["broadcast_to"] = &BroadcastTo;
  table["slice"] = &Slice;
  table["concatenate"] = &Concatenate;
}

}  // namespace ferry::kernels::cpu
