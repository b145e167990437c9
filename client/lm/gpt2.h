#ifndef FERRY_CLIENT_LM_GPT2_H_
#define FERRY_CLIENT_LM_GPT2_H_

// GPT-2 as mlx-lm builds it (models/gpt2.py): learned position embeddings (wpe) added to the
// token embeddings, blocks of LayerNorms with bias before a fused, biased attention (c_attn:
// queries, keys and values one after another) and an MLP of c_fc and c_proj around
// gelu_approx, the output the token embedding. Its sanitize takes Hugging Face's checkpoint:
// Conv1D weights (in, out) transposed, the attention's causal-mask buffers dropped, every
// name under "model.". GPT-BigCode (gpt_bigcode.h) is these layers with options.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// The positions of `length` tokens on `device` continuing `cache` (none: a whole sequence
// from 0; `position` its offset_array), as learned position embeddings take them: (length,)
// without a cache, else (B or 1, length) from each row's own count of tokens (rope_offset).
Array learned_positions(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        const std::optional<Array>& position);

// c_attn's queries (hidden_size), keys and values (num_key_value_heads heads each), biased
// where attention_bias; c_proj biased where output_bias.
class Gpt2Attention : public nn::Module {
 public:
  explicit Gpt2Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &c_attn_, &c_proj_;
};

// c_proj(gelu(c_fc(x))), intermediate_size wide, biased where mlp_bias; gelu_approx (GPT-2's)
// or the exact one (GPT-BigCode's).
class Gpt2Mlp : public nn::Layer {
 public:
  Gpt2Mlp(const ModelArgs& args, bool gelu_approx);
  Array operator()(const Array& x) override;

 private:
  bool gelu_approx_;
  nn::Linear &c_fc_, &c_proj_;
};

class Gpt2Block : public nn::Module {
 public:
  Gpt2Block(const ModelArgs& args, bool gelu_approx);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Gpt2Attention& attn_;
  Gpt2Mlp& mlp_;
  nn::LayerNorm &ln_1_, &ln_2_;
};

// "wte", "wpe" (max_position_embeddings rows), "h.N", "ln_f".
class Gpt2Model : public nn::Module {
 public:
  Gpt2Model(const ModelArgs& args, bool gelu_approx);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& wte() { return wte_; }

 private:
  nn::Embedding &wte_, &wpe_;
  std::vector<Gpt2Block*> h_;
  nn::LayerNorm* ln_f_ = nullptr;
};

// model_type "gpt2": "model", its output the token embedding.
class Gpt2 : public Model {
 public:
  explicit Gpt2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: h.N.attn.bias dropped, h.N's c_attn, c_proj and c_fc weights transposed (where
  // named so, without "model."), then every name not under "model." put there.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Gpt2Model& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GPT2_H_
