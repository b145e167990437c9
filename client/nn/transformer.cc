#include "client/nn/transformer.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/nn/value_and_grad.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::nn {
namespace {

// (B, L, H * D) as (B, H, L, D).
Array SplitHeads(const Array& x, int heads) {
  if (x.ndim() != 3) {
    detail::ThrowOpError("MultiHeadAttention",
                         absl::StrCat("queries, keys and values must be (batch, length, features), "
                                      "got shape ",
                                      core::ShapeToString(x.shape()), "."));
  }
  return transpose(reshape(x, {x.shape(0), x.shape(1), heads, x.shape(2) / heads}), {0, 2, 1, 3});
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t dims, int num_heads, bool bias)
    : MultiHeadAttention(dims, num_heads, Dims{}, bias) {}

MultiHeadAttention::MultiHeadAttention(int64_t dims, int num_heads, const Dims& widths, bool bias)
    : num_heads_(num_heads) {
  if (num_heads <= 0 || dims <= 0 || dims % num_heads != 0) {
    detail::ThrowOpError(
        "MultiHeadAttention",
        absl::StrCat("dims (", dims, ") must be a positive multiple of num_heads (", num_heads,
                     ")."));
  }
  const int64_t key_input = widths.key_input.value_or(dims);
  const int64_t value = widths.value.value_or(dims);
  query_proj_ =
      &register_module("query_proj", Linear(widths.query_input.value_or(dims), dims, bias));
  key_proj_ = &register_module("key_proj", Linear(key_input, dims, bias));
  value_proj_ =
      &register_module("value_proj", Linear(widths.value_input.value_or(key_input), value, bias));
  out_proj_ = &register_module("out_proj", Linear(value, widths.value_output.value_or(dims), bias));
}

Array MultiHeadAttention::operator()(const Array& queries, const Array& keys, const Array& values,
                                     const std::optional<Array>& mask) {
  const Array q = SplitHeads((*query_proj_)(queries), num_heads_);
  const Array k = SplitHeads((*key_proj_)(keys), num_heads_);
  const Array v = SplitHeads((*value_proj_)(values), num_heads_);
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(q.shape(-1))));
  const Array heads = fast::scaled_dot_product_attention(q, k, v, scale, "", mask);
  const Array joined = transpose(heads, {0, 2, 1, 3});
  return (*out_proj_)(
      reshape(joined, {joined.shape(0), joined.shape(1), joined.shape(2) * joined.shape(3)}));
}

Array MultiHeadAttention::create_additive_causal_mask(int64_t n, Dtype dtype, Device device) {
  const Array indices = arange(static_cast<double>(n), int32, device);
  const Array above = expand_dims(indices, 1) < expand_dims(indices, 0);
  return astype(above, dtype) * -finfo_max(dtype);
}

TransformerEncoderLayer::TransformerEncoderLayer(int64_t dims, int num_heads, int64_t mlp_dims,
                                                 double dropout, Activation activation,
                                                 bool norm_first)
    : activation_(activation ? std::move(activation)
                             : Activation([](const Array& x) { return relu(x); })),
      norm_first_(norm_first) {
  if (mlp_dims == 0) mlp_dims = 4 * dims;
  attention_ = &register_module("attention", MultiHeadAttention(dims, num_heads));
  ln1_ = &register_module("ln1", LayerNorm(dims));
  ln2_ = &register_module("ln2", LayerNorm(dims));
  linear1_ = &register_module("linear1", Linear(dims, mlp_dims));
  linear2_ = &register_module("linear2", Linear(mlp_dims, dims));
  dropout1_ = &register_module("dropout1", Dropout(dropout));
  dropout2_ = &register_module("dropout2", Dropout(dropout));
}

Array TransformerEncoderLayer::operator()(const Array& x, const std::optional<Array>& mask) {
  auto mlp = [&](const Array& h) { return (*linear2_)((*dropout2_)(activation_((*linear1_)(h)))); };
  if (norm_first_) {
    const Array normed = (*ln1_)(x);
    const Array h = x + (*dropout1_)((*attention_)(normed, normed, normed, mask));
    return h + mlp((*ln2_)(h));
  }
  const Array h = (*ln1_)(x + (*dropout1_)((*attention_)(x, x, x, mask)));
  return (*ln2_)(h + mlp(h));
}

namespace {

// The arrays that are there, in order: a checkpointed block's inputs (its masks optional).
std::vector<Array> Present(std::initializer_list<std::optional<Array>> arrays) {
  std::vector<Array> present;
  for (const std::optional<Array>& a : arrays) {
    if (a) present.push_back(*a);
  }
  return present;
}

}  // namespace

TransformerEncoder::TransformerEncoder(int num_layers, int64_t dims, int num_heads,
                                       int64_t mlp_dims, double dropout,
                                       TransformerEncoderLayer::Activation activation,
                                       bool norm_first, bool checkpoint)
    : checkpoint_(checkpoint) {
  for (int i = 0; i < num_layers; ++i) {
    layers_.push_back(&register_module(
        absl::StrCat("layers.", i),
        TransformerEncoderLayer(dims, num_heads, mlp_dims, dropout, activation, norm_first)));
  }
  ln_ = &register_module("ln", LayerNorm(dims));
}

