#include "client/lm/attention.h"

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// mlx-lm's quantized_scaled_dot_product_attention, over the cache's whole buffers (the
// positions past its offset hidden by the mask, as mlx-lm's slice leaves them out: their
// probabilities are exactly 0).
Array QuantizedAttention(const Array& queries, const KVCache::Quantized& keys,
                         const KVCache::Quantized& values, float scale, const Array& mask,
                         int group_size, int bits) {
  const int64_t batch = queries.shape(0), heads = queries.shape(1), length = queries.shape(2);
  const int64_t kv_heads = keys.words.shape(1), repeats = heads / kv_heads;
  Array q = queries * scale;
  KVCache::Quantized k = keys, v = values;
  Array m = mask;
  if (repeats > 1) {
    // Each key/value head serves its `repeats` query heads through a broadcast axis.
    q = reshape(q, {batch, kv_heads, repeats, length, queries.shape(3)});
    for (KVCache::Quantized* x : {&k, &v}) {
      *x = {expand_dims(x->words, -3), expand_dims(x->scales, -3), expand_dims(x->biases, -3)};
    }
    if (m.ndim() > 3) m = expand_dims(m, -3);
  }
  Array scores =
      quantized_matmul(q, k.words, k.scales, k.biases, /*transpose=*/true, group_size, bits);
  if (m.dtype() == bool_) {
    scores = where(m, scores, -finfo_max(scores.dtype()));
  } else {
    scores = scores + m;
  }
  // mlx's softmax(precise=True): in float32 whatever the dtype.
  scores = astype(softmax(astype(scores, float32), -1), scores.dtype());
  const Array out =
      quantized_matmul(scores, v.words, v.scales, v.biases, /*transpose=*/false, group_size, bits);
  return repeats > 1 ? reshape(out, {batch, heads, length, out.shape(-1)}) : out;
}

}  // namespace

Array attention(const Array& queries, const Array& keys, const Array& values, KVCache* cache,
                const std::optional<Array>& position, float scale, const std::optional<Array>& mask,
                const std::optional<Array>& sinks) {
  if (cache && cache->bits()) {
    if (sinks) {
      detail::ThrowOpError("attention",
                           "a quantized cache's attention takes no sinks (mlx-lm: \"Quantized "
                           "SDPA does not support attention sinks.\").");
    }
    if (!mask) {
      detail::ThrowOpError("attention",
                           "a quantized cache's attention needs the cache's mask (make_mask).");
    }
    const auto [k, v] = cache->update_and_fetch_quantized(keys, values, *position);
    return QuantizedAttention(queries, k, v, scale, *mask, cache->group_size(), *cache->bits());
  }
  Array k = keys, v = values;
  if (cache) std::tie(k, v) = cache->update_and_fetch(keys, values, *position);
  const std::string mode = mask || queries.shape(2) == 1 ? "" : "causal";
  return fast::scaled_dot_product_attention(queries, k, v, scale, mode, mask, sinks);
}

void refuse_quantized_cache(const KVCache* cache, const char* attention) {
  if (!cache || !cache->bits()) return;
  detail::ThrowOpError(
      "attention", absl::StrCat(attention, " reads whole keys and values, not a quantized cache (",
                                *cache->bits(), " bits): mlx-lm's fails over one as well."));
}

}  // namespace ferry::lm
