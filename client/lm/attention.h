#ifndef FERRY_CLIENT_LM_ATTENTION_H_
#define FERRY_CLIENT_LM_ATTENTION_H_

// A layer's attention over its cache, as mlx-lm's models/base.py scaled_dot_product_attention
// dispatches it: the models call this one function with their new keys and values, and it
// writes them into the cache and attends over what the cache holds, through
// fast::scaled_dot_product_attention for a plain or rotating cache and through
// quantized_matmul for a quantized one (KVCache::to_quantized), so a model runs either
// unchanged.

#include <optional>

#include "client/array.h"
#include "client/lm/kv_cache.h"

namespace ferry::lm {

// softmax(queries keys^T * scale + mask) values for queries (B, Hq, L, D) and keys (B, Hkv, L,
// D), values (B, Hkv, L, Dv) of the same L (grouped-query heads: Hq a multiple of Hkv). With a
// cache, keys and values are written into it at `position` (its offset_array) and the
// queries attend over every key it holds under `mask` (its make_mask, bool); without one,
// over their own keys, causally unless a mask is given. `sinks` (Hq,): gpt-oss's attention
// sinks. A quantized cache's attention is mlx-lm's quantized_scaled_dot_product_attention:
// the queries scaled, their scores against the quantized keys, masked to the dtype's lowest
// value, a float32 softmax, its product with the quantized values. Throws INVALID_ARGUMENT
// for sinks over a quantized cache, as mlx-lm does.
Array attention(const Array& queries, const Array& keys, const Array& values, KVCache* cache,
                const std::optional<Array>& position, float scale, const std::optional<Array>& mask,
                const std::optional<Array>& sinks = std::nullopt);

// Throws INVALID_ARGUMENT naming `attention` for a quantized cache: for the layers that read
// whole keys and values (Gemma 2's soft-capped scores, DeepSeek V3's latent), which mlx-lm
// composes without its quantized attention and so cannot run over a quantized cache.
void refuse_quantized_cache(const KVCache* cache, const char* attention);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_ATTENTION_H_
