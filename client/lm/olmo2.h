#ifndef FERRY_CLIENT_LM_OLMO2_H_
#define FERRY_CLIENT_LM_OLMO2_H_

// OLMo 2 and OLMo 3 as mlx-lm builds them (models/olmo2.py, olmo3.py): Llama's projections
// and MLP, but queries and keys normalized over all their heads at once (RMSNorm of the
// whole projection) and the norms after the attention and the MLP rather than before.
// OLMo 3 also attends over a sliding window in its "sliding_attention" layers (every layer
// but each fourth by default; a ring of the window in make_prompt_cache), whose RoPE is
// plain while the full layers' follows rope_scaling. EXAONE 4 (models/exaone4.py) is these
// layers with q and k normalized per head (ModelArgs::qk_norm) and, where its config gives a
// sliding_window_pattern, sliding layers whose RoPE follows rope_scaling and global ones
// without any (ModelArgs::no_rope_layers).

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "self_attn", "mlp", "post_attention_layernorm", "post_feedforward_layernorm".
class Olmo2Block : public nn::Module {
 public:
  // Layer `layer` of the model.
  Olmo2Block(const ModelArgs& args, int layer);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  Attention& self_attn_;  // its q/k norms over the whole projections
  Mlp& mlp_;
  nn::RMSNorm &post_attention_layernorm_, &post_feedforward_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Olmo2Model : public nn::Module {
 public:
  explicit Olmo2Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t window_;
  nn::Embedding& embed_tokens_;
  std::vector<Olmo2Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "olmo2", "olmo3" or "exaone4": "model" and, unless the embeddings are tied,
// "lm_head".
class Olmo2 : public Model {
 public:
  explicit Olmo2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // sliding_window for OLMo 3's "sliding_attention" layers.
  std::optional<int64_t> sliding_window(int layer) const override;

 private:
  ModelArgs args_;
  Olmo2Model& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_OLMO2_H_
