#include "client/lm/tuner/dora.h"

#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm::tuner {
namespace {

std::optional<Array> Find(const nn::Parameters& params, const std::string& name) {
  for (const auto& [n, value] : params) {
    if (n == name) return value;
  }
  return std::nullopt;
}

// The layer's weight, dequantized when it is quantized (mlx-lm's _dequantized_weight).
Array DequantizedWeight(const nn::QuantizableLayer& layer) {
  const nn::Parameters params = layer.parameters();
  const Array weight = *Find(params, "weight");
  const std::optional<nn::Quantization>& q = layer.quantization();
  if (!q) return weight;
  return dequantize(weight, *Find(params, "scales"), Find(params, "biases"), q->group_size, q->bits,
                    q->mode);
}

int64_t InputDims(const nn::Linear& linear) {
  const Array weight = *Find(linear.parameters(), "weight");
  const std::optional<nn::Quantization>& q = linear.quantization();
  if (!q) return weight.shape(1);
  return weight.shape(1) * 32 / q->bits.value_or(q->mode == "mxfp8" ? 8 : 4);
}

}  // namespace

DoRALinear::DoRALinear(nn::Linear& linear, int rank, double scale, double dropout)
    : linear_(linear), scale_(scale), dropout_(register_module("dropout", nn::Dropout(dropout))) {
  if (rank <= 0)
    detail::ThrowOpError("DoRALinear", absl::StrCat("rank must be positive, got ", rank, "."));
  const Array weight = DequantizedWeight(linear);
  const int64_t input_dims = InputDims(linear), output_dims = weight.shape(0);
  const double bound = 1.0 / std::sqrt(static_cast<double>(input_dims));
  register_parameter("lora_a", random::uniform({input_dims, rank}, float32, -bound, bound));
  register_parameter("lora_b", zeros({rank, output_dims}));
  register_parameter("m", linalg::norm(astype(weight, float32), std::vector<int>{1}));
}

Array DoRALinear::operator()(const Array& x) {
  const Array w = DequantizedWeight(linear_);
  const Array& a = parameter("lora_a");
  const Array& b = parameter("lora_b");
  const float s = static_cast<float>(scale_);
  const Array z = matmul(matmul(dropout_(x), a), b);
  Array out = matmul(x, transpose(w)) + astype(z * s, x.dtype());
  const Array adapted = w + matmul(transpose(b) * s, transpose(a));
  // As mlx-lm: the norm is a constant to the gradient; only m and the update train.
  const Array denom = stop_gradient(linalg::norm(adapted, std::vector<int>{1}));
  out = astype(parameter("m") / denom, x.dtype()) * out;
  if (std::optional<Array> bias = Find(linear_.parameters(), "bias")) out = out + *bias;
  return out;
}

Array DoRALinear::fused_weight(const Array& weight) const {
  const Array delta = matmul(transpose(parameter("lora_b")) * static_cast<float>(scale_),
                             transpose(parameter("lora_a")));
  const Array updated = weight + astype(delta, weight.dtype());
  const Array norm_scale = parameter("m") / linalg::norm(updated, std::vector<int>{1});
  return expand_dims(norm_scale, 1) * updated;
}

DoRAEmbedding::DoRAEmbedding(nn::Embedding& embedding, int rank, double scale, double dropout)
    : embedding_(embedding),
      scale_(scale),
      dropout_(register_module("dropout", nn::Dropout(dropout))) {
  if (rank <= 0)
    detail::ThrowOpError("DoRAEmbedding", absl::StrCat("rank must be positive, got ", rank, "."));
  if (embedding.quantized()) {
    detail::ThrowOpError("DoRAEmbedding",
                         "a quantized embedding is not supported (nor in mlx-lm).");
  }
  const Array weight = *Find(embedding.parameters(), "weight");
  const int64_t num_embeddings = weight.shape(0), dims = weight.shape(1);
  const double bound = 1.0 / std::sqrt(static_cast<double>(num_embeddings));
  register_parameter("lora_a", random::uniform({num_embeddings, rank}, float32, -bound, bound));
  register_parameter("lora_b", zeros({rank, dims}));
  register_parameter("m", linalg::norm(weight, std::vector<int>{1}));
}

Array DoRAEmbedding::operator()(const Array& indices) {
  const Array y = take(*Find(embedding_.parameters(), "weight"), indices, 0);
  const Array z = matmul(take(parameter("lora_a"), indices, 0) * static_cast<float>(scale_),
                         parameter("lora_b"));
  const Array out = y + astype(dropout_(z), y.dtype());
  const Array denom = stop_gradient(linalg::norm(y + z, std::vector<int>{-1}));
  return expand_dims(take(parameter("m"), indices, 0) / denom, -1) * out;
}

Array DoRAEmbedding::as_linear(const Array& x) {
  const Array w = *Find(embedding_.parameters(), "weight");
  const Array& a = parameter("lora_a");
  const Array& b = parameter("lora_b");
  const float s = static_cast<float>(scale_);
  const Array z = matmul(matmul(dropout_(x), transpose(b)), transpose(a));
  const Array out = matmul(x, transpose(w)) + astype(z * s, x.dtype());
  const Array denom = stop_gradient(linalg::norm(w + matmul(a * s, b), std::vector<int>{1}));
  return (parameter("m") / denom) * out;
}

Array DoRAEmbedding::fused_weight(const Array& weight) const {
  const Array delta = matmul(parameter("lora_a") * static_cast<float>(scale_), parameter("lora_b"));
  const Array updated = weight + astype(delta, weight.dtype());
  return expand_dims(parameter("m") / linalg::norm(updated, std::vector<int>{1}), 1) * updated;
}

DoRALinear& to_dora(nn::Linear& linear, const LoRAConfig& config) {
  if (linear.adapter() != nullptr) detail::ThrowOpError("to_dora", "the layer is adapted already.");
  auto adapter = std::make_unique<DoRALinear>(linear, config.rank, config.scale, config.dropout);
  DoRALinear& out = *adapter;
  linear.set_adapter(std::move(adapter));
  return out;
}

DoRAEmbedding& to_dora(nn::Embedding& embedding, const LoRAConfig& config) {
  if (embedding.adapter() != nullptr) {
    detail::ThrowOpError("to_dora", "the embedding is adapted already.");
  }
  auto adapter =
      std::make_unique<DoRAEmbedding>(embedding, config.rank, config.scale, config.dropout);
  DoRAEmbedding& out = *adapter;
  embedding.set_adapter(std::move(adapter));
  return out;
}

}  // namespace ferry::lm::tuner
