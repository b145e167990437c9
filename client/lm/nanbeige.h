#ifndef FERRY_CLIENT_LM_NANBEIGE_H_
#define FERRY_CLIENT_LM_NANBEIGE_H_

// Nanbeige as mlx-lm builds it (models/nanbeige.py): Llama's layers (llama.h) run num_loops
// times over the hidden state with the same weights, each pass with caches of its own (so
// make_cache gives num_loops * num_hidden_layers plain ones) and the final norm after it,
// unless skip_loop_final_norm (then once, after the last pass).

#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "embed_tokens", "layers.N", "norm".
class NanbeigeModel : public nn::Module {
 public:
  explicit NanbeigeModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size); cache: num_loops caches per layer, pass by pass.
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int num_loops_;
  bool skip_loop_final_norm_;
  nn::Embedding& embed_tokens_;
  std::vector<TransformerBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "nanbeige": "model" and, unless tied, "lm_head".
class Nanbeige : public Model {
 public:
  explicit Nanbeige(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's make_cache: a plain cache per layer per pass.
  std::vector<KVCache> make_cache() const override;

 private:
  ModelArgs args_;
  NanbeigeModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_NANBEIGE_H_
