#include "client/lm/deepseek_v32.h"

#include <cmath>
#include <limits>

#include "client/array_node.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// The indexer's RoPE: the attention's, traditional only where indexer_rope_interleave.
ModelArgs IndexerRope(const ModelArgs& args) {
  ModelArgs rope = args;
  rope.rope_traditional = args.indexer_rope_interleave;
  return rope;
}

// `mask` with leading axes up to rank 4, (B or 1, 1, L, T).
Array FourDimensional(Array mask) {
  while (mask.ndim() < 4) mask = expand_dims(mask, 0);
  return mask;
}

}  // namespace

DeepseekV32Indexer::DeepseekV32Indexer(const ModelArgs& args)
    : heads_(args.index_n_heads),
      head_dim_(args.index_head_dim),
      topk_(args.index_topk),
      wq_b_(register_module("wq_b", nn::Linear(args.q_lora_rank, heads_ * head_dim_, false))),
      wk_(register_module("wk", nn::Linear(args.hidden_size, head_dim_, false))),
      k_norm_(register_module("k_norm", nn::LayerNorm(head_dim_))),
      weights_proj_(register_module("weights_proj", nn::Linear(args.hidden_size, heads_, false))),
      rope_(args.qk_rope_head_dim, IndexerRope(args)) {}

std::optional<Array> DeepseekV32Indexer::operator()(const Array& x, const Array& qr,
                                                    const std::optional<Array>& mask,
                                                    KVCache* cache,
                                                    const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array q = rope_(swapaxes(reshape(wq_b_(qr), {batch, length, heads_, head_dim_}), 1, 2), at);
  Array k = rope_(reshape(k_norm_(wk_(x)), {batch, 1, length, head_dim_}), at);
  if (cache) k = cache->update_and_fetch(k, zeros_like(k), *position).first;
  // mlx-lm counts the keys it holds (a batch's padding too); a buffer's unwritten positions,
  // which the mask hides, are not among them.
  if ((cache ? cache->offset() : length) <= topk_) return std::nullopt;
  const Array scores = relu(matmul(q, swapaxes(k, -1, -2)));  // (B, heads, L, T)
  const double scale =
      std::pow(static_cast<double>(heads_), -0.5) * std::pow(static_cast<double>(head_dim_), -0.5);
  const Array weights =
      expand_dims(swapaxes(weights_proj_(x) * static_cast<float>(scale), -1, -2), -1);
  Array summed = sum(scores * weights, 1, /*keepdims=*/true);  // (B, 1, L, T)
  if (mask) summed = where(*mask, summed, -std::numeric_limits<float>::infinity());
  const int64_t keys = summed.shape(-1);
  return slice_last_axis(argpartition(summed, static_cast<int>(keys - topk_), -1), keys - topk_,
                         keys);
}

std::pair<KVCache*, KVCache*> deepseek_v32_caches(KVCache* cache) {
  if (!cache) return {nullptr, nullptr};
  if (!cache->is_list() || cache->parts() != 2) {
    detail::ThrowOpError("DeepseekV32",
                         "a layer's cache is a KVCache::list of two plain caches, the latent's "
                         "and the indexer's (the model's make_cache() or make_prompt_cache()).");
  }
  return {&cache->part(0), &cache->part(1)};
}

SelectedKeys select_top_keys(const Array& latent, const Array& k_pe,
                             const std::optional<Array>& mask, const Array& top) {
  const Array chosen = stop_gradient(top);
  const int64_t k = chosen.shape(-1);
  if (chosen.shape(2) == 1) {
    // (B, 1, k, 1): the chosen rows of each key array.
    const Array rows = expand_dims(reshape(chosen, {chosen.shape(0), 1, k}), -1);
    auto gathered = [&](const Array& a) {
      return take_along_axis(a, broadcast_to(rows, {rows.shape(0), 1, k, a.shape(-1)}), 2);
    };
    std::optional<Array> shown;
    if (mask) shown = take_along_axis(FourDimensional(*mask), chosen, -1);
    return {gathered(latent), gathered(k_pe), shown};
  }
  Shape shape = chosen.shape();
  shape.back() = latent.shape(2);
  const Array sparse = put_along_axis(zeros(shape, bool_, chosen.device()), chosen, true, -1);
  return {latent, k_pe, mask ? logical_and(sparse, *mask) : sparse};
}

}  // namespace ferry::lm
