#include "client/lm/batch_generate.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/lm/sample.h"
#include "client/ops.h"

namespace ferry::lm {

BatchResponse batch_generate(Model& model, const Tokenizer& tokenizer,
                             const std::vector<std::vector<int32_t>>& prompts,
                             const GenerateOptions& options, std::vector<int32_t> eos_token_ids) {
  using Clock = std::chrono::steady_clock;
  constexpr char op[] = "batch_generate";
  if (prompts.empty()) detail::ThrowOpError(op, "the batch holds no prompts.");
  for (size_t b = 0; b < prompts.size(); ++b) {
    if (prompts[b].empty()) detail::ThrowOpError(op, absl::StrCat("prompt ", b, " is empty."));
  }
  if (!options.logits_processors.empty() || options.prompt_cache != nullptr) {
    throw Error(ErrorCode::kUnimplemented,
                "[batch_generate] logits_processors and prompt_cache are per sequence; "
                "generate each prompt with stream_generate to use them.");
  }
  if (options.prefill_step_size <= 0 || options.steps_in_flight <= 0) {
    detail::ThrowOpError(op, "prefill_step_size and steps_in_flight must be positive.");
  }
  if (eos_token_ids.empty()) eos_token_ids = tokenizer.eos_token_ids();
  const Sampler sampler = options.sampler ? options.sampler : Sampler(greedy_sampler);
  const Device device = model.device();
  const int64_t batch = static_cast<int64_t>(prompts.size());

  // Left-padded to the longest prompt (with its own first tokens: any id will do, the cache
  // hides them).
  int64_t length = 0;
  BatchResponse response;
  for (const std::vector<int32_t>& prompt : prompts) {
    length = std::max<int64_t>(length, static_cast<int64_t>(prompt.size()));
    response.prompt_tokens += static_cast<int64_t>(prompt.size());
  }
  std::vector<int32_t> padded(static_cast<size_t>(batch * length));
  std::vector<int32_t> padding(prompts.size());
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& prompt = prompts[b];
    padding[b] = static_cast<int32_t>(length - static_cast<int64_t>(prompt.size()));
    for (int64_t t = 0; t < length; ++t) {
      padded[b * length + t] = prompt[std::max<int64_t>(t - padding[b], 0)];
    }
  }
  const Array tokens = from_host(padded, {batch, length}, device);
  std::vector<KVCache> cache = model.make_cache();
  const Array left_padding = from_host(padding, {batch}, device);
  for (KVCache& layer : cache) layer.set_left_padding(left_padding);

  const Clock::time_point start = Clock::now();
  // All but the last column fill the cache; the last is the first step's input.
  for (int64_t done = 0; done < length - 1;) {
    const int64_t n = std::min<int64_t>(options.prefill_step_size, length - 1 - done);
    model(slice(tokens, {0, done}, {batch, done + n}), &cache);
    eval(CacheState(cache));
    done += n;
  }
  // Steps are sent ahead of the tokens being read, as TokenGenerator sends them.
  auto step = [&](const Array& input) {
    const Array token = [&] {  // the model's output dies before the eval
      const Array logits = model(input, &cache);
      const Array last = squeeze(
          slice(logits, {0, logits.shape(1) - 1, 0}, {batch, logits.shape(1), logits.shape(2)}), 1);
      return astype(sampler(last - logsumexp(last, -1, /*keepdims=*/true)), int32);
    }();
    std::vector<Array> outputs = CacheState(cache);
    outputs.push_back(token);
    eval(outputs);
    return token;
  };
  const int max_tokens = options.max_tokens < 0 ? INT32_MAX : options.max_tokens;
  std::deque<Array> pending;  // tokens (B,) of steps sent, oldest first
  std::optional<Array> last_taken;
  int sent = 0;
  auto send_ahead = [&] {
    while (static_cast<int>(pending.size()) < options.steps_in_flight && sent < max_tokens) {
      const Array input = !pending.empty() ? pending.back()
                          : last_taken     ? *last_taken
                                           : slice(tokens, {0, length - 1}, {batch, length});
      pending.push_back(step(reshape(input, {batch, 1})));
      ++sent;
    }
  };

  response.texts.resize(prompts.size());
  response.tokens.resize(prompts.size());
  response.finish_reasons.resize(prompts.size());
  std::vector<StreamingDetokenizer> detokenizers(prompts.size(), StreamingDetokenizer(tokenizer));
  int64_t running = batch;
  if (max_tokens == 0) response.finish_reasons.assign(prompts.size(), "length");
  Clock::time_point first;
  send_ahead();
  for (int generated = 1; running > 0 && !pending.empty(); ++generated) {
    Array token = pending.front();
    pending.pop_front();
    last_taken = token;
    send_ahead();  // before the read: the device computes while the tokens travel
    const std::vector<int32_t> drawn = token.to_vector<int32_t>();
    if (generated == 1) {
      first = Clock::now();
      response.prompt_tps = static_cast<double>(response.prompt_tokens) /
                            std::chrono::duration<double>(first - start).count();
    }
    for (int64_t b = 0; b < batch; ++b) {
      if (!response.finish_reasons[b].empty()) continue;
      response.tokens[b].push_back(drawn[b]);
      ++response.generation_tokens;
      if (std::find(eos_token_ids.begin(), eos_token_ids.end(), drawn[b]) != eos_token_ids.end()) {
        response.texts[b] += detokenizers[b].finalize();
        response.finish_reasons[b] = "stop";
      } else {
        response.texts[b] += detokenizers[b].add_token(drawn[b]);
        if (generated == max_tokens) {
          response.texts[b] += detokenizers[b].finalize();
          response.finish_reasons[b] = "length";
        }
      }
      if (!response.finish_reasons[b].empty()) --running;
    }
  }
  const double since_first = std::chrono::duration<double>(Clock::now() - first).count();
  if (since_first > 0) {
    response.generation_tps = static_cast<double>(response.generation_tokens - batch) / since_first;
  }
  return response;
}

}  // namespace ferry::lm
