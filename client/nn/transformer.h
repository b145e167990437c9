#ifndef FERRY_CLIENT_NN_TRANSFORMER_H_
#define FERRY_CLIENT_NN_TRANSFORMER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "client/nn/dropout.h"
#include "client/nn/linear.h"
#include "client/nn/module.h"
#include "client/nn/normalization.h"

namespace ferry::nn {

// Attention with num_heads heads over projected queries, keys and values (children
// query_proj, key_proj, value_proj, out_proj, as MLX's MultiHeadAttention), through
// fast::scaled_dot_product_attention with scale 1 / sqrt(head dims).
class MultiHeadAttention : public Module {
 public:
  // The input and output widths when they are not `dims` (MLX's keyword arguments).
  struct Dims {
    std::optional<int64_t> query_input, key_input, value_input, value, value_output;
  };

  MultiHeadAttention(int64_t dims, int num_heads, bool bias = false);
  MultiHeadAttention(int64_t dims, int num_heads, const Dims& widths, bool bias = false);

  // queries (B, L, query_input), keys (B, S, key_input), values (B, S, value_input); a mask
  // broadcasting to (B, num_heads, L, S): bool keeps where true, a floating one is added.
  Array operator()(const Array& queries, const Array& keys, const Array& values,
                   const std::optional<Array>& mask = std::nullopt);

  // (n, n) of 0 on and below the diagonal and dtype's lowest value above it, on `device`.
  static Array create_additive_causal_mask(int64_t n, Dtype dtype = float32,
                                           Device device = default_device());

 private:
  int num_heads_;
  Linear* query_proj_;
  Linear* key_proj_;
  Linear* value_proj_;
  Linear* out_proj_;
};

// A transformer encoder block as MLX's: attention then an MLP (linear1, the activation,
// linear2), each with a residual, normalized before (norm_first) or after; children
// attention, ln1, ln2, linear1, linear2, dropout1, dropout2.
class TransformerEncoderLayer : public Module {
 public:
  using Activation = std::function<Array(const Array&)>;
  TransformerEncoderLayer(int64_t dims, int num_heads, int64_t mlp_dims = 0, double dropout = 0.0,
                          Activation activation = nullptr, bool norm_first = true);
  Array operator()(const Array& x, const std::optional<Array>& mask = std::nullopt);

 private:
  MultiHeadAttention* attention_;
  LayerNorm* ln1_;
  LayerNorm* ln2_;
  Linear* linear1_;
  Linear* linear2_;
  Dropout* dropout1_;
  Dropout* dropout2_;
  Activation activation_;
  bool norm_first_;
};

// num_layers encoder blocks ("layers.0", ...) and a final LayerNorm ("ln"), as MLX's
// TransformerEncoder. mlp_dims 0 means 4 * dims; a null activation, relu. With checkpoint,
// each block's backward pass recomputes its activations (nn::checkpoint).
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(int num_layers, int64_t dims, int num_heads, int64_t mlp_dims = 0,
                     double dropout = 0.0, TransformerEncoderLayer::Activation activation = nullptr,
                     bool norm_first = true, bool checkpoint = false);
  Array operator()(const Array& x, const std::optional<Array>& mask = std::nullopt);

 private:
  std::vector<TransformerEncoderLayer*> layers_;
  LayerNorm* ln_;
  bool checkpoint_;
};

// A decoder block as MLX's: self-attention over x, cross-attention to the encoder's
// `memory`, then the MLP, each with a residual; children self_attention, cross_attention,
// ln1, ln2, ln3, linear1, linear2, dropout1, dropout2, dropout3.
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t dims, int num_heads, int64_t mlp_dims = 0, double dropout = 0.0,
                          TransformerEncoderLayer::Activation activation = nullptr,
                          bool norm_first = true);
  Array operator()(const Array& x, const Array& memory,
                   const std::optional<Array>& x_mask = std::nullopt,
                   const std::optional<Array>& memory_mask = std::nullopt);

 private:
  MultiHeadAttention* self_attention_;
  MultiHeadAttention* cross_attention_;
  LayerNorm* ln1_;
  LayerNorm* ln2_;
  LayerNorm* ln3_;
  Linear* linear1_;
  Linear* linear2_;
  Dropout* dropout1_;
  Dropout* dropout2_;
  Dropout* dropout3_;
  TransformerEncoderLayer::Activation activation_;
  bool norm_first_;
};

// num_layers decoder blocks ("layers.0", ...) and a final LayerNorm ("ln").
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(int num_layers, int64_t dims, int num_heads, int64_t mlp_dims = 0,
                     double dropout = 0.0, TransformerEncoderLayer::Activation activation = nullptr,
                     bool norm_first = true, bool checkpoint = false);
  Array operator()(const Array& x, const Array& memory,
                   const std::optional<Array>& x_mask = std::nullopt,
                   const std::optional<Array>& memory_mask = std::nullopt);

 private:
  std::vector<TransformerDecoderLayer*> layers_;
  LayerNorm* ln_;
  bool checkpoint_;
};

// The encoder-decoder Transformer of "Attention Is All You Need", as MLX's Transformer
// (children encoder and decoder): the decoder reads tgt and what the encoder made of src.
class Transformer : public Module {
 public:
  Transformer(int64_t dims = 512, int num_heads = 8, int num_encoder_layers = 6,
              int num_decoder_layers = 6, int64_t mlp_dims = 0, double dropout = 0.0,
              TransformerEncoderLayer::Activation activation = nullptr, bool norm_first = true,
              bool checkpoint = false);
  Array operator()(const Array& src, const Array& tgt,
                   const std::optional<Array>& src_mask = std::nullopt,
                   const std::optional<Array>& tgt_mask = std::nullopt,
                   const std::optional<Array>& memory_mask = std::nullopt);

 private:
  TransformerEncoder* encoder_;
  TransformerDecoder* decoder_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_TRANSFORMER_H_
