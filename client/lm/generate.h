#ifndef FERRY_CLIENT_LM_GENERATE_H_
#define FERRY_CLIENT_LM_GENERATE_H_

// Token generation as mlx-lm's generate_step: the prompt is prefilled into the KV cache in
// chunks, then each step feeds the last token and draws the next on the device. Each step
// is sent before the previous step's token is read, so on a daemon the network round trip
// overlaps the next step's compute, and every step is the same graph (sent once, then named
// by id), its only inputs the previous step's outputs and the position.

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/array.h"
#include "client/lm/model.h"
#include "client/lm/sample.h"
#include "client/lm/tokenizer.h"

namespace ferry::lm {

struct GenerateOptions {
  // Tokens to generate (-1: until the caller stops asking).
  int max_tokens = 256;
  // Chooses each token from the log-probabilities; greedy when unset.
  Sampler sampler;
  std::vector<LogitsProcessor> logits_processors;
  // Prompt tokens per prefill graph (mlx-lm's prefill_step_size).
  int prefill_step_size = 2048;
  // The most recent tokens the logits processors see (mlx-lm gives them all): bounded, so
  // that once that many are known every step is the same graph.
  int processor_history = 64;
  // A cache to continue and update in place (a conversation's earlier turns); a fresh one
  // when unset (make_prompt_cache's: rotating for sliding-window layers). It must outlive
  // the generator, which leaves it holding the prompt and the tokens it gave but the last
  // (the next turn's first input): the steps sent past them are forgotten, an arrays cache
  // (Qwen3-Next's linear layers) going back to the state it kept for that step
  // (KVCache::keep_steps).
  std::vector<KVCache>* prompt_cache = nullptr;
  // mlx-lm's max_kv_size: the fresh cache keeps at most this many positions per layer (the
  // first 4 and the latest), older keys falling out of attention (make_prompt_cache).
  // TokenGenerator's, and batch_generate's (BatchGeneratorOptions::max_kv_size: no first
  // positions kept); speculative decoding keeps plain caches.
  std::optional<int> max_kv_size;
  // mlx-lm's kv_bits, kv_group_size and quantized_kv_start: with kv_bits, each layer's cache
  // is quantized (KVCache::to_quantized: affine, kv_bits in groups of kv_group_size along a
  // head's features) once it holds quantized_kv_start positions, after the prefill chunk or
  // step that brought it there, as mlx-lm's maybe_quantize_kv_cache does; it attends through
  // quantized_matmul from then on (lm::attention). TokenGenerator's, refused
  // (INVALID_ARGUMENT) before generating where mlx-lm fails at quantized_kv_start: with
  // max_kv_size or any rotating layer (Gemma 3's sliding ones), and for models whose
  // attention cannot read a quantized cache (Model::reads_quantized_cache: Gemma 2,
  // DeepSeek V3, gpt-oss). Speculative decoding quantizes both the model's cache and the
  // draft's, each after the step that brought it there, as mlx-lm's does.
  std::optional<int> kv_bits;
  int kv_group_size = 64;
  int quantized_kv_start = 5000;
  // Steps sent ahead of the token being read. A step needs only the previous step's outputs,
  // which stay on the device, so over a network with a round trip of r and steps of c a
  // token costs about max(c, (r + c) / steps_in_flight) rather than r + c; steps past the
  // one that ends the reply are computed for nothing (and undone in the cache).
  int steps_in_flight = 4;
  // Speculative decoding (SpeculativeGenerator, mlx-lm's draft_model; TokenGenerator
  // ignores these): stream_generate lets this smaller model of the same tokenizer propose
  // num_draft_tokens tokens at a time, which the model checks in one pass; greedy, the
  // reply is the same, in fewer passes of the model.
  Model* draft_model = nullptr;
  // mlx_lm.generate's --num-draft-tokens default (its speculative_generate_step's is 2).
  int num_draft_tokens = 3;
  // The draft's cache to continue along with prompt_cache (a conversation's); fresh if unset.
  std::vector<KVCache>* draft_prompt_cache = nullptr;
};

struct GenerationStep {
  int32_t token;
  // The log-probabilities (vocab,) it was drawn from, on the model's device (read only
  // when wanted: a step sends back only the token).
  Array logprobs;
  // Speculative decoding: the draft's proposal, which the model drew too.
  bool from_draft = false;
};

// Throws INVALID_ARGUMENT, as `op`, for options.kv_bits with a model or caches mlx-lm
// cannot quantize (nothing without kv_bits): before generating, not at quantized_kv_start.
void CheckKvBits(const char* op, const Model& model, const GenerateOptions& options,
                 const std::vector<KVCache>& cache);
// maybe_quantize_kv_cache (kv_cache.h) with the options' kv_bits.
void QuantizeCache(const GenerateOptions& options, std::vector<KVCache>& cache);

class TokenGenerator {
 public:
  // Prefills all of `prompt` but its last token (chunks of prefill_step_size) and sends the
  // first steps. Throws INVALID_ARGUMENT for an empty prompt.
  TokenGenerator(Model& model, const std::vector<int32_t>& prompt, GenerateOptions options = {});
  // Forgets, in a given prompt_cache, the positions of steps sent but not read.
  ~TokenGenerator();
  TokenGenerator(const TokenGenerator&) = delete;
  TokenGenerator& operator=(const TokenGenerator&) = delete;
  // The next token, or nothing once max_tokens were given. Sends the step after it first.
  std::optional<GenerationStep> next();
  // Tokens given so far.
  int generated() const { return generated_; }

 private:
  // Runs tokens (L,) through the model and samples from the last position; sent, not awaited.
  std::pair<Array, Array> Step(const Array& tokens);
  // Sends steps until steps_in_flight are pending or max_tokens were sent.
  void SendAhead();

  Model& model_;
  GenerateOptions options_;
  std::vector<KVCache> own_cache_;
  std::vector<KVCache>* cache_;
  Device device_;
  std::optional<Array> history_;                 // what the logits processors see, on the device
  std::deque<std::pair<Array, Array>> pending_;  // token and log-probabilities, oldest first
  std::optional<Array> last_taken_;              // the token next() took last
  int sent_ = 0;
  int generated_ = 0;
};

// What stream_generate hands over per token, as mlx-lm's GenerationResponse.
struct GenerationResponse {
  std::string text;  // the text this token completed (whole UTF-8 characters; may be empty)
  int32_t token;
  Array logprobs;  // (vocab,), on the model's device
  int64_t prompt_tokens;
  double prompt_tps;  // prompt tokens per second, until the first token was read
  int64_t generation_tokens;
  double generation_tps;  // tokens per second after the first
  // On the last response: "stop" (an end-of-sequence token, whose text is not given) or
  // "length" (max_tokens); empty before.
  std::string finish_reason;
  bool from_draft = false;  // the draft model's token, accepted (speculative decoding)
};

// Generates from `prompt` (encoded with the tokenizer's special tokens, a BOS where its
// template adds one), calling on_response for each token until one of eos_token_ids (the
// tokenizer's when empty: Tokenizer::eos_token_ids), max_tokens, or on_response returning
// false.
void stream_generate(Model& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_response,
                     std::vector<int32_t> eos_token_ids = {});
// The same from token ids.
void stream_generate(Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                     const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_response,
                     std::vector<int32_t> eos_token_ids = {});

// The whole reply to `prompt`, as mlx-lm's generate.
std::string generate(Model& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& options = {});

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GENERATE_H_
