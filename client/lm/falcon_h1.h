#ifndef FERRY_CLIENT_LM_FALCON_H1_H_
#define FERRY_CLIENT_LM_FALCON_H1_H_

// TII's Falcon-H1 as mlx-lm builds it (models/falcon_h1.py): every layer runs a Mamba-2 mixer
// (mamba2.h's, its gated norm optional: ModelArgs::mamba_rms_norm) and Llama's attention side
// by side on one normed input, their outputs added to the residual, then a SwiGLU MLP. Its
// muP multipliers are folded into a Hugging Face checkpoint's weights by sanitize, as
// mlx-lm's; a tied model's logits are the embedding's times lm_head_multiplier /
// embedding_multiplier. A layer's cache is a KVCache::list (mlx-lm's CacheList) of the
// mixer's KVCache::arrays(2) and the attention's plain cache.

#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/mamba2.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "feed_forward" (Llama's Mlp), "mamba", "self_attn", "input_layernorm", "pre_ff_layernorm".
class FalconH1Layer : public nn::Module {
 public:
  explicit FalconH1Layer(const ModelArgs& args);
  // `cache` is the layer's KVCache::list: part 0 the mixer's, part 1 the attention's.
  Array operator()(const Array& x, const std::optional<Array>& attention_mask,
                   const std::optional<Array>& mamba_mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Mlp& feed_forward_;
  Mamba2Mixer& mamba_;
  Attention& self_attn_;
  nn::RMSNorm &input_layernorm_, &pre_ff_layernorm_;
};

// "embed_tokens", "layers.N", "final_layernorm".
class FalconH1Model : public nn::Module {
 public:
  explicit FalconH1Model(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<FalconH1Layer*> layers_;
  nn::RMSNorm* final_layernorm_ = nullptr;
};

// model_type "falcon_h1": "model" and, unless the embeddings are tied, "lm_head".
class FalconH1 : public Model {
 public:
  explicit FalconH1(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::list({KVCache::arrays(2), KVCache()}) for every layer.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's, for a Hugging Face checkpoint (layer 0's conv weight (C, 1, K)); another
  // (mlx-lm's, multipliers folded in already) is taken as it is. The conv weights become
  // (C, K, 1), and the multipliers are folded in: embed_tokens times embedding_multiplier,
  // lm_head times lm_head_multiplier, q_proj and k_proj times attention_in_multiplier, o_proj
  // times attention_out_multiplier, out_proj times ssm_out_multiplier, gate_proj and
  // down_proj times mlp_multipliers, in_proj's rows times ssm_in_multiplier and the
  // ssm_multipliers of their part (gate, x, B, C, dt).
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  FalconH1Model& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_FALCON_H1_H_
