#include "client/lm/generate.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/speculative_generate.h"
#include "client/ops.h"

namespace ferry::lm {
void CheckKvBits(const char* op, const Model& model, const GenerateOptions& options,
                 const std::vector<KVCache>& cache) {
  if (!options.kv_bits) return;
  if (!model.reads_quantized_cache()) {
    detail::ThrowOpError(op, absl::StrCat("kv_bits with ", model.args().model_type,
                                          ": its attention cannot read a quantized cache, as "
                                          "mlx-lm's cannot (Gemma 2's soft cap, DeepSeek V3's "
                                          "latent, gpt-oss's sinks)."));
  }
  if (options.max_kv_size) {
    detail::ThrowOpError(op,
                         "kv_bits and max_kv_size together: a rotating cache is not quantized "
                         "(mlx-lm's RotatingKVCache.to_quantized is not implemented).");
  }
  for (size_t i = 0; i < cache.size(); ++i) {
    // A chunked one stays as it is (maybe_quantize_kv_cache), as mlx-lm's ChunkedKVCache does.
    if (cache[i].max_size() && !cache[i].chunk_size()) {
      detail::ThrowOpError(op, absl::StrCat("kv_bits with a rotating cache (layer ", i, "'s, of ",
                                            *cache[i].max_size(),
                                            " positions): mlx-lm's RotatingKVCache is not "
                                            "quantized."));
    }
  }
  if (options.quantized_kv_start < 0) {
    detail::ThrowOpError(op, "quantized_kv_start must not be negative.");
  }
  // The group size and bits refused now rather than at quantized_kv_start.
  KVCache().to_quantized(options.kv_group_size, *options.kv_bits);
}

void QuantizeCache(const GenerateOptions& options, std::vector<KVCache>& cache) {
  maybe_quantize_kv_cache(cache, options.quantized_kv_start, options.kv_group_size,
                          options.kv_bits);
}

TokenGenerator::TokenGenerator(Model& model, const std::vector<int32_t>& prompt,
                               GenerateOptions options)
    : model_(model), options_(std::move(options)), device_(model.device()) {
  if (prompt.empty()) detail::ThrowOpError("generate", "the prompt holds no tokens.");
  if (options_.prefill_step_size <= 0 || options_.processor_history <= 0 ||
      options_.steps_in_flight <= 0) {
    detail::ThrowOpError(
        "generate", "prefill_step_size, processor_history and steps_in_flight must be positive.");
  }
  if (!options_.sampler) options_.sampler = greedy_sampler;
  if (options_.prompt_cache) {
    cache_ = options_.prompt_cache;
  } else {
    own_cache_ = make_prompt_cache(model_, options_.max_kv_size);
    cache_ = &own_cache_;
  }
  CheckKvBits("generate", model_, options_, *cache_);
  // All but the last token fill the cache; the last one is the first step's input.
  const int64_t total = static_cast<int64_t>(prompt.size());
  int64_t done = 0;
  while (total - done > 1) {
    const int64_t n = std::min<int64_t>(options_.prefill_step_size, total - done - 1);
    const Array chunk = from_host(
        std::vector<int32_t>(prompt.begin() + done, prompt.begin() + done + n), {n}, device_);
    model_(expand_dims(chunk, 0), cache_);
    QuantizeCache(options_, *cache_);
    std::vector<Array> state = CacheState(*cache_);
    if (!options_.logits_processors.empty()) {
      history_ = history_ ? concatenate({*history_, chunk}) : chunk;
      state.push_back(*history_);
    }
    eval(state);
    done += n;
  }
  // A linear layer's arrays cache keeps the states of the steps in flight, for the destructor.
  for (KVCache& c : *cache_) c.keep_steps(options_.steps_in_flight);
  if (options_.max_tokens == 0) return;
  pending_.push_back(Step(from_host(std::vector<int32_t>{prompt.back()}, {1}, device_)));
  ++sent_;
  SendAhead();
}

TokenGenerator::~TokenGenerator() {
  if (!options_.prompt_cache) return;
  for (KVCache& c : *options_.prompt_cache) {
    c.trim(sent_ - generated_);  // an arrays cache: back to the state it kept
    c.keep_steps(0);
  }
}

void TokenGenerator::SendAhead() {
  while (static_cast<int>(pending_.size()) < options_.steps_in_flight &&
         sent_ != options_.max_tokens) {
    // The newest token is the next step's input: the back of pending_, or, with none
    // pending, the token just taken from its front.
    const Array input = pending_.empty() ? *last_taken_ : pending_.back().first;
    pending_.push_back(Step(input));
    ++sent_;
  }
}

std::pair<Array, Array> TokenGenerator::Step(const Array& tokens) {
  const Array all = model_(expand_dims(tokens, 0), cache_);
  QuantizeCache(options_,
                *cache_);  // as mlx-lm's _step, after the model and before the cache is read again
  const int64_t length = all.shape(1);
  Array logits = squeeze(slice(all, {0, length - 1, 0}, {1, length, all.shape(2)}), 1);
  std::vector<Array> outputs;
  if (!options_.logits_processors.empty()) {
    Array history = history_ ? concatenate({*history_, tokens}) : tokens;
    const int64_t n = history.shape(0), keep = options_.processor_history;
    if (n > keep) history = slice(history, {n - keep}, {n});
    for (const LogitsProcessor& processor : options_.logits_processors) {
      logits = processor(history, logits);
    }
    history_ = history;
    outputs.push_back(history);
  }
  const Array logprobs = logits - logsumexp(logits, -1, /*keepdims=*/true);
  const Array token = astype(options_.sampler(logprobs), int32);
  outputs.push_back(token);
  outputs.push_back(logprobs);
  for (const Array& a : CacheState(*cache_)) outputs.push_back(a);
  eval(outputs);  // sent; a daemon runs it while the caller reads the previous token
  return {token, squeeze(logprobs, 0)};
}

std::optional<GenerationStep> TokenGenerator::next() {
  if (pending_.empty()) return std::nullopt;
  auto [token, logprobs] = pending_.front();
  pending_.pop_front();
  last_taken_ = token;
  SendAhead();  // before the read: the daemon computes while the token travels
  ++generated_;
  return GenerationStep{token.item<int32_t>(), logprobs};
}

void stream_generate(Model& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_response,
                     std::vector<int32_t> eos_token_ids) {
  stream_generate(model, tokenizer, tokenizer.encode(prompt), options, on_response,
                  std::move(eos_token_ids));
}

void stream_generate(Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                     const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_response,
                     std::vector<int32_t> eos_token_ids) {
  using Clock = std::chrono::steady_clock;
  if (eos_token_ids.empty()) eos_token_ids = tokenizer.eos_token_ids();
  StreamingDetokenizer detokenizer(tokenizer);
  const Clock::time_point start = Clock::now();
  // With a draft model, the speculative generator (one round of tokens per read).
  std::optional<TokenGenerator> plain;
  std::optional<SpeculativeGenerator> speculative;
  if (options.draft_model) {
    speculative.emplace(model, prompt, options);
  } else {
    plain.emplace(model, prompt, options);
  }
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  double prompt_tps = 0;
  Clock::time_point first;
  while (std::optional<GenerationStep> step = speculative ? speculative->next() : plain->next()) {
    const Clock::time_point now = Clock::now();
    const int64_t n = speculative ? speculative->generated() : plain->generated();
    if (n == 1) {
      first = now;
      prompt_tps =
          static_cast<double>(prompt_tokens) / std::chrono::duration<double>(now - start).count();
    }
    const double since_first = std::chrono::duration<double>(now - first).count();
    GenerationResponse response{"",
                                step->token,
                                step->logprobs,
                                prompt_tokens,
                                prompt_tps,
                                n,
                                since_first > 0 ? static_cast<double>(n - 1) / since_first : 0,
                                "",
                                step->from_draft};
    const bool stop =
        std::find(eos_token_ids.begin(), eos_token_ids.end(), step->token) != eos_token_ids.end();
    if (stop) {
      response.text = detokenizer.finalize();
      response.finish_reason = "stop";
    } else {
      response.text = detokenizer.add_token(step->token);
      if (n == options.max_tokens) {
        response.text += detokenizer.finalize();
        response.finish_reason = "length";
      }
    }
    if (!on_response(response) || stop) return;
  }
}

std::string generate(Model& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& options) {
  std::string text;
  stream_generate(model, tokenizer, prompt, options, [&](const GenerationResponse& response) {
    text += response.text;
    return true;
  });
  return text;
}

}  // namespace ferry::lm
