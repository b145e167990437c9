#ifndef FERRY_CLIENT_LM_MODEL_H_
#define FERRY_CLIENT_LM_MODEL_H_

// What ferry::lm generates with: a causal language model, as mlx-lm's models are called.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/lm/kv_cache.h"
#include "client/lm/model_args.h"
#include "client/nn/module.h"

namespace ferry::lm {

// The quantization mlx-lm's models give their routers (their quant_predicate): 8 bits in
// groups of 64, as (group size, bits).
inline constexpr std::pair<int, int> kRouterQuantization = {64, 8};

class Model : public nn::Module {
 public:
  // Logits (B, L, vocab) of token ids (B, L). Without a cache the tokens are a whole
  // sequence (causal attention); with one (make_cache(): a KVCache per layer) they continue
  // what it holds, and their keys and values are added to it.
  virtual Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) = 0;
  // Plain caches, whose rows continuous batching can move; make_prompt_cache (kv_cache.h)
  // gives mlx-lm's, rotating where a layer has a window. A model whose layers keep other
  // state gives its own (Qwen3-Next's linear-attention layers: KVCache::arrays; Falcon-H1's
  // layers, an arrays cache and a plain one each: KVCache::list), which make_prompt_cache
  // then gives as it is.
  virtual std::vector<KVCache> make_cache() const {
    return std::vector<KVCache>(static_cast<size_t>(args().num_hidden_layers));
  }
  // The window of positions layer `layer` attends over, for a sliding-window layer (mlx-lm's
  // make_cache gives it a RotatingKVCache of that size); none for one that sees them all.
  virtual std::optional<int64_t> sliding_window(int layer) const { return std::nullopt; }
  // The chunk of positions layer `layer` attends within (Llama 4's local layers: mlx-lm's
  // make_cache gives it a ChunkedKVCache of that size); none for one that sees them all.
  virtual std::optional<int64_t> attention_chunk(int layer) const { return std::nullopt; }
  // Whether its attention reads a quantized cache (lm::attention): not where mlx-lm's
  // cannot (Gemma 2's soft cap, DeepSeek V3's latent, gpt-oss's sinks), which
  // GenerateOptions::kv_bits refuses before generating rather than at quantized_kv_start.
  virtual bool reads_quantized_cache() const { return true; }
  // mlx-lm's quant_predicate, for quantize_model (convert.h): the (group size, bits) a layer,
  // by its path, is quantized with when not the model's (a mixture's router, 8 bits in
  // groups of 64); none: the model's.
  virtual std::optional<std::pair<int, int>> own_quantization(const std::string& path) const {
    return std::nullopt;
  }
  // mlx-lm's cast_predicate, for cast_model (convert.h): whether the parameter `name` takes
  // the model's dtype (not DeepSeek V3's score correction bias).
  virtual bool casts(const std::string& name) const { return true; }
  virtual const ModelArgs& args() const = 0;
  // mlx-lm's sanitize: a checkpoint's weights under the model's own names and shapes, before
  // they are quantized for and loaded (a mixture of experts stacks per-expert matrices).
  virtual nn::Parameters sanitize(nn::Parameters weights) const { return weights; }
  // Where its weights live (the default device for a model without any).
  Device device() const {
    const nn::Parameters weights = parameters();
    return weights.empty() ? default_device() : weights.front().second.device();
  }
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MODEL_H_
