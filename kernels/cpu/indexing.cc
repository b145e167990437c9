// gather, the scatter family and slice_update: elements moved (or combined) at positions
// that index arrays or slice bounds give. See core/ops.h for the exact semantics.

#include <cstring>
#include <memory>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

absl::Status IndexError(const core::Node& node, int64_t index, int64_t axis, int64_t dim,
                        int64_t slice) {
  return absl::InvalidArgumentError(
      slice == 1 ? absl::StrCat("[", node.op, "] index ", index, " is out of range for axis ", axis,
                                " of length ", dim)
                 : absl::StrCat("[", node.op, "] index ", index, " with a slice of ", slice,
                                " is out of range for axis ", axis, " of length ", dim));
}

// The element offsets into `a` at which the slices of a gather or scatter start, one per
// element of the broadcast index shape, after checking every index against its axis.
absl::StatusOr<std::vector<int64_t>> SliceStarts(const core::Node& node, const Tensor& a,
                                                 absl::Span<const Tensor> indices,
                                                 const core::Shape& index_shape,
                                                 const core::Shape& slice_shape) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  const std::vector<int64_t> a_strides = core::ContiguousStrides(a.shape());
  const int64_t count = core::NumElements(index_shape);
  std::vector<int64_t> starts(static_cast<size_t>(count), 0);
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t axis = (*axes)[k];
    const int64_t dim = a.shape()[axis];
    const int64_t slice = slice_shape[axis];
    HostScratch scratch;
    absl::StatusOr<const void*> converted =
        ElementsAs(node.op, indices[k], core::DType::kInt64, scratch);
    if (!converted.ok()) return converted.status();
    const auto* values = static_cast<const int64_t*>(*converted);
    const std::vector<int64_t> strides = BroadcastStrides(indices[k].shape(), index_shape);
    int64_t at = 0;
    absl::Status status;
    ForEachRow<1>(
        index_shape, {strides}, {0},
        [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& step) {
          for (int64_t i = 0; i < n && status.ok(); ++i, ++at) {
            int64_t index = values[off[0] + i * step[0]];
            const int64_t given = index;
            if (index < 0) index += dim;
            if (index < 0 || index + slice > dim) {
              status = IndexError(node, given, axis, dim, slice);
              return;
            }
            starts[at] += index * a_strides[axis];
          }
        });
    if (!status.ok()) return status;
  }
  return starts;
}

// The offsets into an array with `strides` of the elements of a slice of `slice_shape`,
// row-major: computed once, then shared by every slice a gather or scatter moves.
std::vector<int64_t> SliceOffsets(const std::vector<int64_t>& strides,
                                  const core::Shape& slice_shape) {
  std::vector<int64_t> offsets;
  offsets.reserve(static_cast<size_t>(core::NumElements(slice_shape)));
  ForEachRow<1>(
      slice_shape, {strides}, {0},
      [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& step) {
        for (int64_t j = 0; j < n; ++j) offsets.push_back(off[0] + j * step[0]);
      });
  return offsets;
}

absl::Status GatherKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                          const Tensor& out) {
  const Tensor& a = inputs[0];
  absl::StatusOr<std::vector<int64_t>> sizes = GetAttr<std::vector<int64_t>>(node, "slice_sizes");
  if (!sizes.ok()) return sizes.status();
  const size_t lead = out.shape().size() - a.shape().size();
  const core::Shape index_shape(out.shape().begin(), out.shape().begin() + lead);
  absl::StatusOr<std::vector<int64_t>> starts =
      SliceStarts(node, a, inputs.subspan(1), index_shape, *sizes);
  if (!starts.ok()) return starts.status();
  // A slice is runs of contiguous elements: the trailing axes it spans whole and the axis
  // before them (spanned in part) make one run, copied at once (a whole expert's matrix for
  // a mixture of experts' gather); the axes before that give the runs' offsets.
  const std::vector<int64_t> a_strides = core::ContiguousStrides(a.shape());
  size_t outer = sizes->size();
  int64_t run = 1;
  while (outer > 0) {
    --outer;
    run *= (*sizes)[outer];
    if ((*sizes)[outer] != a.shape()[outer]) break;
  }
  const core::Shape outer_shape(sizes->begin(), sizes->begin() + outer);
  const std::vector<int64_t> offsets =
      outer == 0 ? std::vector<int64_t>{0}
                 : SliceOffsets(std::vector<int64_t>(a_strides.begin(), a_strides.begin() + outer),
                                outer_shape);
  return DispatchDType(a.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const T* x = a.data<T>();
    T* y = out.data<T>();
    for (int64_t start : *starts) {
      for (int64_t offset : offsets) {
        if (run == 1) {
          *y++ = x[start + offset];
        } else {
          std::memcpy(y, x + start + offset, run * sizeof(T));
          y += run;
        }
      }
    }
    return absl::OkStatus();
  });
}

