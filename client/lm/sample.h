#ifndef FERRY_CLIENT_LM_SAMPLE_H_
#define FERRY_CLIENT_LM_SAMPLE_H_

// How the next token is chosen, as mlx-lm's sample_utils: samplers take log-probabilities
// (B, vocab) and give tokens (B,) int32; logits processors take the tokens so far (N,) and
// logits (B, vocab) and give new logits. All of it builds into the step's graph, so the
// token is drawn on the device and only its id comes back.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "client/array.h"

namespace ferry::lm {

using Sampler = std::function<Array(const Array& logprobs)>;
using LogitsProcessor = std::function<Array(const Array& tokens, const Array& logits)>;

// mlx-lm's make_sampler: the argmax when temp is 0; otherwise top_p (in (0, 1)), min_p
// (when not 0) and top_k (when positive) filter, in that order, then a token is drawn from
// softmax(logprobs / temp) with ferry's random state (random::seed makes it repeatable).
Sampler make_sampler(float temp = 0.0f, float top_p = 0.0f, float min_p = 0.0f,
                     int min_tokens_to_keep = 1, int top_k = 0);

// `sampler` drawing from a random::Generator of its own seeded with `seed`: the tokens it
// gives after random::seed(seed), wherever it runs (a request's seed, in a batch of others).
Sampler seeded_sampler(Sampler sampler, uint64_t seed);

// The argmax of each row.
Array greedy_sampler(const Array& logprobs);
// Keeps the most likely tokens whose probabilities sum to top_p (of the row's total), the
// rest set to -inf.
Array apply_top_p(const Array& logprobs, float top_p);
// Keeps tokens at least min_p times as likely as the most likely one (and at least the
// min_tokens_to_keep likeliest).
Array apply_min_p(const Array& logprobs, float min_p, int min_tokens_to_keep = 1);
// Keeps the top_k likeliest tokens.
Array apply_top_k(const Array& logprobs, int top_k);
// A token drawn from softmax(logits / temp).
Array categorical_sampling(const Array& logits, float temp);

// Divides positive logits of the last context_size tokens by `penalty` and multiplies
// negative ones by it (Keskar et al.).
LogitsProcessor make_repetition_penalty(float penalty, int context_size = 20);
// Subtracts `penalty` from the logit of each token among the last context_size.
LogitsProcessor make_presence_penalty(float penalty, int context_size = 20);
// Subtracts `penalty` once per occurrence among the last context_size.
LogitsProcessor make_frequency_penalty(float penalty, int context_size = 20);
// Adds each token's bias to its logit.
LogitsProcessor make_logit_bias(const std::map<int32_t, float>& bias);

// mlx-lm's make_logits_processors: the bias, then each penalty that is given and not 0.
std::vector<LogitsProcessor> make_logits_processors(
    const std::map<int32_t, float>& logit_bias = {},
    std::optional<float> repetition_penalty = std::nullopt, int repetition_context_size = 20,
    std::optional<float> presence_penalty = std::nullopt, int presence_context_size = 20,
    std::optional<float> frequency_penalty = std::nullopt, int frequency_context_size = 20);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_SAMPLE_H_
