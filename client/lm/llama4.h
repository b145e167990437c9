#ifndef FERRY_CLIENT_LM_LLAMA4_H_
#define FERRY_CLIENT_LM_LLAMA4_H_

// Llama 4 as mlx-lm builds it (models/llama4.py, llama4_text.py), on Llama's layers
// (llama.h: traditional RoPE, weightless q/k norms and temperature tuning are its Attention's
// options, ModelArgs says which):
// - "llama4" (Scout, Maverick; its text model under "text_config", the vision tower dropped):
//   iRoPE, three layers of four attending with RoPE within chunks of attention_chunk_size
//   positions (make_prompt_cache gives them KVCache::chunked, as mlx-lm's make_cache gives
//   ChunkedKVCache) and the fourth over every position without RoPE, its queries
//   temperature-tuned; every interleave_moe_layer_step-th feed-forward a mixture of experts
//   (Llama4Moe), the others an MLP of intermediate_size_mlp.
// - "llama4_text": dense, RoPE where no_rope_layers says 1, every layer over every position.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "experts" (SwitchGLU of intermediate_size), "router", "shared_expert": each token through
// its top expert, the input scaled by that expert's sigmoid score, plus the shared expert.
class Llama4Moe : public nn::Layer {
 public:
  explicit Llama4Moe(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  SwitchGLU& experts_;
  nn::Linear& router_;
  Mlp& shared_expert_;
};

// "embed_tokens", "layers.N" (self_attn, feed_forward, the two norms), "norm".
class Llama4TextModel : public nn::Module {
 public:
  explicit Llama4TextModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }
  // llama4's layers off every fourth; none of llama4_text's.
  std::optional<int64_t> attention_chunk(int layer) const;

 private:
  int64_t chunk_;  // 0: every layer global (llama4_text)
  nn::Embedding& embed_tokens_;
  std::vector<TransformerBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// mlx-lm's llama4 LanguageModel: "model" and "lm_head".
class Llama4LanguageModel : public nn::Module {
 public:
  explicit Llama4LanguageModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  const Llama4TextModel& model() const { return model_; }

 private:
  Llama4TextModel& model_;
  nn::Linear& lm_head_;
};

// model_type "llama4": "language_model".
class Llama4 : public Model {
 public:
  explicit Llama4(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::optional<int64_t> attention_chunk(int layer) const override {
    return language_model_.model().attention_chunk(layer);
  }
  // mlx-lm's sanitize: the vision tower and projector dropped, each layer's experts'
  // gate_up_proj (E, hidden, 2 * intermediate) split into gate_proj and up_proj and
  // down_proj (E, intermediate, hidden) transposed, as SwitchGLU holds them.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Llama4LanguageModel& language_model_;
};

// model_type "llama4_text": "model" and, unless the embeddings are tied, "output".
class Llama4Text : public Model {
 public:
  explicit Llama4Text(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  Llama4TextModel& model_;
  nn::Linear* output_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LLAMA4_H_