enum class Combine { kAssign, kAdd, kProd, kMax, kMin };

template <Combine kCombine>
absl::Status ScatterKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                           const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& updates = inputs.back();
  const size_t lead = updates.shape().size() - a.shape().size();
  const core::Shape index_shape(updates.shape().begin(), updates.shape().begin() + lead);
  const core::Shape slice_shape(updates.shape().begin() + lead, updates.shape().end());
  absl::StatusOr<std::vector<int64_t>> starts =
      SliceStarts(node, a, inputs.subspan(1, inputs.size() - 2), index_shape, slice_shape);
  if (!starts.ok()) return starts.status();
  // Nothing to copy when the executor reused a's buffer (Step::rewrites_first_input).
  if (a.nbytes() > 0 && out.raw() != a.raw()) std::memcpy(out.raw(), a.raw(), a.nbytes());
  const std::vector<int64_t> offsets =
      SliceOffsets(core::ContiguousStrides(a.shape()), slice_shape);
  return DispatchDType(a.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    const T* u = updates.data<T>();
    T* y = out.data<T>();
    for (int64_t start : *starts) {
      for (int64_t offset : offsets) {
        T* dst = y + start + offset;
        const T* src = u++;
        if constexpr (kCombine == Combine::kAssign) {
          *dst = *src;
        } else {
          const C have = Load(dst);
          const C v = Load(src);
          C result;
          if constexpr (kCombine == Combine::kAdd) {
            result = WrapAdd(have, v);
          } else if constexpr (kCombine == Combine::kProd) {
            result = WrapMul(have, v);
          } else if constexpr (kCombine == Combine::kMax) {
            result = (v > have || v != v) ? v : have;  // NaN propagates
          } else {
            result = (v < have || v != v) ? v : have;
          }
          Store(dst, result);
        }
      }
    }
    return absl::OkStatus();
  });
}

absl::Status SliceUpdateKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                               const Tensor& out) {
  const Tensor& src = inputs[0];
  const Tensor& update = inputs[1];
  absl::StatusOr<std::vector<int64_t>> start = GetAttr<std::vector<int64_t>>(node, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<std::vector<int64_t>> strides = GetAttr<std::vector<int64_t>>(node, "strides");
  if (!strides.ok()) return strides.status();
  if (src.nbytes() > 0 && out.raw() != src.raw()) {
    std::memcpy(out.raw(), src.raw(), src.nbytes());
  }
  std::vector<int64_t> out_strides = core::ContiguousStrides(src.shape());
  int64_t base = 0;
  for (size_t d = 0; d < out_strides.size(); ++d) {
    base += (*start)[d] * out_strides[d];
    out_strides[d] *= (*strides)[d];
  }
  const std::vector<int64_t> dense = core::ContiguousStrides(update.shape());
  return DispatchDType(src.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const T* u = update.data<T>();
    T* y = out.data<T>();
    ForEachRow<2>(
        update.shape(), {out_strides, dense}, {base, 0},
        [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
          for (int64_t j = 0; j < n; ++j) y[off[0] + j * step[0]] = u[off[1] + j * step[1]];
        });
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterIndexingKernels(KernelTable& table) {
  table["gather"] = &GatherKernel;
  table["scatter"] = &ScatterKernel<Combine::kAssign>;
  table["scatter_add"] = &ScatterKernel<Combine::kAdd>;
  table["scatter_prod"] = &ScatterKernel<Combine::kProd>;
  table["scatter_max"] = &ScatterKernel<Combine::kMax>;
  table["scatter_min"] = &ScatterKernel<Combine::kMin>;
  table["slice_update"] = &SliceUpdateKernel;
}

}  // namespace ferry::kernels::cpu
