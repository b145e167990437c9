#ifndef FERRY_CLIENT_LM_GPT_NEOX_H_
#define FERRY_CLIENT_LM_GPT_NEOX_H_

// GPT-NeoX (Pythia) as mlx-lm builds it (models/gpt_neox.py): query_key_value one biased
// projection laid out per head (each head's queries, keys and values side by side, split
// after the heads), RoPE over the first int(head_dim * rotary_pct) features of each head
// (ModelArgs::partial_rotary_factor), LayerNorms with bias, an MLP of dense_h_to_4h and
// dense_4h_to_h around gelu_approx, attention and the MLP side by side on two norms of the
// same input where use_parallel_residual (ModelArgs::parallel_residual), else one after the
// other; its own embed_out. Its sanitize takes Hugging Face's names (gpt_neox.layers.N as
// model.h.N) and drops the attention's mask and rotary buffers.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

class GptNeoxAttention : public nn::Module {
 public:
  explicit GptNeoxAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_;
  int64_t head_dim_;
  nn::Linear &query_key_value_, &dense_;
  Rope rope_;
};

// dense_4h_to_h(gelu_approx(dense_h_to_4h(x))), 4 * hidden_size wide, biased.
class GptNeoxMlp : public nn::Layer {
 public:
  explicit GptNeoxMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &dense_h_to_4h_, &dense_4h_to_h_;
};

class GptNeoxBlock : public nn::Module {
 public:
  explicit GptNeoxBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  bool parallel_residual_;
  GptNeoxAttention& attention_;
  GptNeoxMlp& mlp_;
  nn::LayerNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_in", "embed_out", "h.N", "final_layer_norm": logits, as mlx-lm's GPTNeoXModel.
class GptNeoxModel : public nn::Module {
 public:
  explicit GptNeoxModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embed_in_;
  nn::Linear& embed_out_;
  std::vector<GptNeoxBlock*> h_;
  nn::LayerNorm* final_layer_norm_ = nullptr;
};

// model_type "gpt_neox": "model".
class GptNeox : public Model {
 public:
  explicit GptNeox(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: names ending in .attention.bias, .attention.masked_bias and
  // .attention.rotary_emb.inv_freq dropped, the rest under "model." with .gpt_neox.layers. as
  // .h. and .gpt_neox. as ".".
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  GptNeoxModel& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GPT_NEOX_H_
