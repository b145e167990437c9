#ifndef FERRY_CLIENT_LM_DEEPSEEK_V32_H_
#define FERRY_CLIENT_LM_DEEPSEEK_V32_H_

// DeepSeek V3.2's sparse attention as mlx-lm builds it (models/deepseek_v32.py): DeepSeek V3
// (deepseek_v3.h, model_type "deepseek_v32") whose every layer has a lightning indexer
// choosing the index_topk keys each query attends to. A layer's cache is a KVCache::list
// (mlx-lm's CacheList) of two plain caches: the latent's, then the indexer's keys (its
// values zeros, as mlx-lm keeps them).

#include <optional>
#include <utility>

#include "client/array.h"
#include "client/lm/kv_cache.h"
#include "client/lm/llama.h"
#include "client/lm/model_args.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's Indexer: "wq_b" (q_lora_rank to index_n_heads * index_head_dim), "wk" (hidden to
// index_head_dim), "k_norm" (a LayerNorm), "weights_proj" (hidden to index_n_heads). A key's
// score for a query is the sum over heads of relu(q . k) times the head's weight for the
// query (weights_proj(x) * (heads * index_head_dim)^-0.5); q and k rotated over their first
// qk_rope_head_dim features (traditionally where indexer_rope_interleave).
class DeepseekV32Indexer : public nn::Module {
 public:
  explicit DeepseekV32Indexer(const ModelArgs& args);
  // For x (B, L, hidden_size) and the queries' bottleneck qr (B, L, q_lora_rank): the
  // index_topk best keys of each query, (B, 1, L, index_topk) indices into the keys `mask`
  // (bool, over the cache's keys or the L of the sequence) covers, hidden keys scoring -inf.
  // The cache (the indexer's, or none) gets the L new keys first. None while the keys number
  // index_topk or fewer: every query then attends to all it sees.
  std::optional<Array> operator()(const Array& x, const Array& qr, const std::optional<Array>& mask,
                                  KVCache* cache, const std::optional<Array>& position);

 private:
  int heads_;
  int64_t head_dim_, topk_;
  nn::Linear &wq_b_, &wk_;
  nn::LayerNorm& k_norm_;
  nn::Linear& weights_proj_;
  Rope rope_;
};

// A V3.2 layer's cache, a KVCache::list of two, as its latent's and its indexer's (both none
// without a cache). Throws INVALID_ARGUMENT for a cache of another kind.
std::pair<KVCache*, KVCache*> deepseek_v32_caches(KVCache* cache);

// The latent attention's keys reduced to the indexer's choice `top` (B, 1, L, k): one query
// (a decoding step) gathers its k keys of latent (B, 1, T, kv_lora_rank) and k_pe (B, 1, T,
// qk_rope_head_dim), and its mask's columns; a longer one keeps them all, the mask then
// showing each query its chosen keys only (and among them those `mask` shows).
struct SelectedKeys {
  Array latent, k_pe;
  std::optional<Array> mask;
};
SelectedKeys select_top_keys(const Array& latent, const Array& k_pe,
                             const std::optional<Array>& mask, const Array& top);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_DEEPSEEK_V32_H_
