#include "client/lm/switch_layers.h"

#include <cmath>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::lm {

SwitchLinear::SwitchLinear(int64_t input_dims, int64_t output_dims, int64_t num_experts,
                           bool bias) {
  if (input_dims <= 0 || output_dims <= 0 || num_experts <= 0) {
    detail::ThrowOpError("SwitchLinear",
                         absl::StrCat("input_dims (", input_dims, "), output_dims (", output_dims,
                                      ") and num_experts (", num_experts, ") must be positive."));
  }
  const double scale = std::sqrt(1.0 / static_cast<double>(input_dims));
  register_parameter(
      "weight", random::uniform({num_experts, output_dims, input_dims}, float32, -scale, scale));
  if (bias) register_parameter("bias", zeros({num_experts, output_dims}));
}

Array SwitchLinear::operator()(const Array& x, const Array& indices) {
  const Array& weight = parameter("weight");
  Array y = x;
  if (const std::optional<nn::Quantization>& q = quantization()) {
    y = gather_qmm(x, weight, parameter("scales"), quantized_biases(), std::nullopt, indices,
                   /*transpose=*/true, q->group_size, q->bits, q->mode);
  } else {
    y = gather_mm(x, swapaxes(weight, -1, -2), std::nullopt, indices);
  }
  if (has_parameter("bias")) y = y + expand_dims(take(parameter("bias"), indices, 0), -2);
  if (Adapter* extra = adapter()) y = y + (*extra)(x, indices);
  return y;
}

Array SwitchLinear::operator()(const Array& x) {
  detail::ThrowOpError("SwitchLinear", "needs the experts' indices: call it with (x, indices).");
}

SwitchGLU::SwitchGLU(int64_t input_dims, int64_t hidden_dims, int64_t num_experts, bool bias,
                     GluActivation activation)
    : gate_proj_(
          register_module("gate_proj", SwitchLinear(input_dims, hidden_dims, num_experts, bias))),
      up_proj_(
          register_module("up_proj", SwitchLinear(input_dims, hidden_dims, num_experts, bias))),
      down_proj_(
          register_module("down_proj", SwitchLinear(hidden_dims, input_dims, num_experts, bias))),
      activation_(std::move(activation)) {}

namespace {

// x (..., D) through each of its experts `indices` (..., k): (..., k, D'), `experts` given the
// rows (..., 1, 1, D) and the experts to multiply them by. From 64 (token, expert) pairs on,
// the pairs are sorted by expert (mlx-lm's _gather_sort), so that each expert's rows are read
// together, and the results put back in the tokens' order after (_scatter_unsort).
Array ThroughExperts(const Array& x, const Array& indices,
                     const std::function<Array(const Array&, const Array&)>& experts) {
  Array h = expand_dims(x, {-2, -3});
  Array picked = stop_gradient(indices);
  const bool sort = indices.size() >= 64;
  std::optional<Array> inverse;
  if (sort) {
    const Array flat = flatten(picked);
    const Array order = argsort(flat);
    inverse = argsort(order);
    h = take(flatten(h, 0, -3), floor_divide(order, indices.shape(-1)), 0);
    picked = take(flat, order, 0);
  }
  h = experts(h, picked);
  if (sort) {
    Shape shape = indices.shape();
    shape.insert(shape.end(), h.shape().begin() + 1, h.shape().end());
    h = reshape(take(h, *inverse, 0), shape);
  }
  return squeeze(h, -2);
}

}  // namespace

Array SwitchGLU::operator()(const Array& x, const Array& indices) {
  return ThroughExperts(x, indices, [this](const Array& h, const Array& picked) {
    const Array up = up_proj_(h, picked);
    const Array gate = gate_proj_(h, picked);
    return down_proj_(activation_ ? activation_(up, gate) : silu(gate) * up, picked);
  });
}

SwitchMLP::SwitchMLP(int64_t input_dims, int64_t hidden_dims, int64_t num_experts,
                     std::function<Array(const Array&)> activation, bool bias)
    : fc1_(register_module("fc1", SwitchLinear(input_dims, hidden_dims, num_experts, bias))),
      fc2_(register_module("fc2", SwitchLinear(hidden_dims, input_dims, num_experts, bias))),
      activation_(std::move(activation)) {}

Array SwitchMLP::operator()(const Array& x, const Array& indices) {
  return ThroughExperts(x, indices, [this](const Array& h, const Array& picked) {
    return fc2_(activation_(fc1_(h, picked)), picked);
  });
}

Array slice_last_axis(const Array& a, int64_t start, int64_t stop) {
  Shape begin(a.ndim(), 0), end = a.shape();
  begin.back() = start;
  end.back() = stop;
  return slice(a, begin, end);
}

std::pair<Array, Array> softmax_top_k(const Array& logits, int k, bool normalize) {
  const Array gates = softmax(logits, -1);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(gates, -k, -1), -k, gates.shape(-1)));
  Array scores = take_along_axis(gates, indices, -1);
  if (normalize) scores = scores / sum(scores, -1, /*keepdims=*/true);
  return {indices, scores};
}

nn::Parameters stack_experts(nn::Parameters weights, int num_experts, const std::string& experts,
                             const std::string& switch_mlp,
                             const std::map<std::string, std::string>& projections) {
  const std::string marker = absl::StrCat(".", experts, ".");
  // (layer prefix, projection, kind) to each expert's matrix, in first-seen order.
  std::vector<std::tuple<std::string, std::string, std::string>> groups;
  std::map<std::tuple<std::string, std::string, std::string>, std::map<int, Array>> matrices;
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    const size_t at = name.find(marker);
    const std::vector<std::string> parts =
        at == std::string::npos ? std::vector<std::string>{}
                                : absl::StrSplit(name.substr(at + marker.size()), '.');
    int expert = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &expert) || !projections.count(parts[1])) {
      kept.emplace_back(std::move(name), std::move(array));
      continue;
    }
    const auto key = std::make_tuple(name.substr(0, at), parts[1], parts[2]);
    if (!matrices.count(key)) groups.push_back(key);
    matrices[key].emplace(expert, std::move(array));
  }
  for (const auto& key : groups) {
    const auto& [prefix, from, kind] = key;
    const std::map<int, Array>& per_expert = matrices[key];
    std::vector<Array> stacked;
    for (int e = 0; e < num_experts; ++e) {
      auto it = per_expert.find(e);
      if (it == per_expert.end()) {
        detail::ThrowOpError("load_model", absl::StrCat("the checkpoint lacks ", prefix, marker, e,
                                                        ".", from, ".", kind, "."));
      }
      stacked.push_back(it->second);
    }
    if (per_expert.size() != stacked.size()) {
      detail::ThrowOpError("load_model", absl::StrCat(prefix, marker, "N.", from, ".", kind,
                                                      " has ", per_expert.size(),
                                                      " experts, config.json ", num_experts, "."));
    }
    kept.emplace_back(absl::StrCat(prefix, ".", switch_mlp, ".", projections.at(from), ".", kind),
                      stack(stacked));
  }
  return kept;
}

}  // namespace ferry::lm
