#ifndef FERRY_CLIENT_LM_GPT_BIGCODE_H_
#define FERRY_CLIENT_LM_GPT_BIGCODE_H_

// GPT-BigCode (StarCoder 1, SantaCoder) as mlx-lm builds it (models/gpt_bigcode.py): GPT-2's
// layers (gpt2.h) under "transformer", multi-query attention (one key/value head where
// multi_query, c_attn's queries then the head's keys and values), biases where
// attention_bias and mlp_bias say, an MLP n_inner wide around the exact gelu, tied or an
// lm_head. Hugging Face's names are mlx-lm's: it has no sanitize. mlx-lm's takes its
// positions from np.arange over the cache's offset, and so cannot batch; this one batches
// as GPT-2 does, each row from its own position.

#include <vector>

#include "client/lm/gpt2.h"
#include "client/lm/model.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// model_type "gpt_bigcode": "transformer" and, unless the embeddings are tied, "lm_head".
class GptBigCode : public Model {
 public:
  explicit GptBigCode(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  Gpt2Model& transformer_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GPT_BIGCODE_H_
