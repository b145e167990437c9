// vmap: fun traced on the first example and its graph rebuilt for the whole batch
// (vmap_batching.h), or, where an op has no batching rule, called once per example and its
// results stacked.

#include "client/vmap.h"

#include <optional>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/ops.h"
#include "client/vmap_batching.h"
#include "core/shape.h"

namespace ferry {
namespace {

[[noreturn]] void Throw(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, absl::StrCat("[vmap] ", message));
}

// The size of the mapped axis, checking each mapped input's axis.
int64_t MappedSize(const std::vector<Array>& inputs, const std::vector<int>& in_axes) {
  std::optional<int64_t> size;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int axis = in_axes[i];
    if (axis < 0) continue;
    const int ndim = static_cast<int>(inputs[i].ndim());
    if (axis >= ndim) {
      Throw(absl::StrCat("in_axes[", i, "] is ", axis, " but input ", i, " has ", ndim,
                         " dimensions."));
    }
    const int64_t n = inputs[i].shape()[axis];
    if (size.has_value() && n != *size) {
      Throw(absl::StrCat("input ", i, " has ", n, " entries on its mapped axis ", axis,
                         " where the inputs before it have ", *size, "."));
    }
    size = n;
  }
  if (!size.has_value()) Throw("no input is mapped: give at least one in_axes entry >= 0.");
  if (*size == 0) Throw("the mapped axis is empty, so fun's outputs are unknown.");
  return *size;
}

}  // namespace

std::function<std::vector<Array>(const std::vector<Array>&)> vmap(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<int>& in_axes, const std::vector<int>& out_axes) {
  return [fun, in_axes, out_axes](const std::vector<Array>& inputs) {
    std::vector<int> axes = in_axes.empty() ? std::vector<int>(inputs.size(), 0) : in_axes;
    if (axes.size() != inputs.size()) {
      Throw(absl::StrCat("got ", axes.size(), " in_axes for ", inputs.size(), " inputs."));
    }
    const int64_t n = MappedSize(inputs, axes);
    auto example = [&](int64_t index) {
      std::vector<Array> args;
      for (size_t i = 0; i < inputs.size(); ++i) {
        args.push_back(axes[i] < 0 ? inputs[i] : take(inputs[i], index, axes[i]));
      }
      return args;
    };
    // Traced on the first example; rebuilt for the batch when every op has a rule, else fun
    // runs once per example.
    const std::vector<Array> first = example(0);
    std::unordered_map<const detail::ArrayNode*, Array> sources;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (axes[i] >= 0) sources.emplace(first[i].node().get(), moveaxis(inputs[i], axes[i], 0));
    }
    const std::vector<Array> traced = fun(first);
    if (!out_axes.empty() && out_axes.size() != traced.size()) {
      Throw(absl::StrCat("got ", out_axes.size(), " out_axes for ", traced.size(), " outputs."));
    }
    auto out_axis = [&](size_t k) { return out_axes.empty() ? 0 : out_axes[k]; };
    for (size_t k = 0; k < traced.size(); ++k) {
      const int ndim = static_cast<int>(traced[k].ndim());
      if (out_axis(k) < 0 || out_axis(k) > ndim) {
        Throw(absl::StrCat("out_axes[", k, "] is ", out_axis(k), " but output ", k, " has ", ndim,
                           " dimensions before mapping (so 0 to ", ndim, ")."));
      }
    }
    if (std::optional<std::vector<Array>> batched = detail::BatchTrace(traced, sources, n)) {
      std::vector<Array> moved;
      for (size_t k = 0; k < batched->size(); ++k) {
        moved.push_back(moveaxis((*batched)[k], 0, out_axis(k)));
      }
      return moved;
    }
    std::vector<std::vector<Array>> results(traced.size());  // [output][index]
    for (size_t k = 0; k < traced.size(); ++k) results[k].push_back(traced[k]);
    for (int64_t index = 1; index < n; ++index) {
      std::vector<Array> outputs = fun(example(index));
      if (outputs.size() != results.size()) {
        Throw(absl::StrCat("fun returned ", outputs.size(), " outputs at index ", index, " and ",
                           results.size(), " at index 0."));
      }
      for (size_t k = 0; k < outputs.size(); ++k) results[k].push_back(std::move(outputs[k]));
    }
    std::vector<Array> stacked;
    for (size_t k = 0; k < results.size(); ++k) stacked.push_back(stack(results[k], out_axis(k)));
    return stacked;
  };
}

std::function<Array(const Array&)> vmap(const std::function<Array(const Array&)>& fun, int in_axis,
                                        int out_axis) {
  auto mapped = vmap([fun](const std::vector<Array>& a) { return std::vector<Array>{fun(a[0])}; },
                     {in_axis}, {out_axis});
  return [mapped](const Array& a) { return mapped({a})[0]; };
}

std::function<Array(const Array&, const Array&)> vmap(
    const std::function<Array(const Array&, const Array&)>& fun, int in_axis_a, int in_axis_b,
    int out_axis) {
  auto mapped =
      vmap([fun](const std::vector<Array>& a) { return std::vector<Array>{fun(a[0], a[1])}; },
           {in_axis_a, in_axis_b}, {out_axis});
  return [mapped](const Array& a, const Array& b) { return mapped({a, b})[0]; };
}

}  // namespace ferry