Array TransformerEncoder::operator()(const Array& x, const std::optional<Array>& mask) {
  Array h = x;
  for (TransformerEncoderLayer* layer : layers_) {
    if (!checkpoint_) {
      h = (*layer)(h, mask);
      continue;
    }
    h = nn::checkpoint(*layer, [layer, masked = mask.has_value()](const std::vector<Array>& in) {
      return std::vector<Array>{
          (*layer)(in[0], masked ? std::optional<Array>(in[1]) : std::nullopt)};
    })(Present({h, mask}))[0];
  }
  return (*ln_)(h);
}

TransformerDecoderLayer::TransformerDecoderLayer(int64_t dims, int num_heads, int64_t mlp_dims,
                                                 double dropout,
                                                 TransformerEncoderLayer::Activation activation,
                                                 bool norm_first)
    : activation_(
          activation ? std::move(activation)
                     : TransformerEncoderLayer::Activation([](const Array& x) { return relu(x); })),
      norm_first_(norm_first) {
  if (mlp_dims == 0) mlp_dims = 4 * dims;
  self_attention_ = &register_module("self_attention", MultiHeadAttention(dims, num_heads));
  cross_attention_ = &register_module("cross_attention", MultiHeadAttention(dims, num_heads));
  ln1_ = &register_module("ln1", LayerNorm(dims));
  ln2_ = &register_module("ln2", LayerNorm(dims));
  ln3_ = &register_module("ln3", LayerNorm(dims));
  linear1_ = &register_module("linear1", Linear(dims, mlp_dims));
  linear2_ = &register_module("linear2", Linear(mlp_dims, dims));
  dropout1_ = &register_module("dropout1", Dropout(dropout));
  dropout2_ = &register_module("dropout2", Dropout(dropout));
  dropout3_ = &register_module("dropout3", Dropout(dropout));
}

Array TransformerDecoderLayer::operator()(const Array& x, const Array& memory,
                                          const std::optional<Array>& x_mask,
                                          const std::optional<Array>& memory_mask) {
  auto mlp = [&](const Array& h) { return (*linear2_)((*dropout3_)(activation_((*linear1_)(h)))); };
  if (norm_first_) {
    Array y = (*ln1_)(x);
    Array h = x + (*dropout1_)((*self_attention_)(y, y, y, x_mask));
    y = (*ln2_)(h);
    h = h + (*dropout2_)((*cross_attention_)(y, memory, memory, memory_mask));
    return h + mlp((*ln3_)(h));
  }
  Array h = (*ln1_)(x + (*dropout1_)((*self_attention_)(x, x, x, x_mask)));
  h = (*ln2_)(h + (*dropout2_)((*cross_attention_)(h, memory, memory, memory_mask)));
  return (*ln3_)(h + mlp(h));
}

TransformerDecoder::TransformerDecoder(int num_layers, int64_t dims, int num_heads,
                                       int64_t mlp_dims, double dropout,
                                       TransformerEncoderLayer::Activation activation,
                                       bool norm_first, bool checkpoint)
    : checkpoint_(checkpoint) {
  for (int i = 0; i < num_layers; ++i) {
    layers_.push_back(&register_module(
        absl::StrCat("layers.", i),
        TransformerDecoderLayer(dims, num_heads, mlp_dims, dropout, activation, norm_first)));
  }
  ln_ = &register_module("ln", LayerNorm(dims));
}

Array TransformerDecoder::operator()(const Array& x, const Array& memory,
                                     const std::optional<Array>& x_mask,
                                     const std::optional<Array>& memory_mask) {
  Array h = x;
  for (TransformerDecoderLayer* layer : layers_) {
    if (!checkpoint_) {
      h = (*layer)(h, memory, x_mask, memory_mask);
      continue;
    }
    const bool has_x_mask = x_mask.has_value();
    const bool has_memory_mask = memory_mask.has_value();
    h = nn::checkpoint(*layer, [=](const std::vector<Array>& in) {
      size_t next = 2;
      std::optional<Array> xm, mm;
      if (has_x_mask) xm = in[next++];
      if (has_memory_mask) mm = in[next++];
      return std::vector<Array>{(*layer)(in[0], in[1], xm, mm)};
    })(Present({h, memory, x_mask, memory_mask}))[0];
  }
  return (*ln_)(h);
}

Transformer::Transformer(int64_t dims, int num_heads, int num_encoder_layers,
                         int num_decoder_layers, int64_t mlp_dims, double dropout,
                         TransformerEncoderLayer::Activation activation, bool norm_first,
                         bool checkpoint) {
  encoder_ =
      &register_module("encoder", TransformerEncoder(num_encoder_layers, dims, num_heads, mlp_dims,
                                                     dropout, activation, norm_first, checkpoint));
  decoder_ =
      &register_module("decoder", TransformerDecoder(num_decoder_layers, dims, num_heads, mlp_dims,
                                                     dropout, activation, norm_first, checkpoint));
}

Array Transformer::operator()(const Array& src, const Array& tgt,
                              const std::optional<Array>& src_mask,
                              const std::optional<Array>& tgt_mask,
                              const std::optional<Array>& memory_mask) {
  return (*decoder_)(tgt, (*encoder_)(src, src_mask), tgt_mask, memory_mask);
}

}  // namespace ferry::nn
