#include "client/lm/sample.h"

#include <cmath>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void CheckRows(const char* op, const Array& a) {
  if (a.ndim() != 2) {
    detail::ThrowOpError(op,
                         absl::StrCat("expects (batch, vocab) logits, got rank ", a.ndim(), "."));
  }
}

// The last context_size of tokens (N,), and those indices for every row of logits (B, N).
Array RecentTokens(const Array& tokens, int context_size) {
  const int64_t n = tokens.shape(0), keep = std::min<int64_t>(n, context_size);
  return keep == n ? tokens : slice(tokens, {n - keep}, {n});
}

Array EveryRow(const Array& tokens, const Array& logits) {
  return broadcast_to(expand_dims(tokens, 0), {logits.shape(0), tokens.shape(0)});
}

// logits + `amount` at each of `tokens` per row, duplicates adding up (MLX's .at[].add).
Array AddAt(const Array& logits, const Array& tokens, const Array& amount) {
  const Array updates = broadcast_to(reshape(astype(amount, logits.dtype()), {-1, 1, 1}),
                                     {tokens.shape(0), logits.shape(0), 1});
  return scatter_add(logits, {tokens}, updates, {1});
}

}  // namespace

Sampler seeded_sampler(Sampler sampler, uint64_t seed) {
  auto generator = std::make_shared<random::Generator>(seed);
  return [sampler = std::move(sampler), generator](const Array& logprobs) {
    random::UseGenerator use(generator.get());
    return sampler(logprobs);
  };
}

Array greedy_sampler(const Array& logprobs) { return astype(argmax(logprobs, -1), int32); }

Array apply_top_p(const Array& logprobs, float top_p) {
  CheckRows("apply_top_p", logprobs);
  // Past 0, at least the likeliest token stays, so the threshold's index is in range.
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    detail::ThrowOpError("apply_top_p", absl::StrCat("top_p must lie in (0, 1], got ", top_p, "."));
  }
  const Array sorted = sort(logprobs, -1);
  const Array probs = exp(astype(sorted, float32));
  const Array mass_above = cumsum(probs, -1, /*reverse=*/true, /*inclusive=*/false);
  const Array total = slice(mass_above, {0, 0}, {logprobs.shape(0), 1}) +
                      slice(probs, {0, 0}, {logprobs.shape(0), 1});
  const Array dropped = astype(sum(mass_above >= total * top_p, -1, /*keepdims=*/true), int32);
  const Array threshold = take_along_axis(sorted, dropped, -1);
  return where(logprobs < threshold, -kInf, logprobs);
}

Array apply_min_p(const Array& logprobs, float min_p, int min_tokens_to_keep) {
  CheckRows("apply_min_p", logprobs);
  if (!(min_p >= 0.0f && min_p <= 1.0f) || min_tokens_to_keep < 1) {
    detail::ThrowOpError("apply_min_p",
                         absl::StrCat("min_p must lie in [0, 1] and min_tokens_to_keep be "
                                      "positive, got ",
                                      min_p, " and ", min_tokens_to_keep, "."));
  }
  const Array top = max(logprobs, -1, /*keepdims=*/true);
  Array remove = logprobs < top + std::log(min_p);
  if (min_tokens_to_keep > 1) {
    const int64_t vocab = logprobs.shape(1), rows = logprobs.shape(0);
    const Array order = argpartition(logprobs, static_cast<int>(vocab - min_tokens_to_keep), -1);
    const Array kept = slice(order, {0, vocab - min_tokens_to_keep}, {rows, vocab});
    remove = put_along_axis(remove, kept, false, -1);
  }
  return where(remove, -kInf, logprobs);
}

Array apply_top_k(const Array& logprobs, int top_k) {
  CheckRows("apply_top_k", logprobs);
  const int64_t vocab = logprobs.shape(1), rows = logprobs.shape(0);
  if (top_k <= 0 || top_k >= vocab) {
    detail::ThrowOpError("apply_top_k",
                         absl::StrCat("top_k must lie in (0, ", vocab, "), got ", top_k, "."));
  }
  const Array order = argpartition(-logprobs, top_k - 1, -1);
  return put_along_axis(logprobs, slice(order, {0, top_k}, {rows, vocab}), -kInf, -1);
}

Array categorical_sampling(const Array& logits, float temp) {
  return astype(random::categorical(logits * (1.0 / temp)), int32);
}

Sampler make_sampler(float temp, float top_p, float min_p, int min_tokens_to_keep, int top_k) {
  if (temp == 0.0f) return greedy_sampler;
  std::vector<std::function<Array(const Array&)>> filters;
  if (top_p > 0.0f && top_p < 1.0f) {
    filters.push_back([top_p](const Array& x) { return apply_top_p(x, top_p); });
  }
  if (min_p != 0.0f) {
    filters.push_back([min_p, min_tokens_to_keep](const Array& x) {
      return apply_min_p(x, min_p, min_tokens_to_keep);
    });
  }
  if (top_k > 0) filters.push_back([top_k](const Array& x) { return apply_top_k(x, top_k); });
  return [filters, temp](const Array& logprobs) {
    Array x = logprobs;
    for (const auto& filter : filters) x = filter(x);
    return categorical_sampling(x, temp);
  };
}

LogitsProcessor make_repetition_penalty(float penalty, int context_size) {
  if (!(penalty >= 0.0f)) {
    detail::ThrowOpError("make_repetition_penalty",
                         absl::StrCat("penalty must be non-negative, got ", penalty, "."));
  }
  return [penalty, context_size](const Array& tokens, const Array& logits) {
    CheckRows("repetition_penalty", logits);
    if (tokens.shape(0) == 0) return logits;
    const Array recent = EveryRow(RecentTokens(tokens, context_size), logits);
    const Array selected = take_along_axis(logits, recent, -1);
    const Array penalized = where(selected < 0.0, selected * penalty, selected / penalty);
    return put_along_axis(logits, recent, penalized, -1);
  };
}

LogitsProcessor make_presence_penalty(float penalty, int context_size) {
  return [penalty, context_size](const Array& tokens, const Array& logits) {
    CheckRows("presence_penalty", logits);
    if (tokens.shape(0) == 0) return logits;
    const Array recent = EveryRow(RecentTokens(tokens, context_size), logits);
    return put_along_axis(logits, recent, take_along_axis(logits, recent, -1) - penalty, -1);
  };
}

LogitsProcessor make_frequency_penalty(float penalty, int context_size) {
  return [penalty, context_size](const Array& tokens, const Array& logits) {
    CheckRows("frequency_penalty", logits);
    if (tokens.shape(0) == 0) return logits;
    const Array recent = RecentTokens(tokens, context_size);
    return AddAt(logits, recent, full({recent.shape(0)}, -penalty, float32, logits.device()));
  };
}

LogitsProcessor make_logit_bias(const std::map<int32_t, float>& bias) {
  std::vector<int32_t> ids;
  std::vector<float> values;
  for (const auto& [id, value] : bias) {
    ids.push_back(id);
    values.push_back(value);
  }
  return [ids, values](const Array& tokens, const Array& logits) {
    CheckRows("logit_bias", logits);
    const int64_t n = static_cast<int64_t>(ids.size());
    return AddAt(logits, from_host(ids, {n}, logits.device()),
                 from_host(values, {n}, logits.device()));
  };
}

std::vector<LogitsProcessor> make_logits_processors(
    const std::map<int32_t, float>& logit_bias, std::optional<float> repetition_penalty,
    int repetition_context_size, std::optional<float> presence_penalty, int presence_context_size,
    std::optional<float> frequency_penalty, int frequency_context_size) {
  std::vector<LogitsProcessor> processors;
  if (!logit_bias.empty()) processors.push_back(make_logit_bias(logit_bias));
  if (repetition_penalty && *repetition_penalty != 0.0f) {
    processors.push_back(make_repetition_penalty(*repetition_penalty, repetition_context_size));
  }
  if (presence_penalty && *presence_penalty != 0.0f) {
    processors.push_back(make_presence_penalty(*presence_penalty, presence_context_size));
  }
  if (frequency_penalty && *frequency_penalty != 0.0f) {
    processors.push_back(make_frequency_penalty(*frequency_penalty, frequency_context_size));
  }
  return processors;
}

}  // namespace ferry::lm
