#include "client/lm/speculative_generate.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

constexpr char kOp[] = "speculative_generate";

Model& CheckedDraft(const GenerateOptions& options) {
  if (options.draft_model == nullptr) detail::ThrowOpError(kOp, "no draft_model was given.");
  return *options.draft_model;
}

Array Tokens(const std::vector<int32_t>& tokens, const Device& device) {
  return from_host(tokens, {static_cast<int64_t>(tokens.size())}, device);
}

// The logits (1, vocab) a model gives after the last of `tokens`, continuing `cache`.
Array LastLogits(Model& model, const Array& tokens, std::vector<KVCache>* cache) {
  const Array all = model(expand_dims(tokens, 0), cache);
  const int64_t length = all.shape(1);
  return squeeze(slice(all, {0, length - 1, 0}, {1, length, all.shape(2)}), 1);
}

}  // namespace

SpeculativeGenerator::SpeculativeGenerator(Model& model, const std::vector<int32_t>& prompt,
                                           GenerateOptions options)
    : model_(model),
      draft_(CheckedDraft(options)),
      options_(std::move(options)),
      device_(model.device()) {
  if (prompt.empty()) detail::ThrowOpError(kOp, "the prompt holds no tokens.");
  if (options_.num_draft_tokens < 1) {
    detail::ThrowOpError(kOp, absl::StrCat("num_draft_tokens must be at least 1, got ",
                                           options_.num_draft_tokens, "."));
  }
  if (options_.prefill_step_size <= 0 || options_.processor_history <= 0) {
    detail::ThrowOpError(kOp, "prefill_step_size and processor_history must be positive.");
  }
  // The draft's tokens feed the model's pass where the model is, with no host in between.
  if (!(draft_.device() == device_)) {
    detail::ThrowOpError(
        kOp, absl::StrCat("the draft model is on ", draft_.device().description(),
                          ", the model on ", device_.description(), ": load both on one device."));
  }
  const int64_t vocab = model_.args().vocab_size, draft_vocab = draft_.args().vocab_size;
  if (draft_vocab > vocab) {
    detail::ThrowOpError(kOp, absl::StrCat("the draft model's vocabulary (", draft_vocab,
                                           " tokens) is larger than the model's (", vocab,
                                           "): a draft must use the model's tokenizer."));
  }
  if (!options_.sampler) options_.sampler = greedy_sampler;
  if (options_.prompt_cache) {
    cache_ = options_.prompt_cache;
  } else {
    own_cache_ = model_.make_cache();
    cache_ = &own_cache_;
  }
  if (options_.draft_prompt_cache) {
    draft_cache_ = options_.draft_prompt_cache;
  } else {
    own_draft_cache_ = draft_.make_cache();
    draft_cache_ = &own_draft_cache_;
  }
  CheckKvBits(kOp, model_, options_, *cache_);
  CheckKvBits(kOp, draft_, options_, *draft_cache_);
  // Rejected proposals are trimmed away, which a linear layer's state cannot be (mlx-lm
  // refuses such caches too).
  for (const std::vector<KVCache>* cache : {cache_, draft_cache_}) {
    if (std::any_of(cache->begin(), cache->end(),
                    [](const KVCache& c) { return !c.is_trimmable(); })) {
      detail::ThrowOpError(
          kOp, absl::StrCat(cache == cache_ ? "the model's" : "the draft model's",
                            " cache holds arrays caches (linear-attention layers' state), which "
                            "cannot be trimmed: speculative decoding needs trimmable caches."));
    }
  }
  base_ = cache_->empty() ? 0 : cache_->front().offset();
  draft_base_ = draft_cache_->empty() ? 0 : draft_cache_->front().offset();
  sequence_ = prompt;
  Prefill(draft_, *draft_cache_, prompt);
  Prefill(model_, *cache_, prompt);
  if (!options_.logits_processors.empty() && prompt.size() > 1) {
    const int64_t keep =
        std::min<int64_t>(options_.processor_history, static_cast<int64_t>(prompt.size()) - 1);
    history_ = Tokens(std::vector<int32_t>(prompt.end() - 1 - keep, prompt.end() - 1), device_);
  }
  draft_input_ = {prompt.back()};
}

SpeculativeGenerator::~SpeculativeGenerator() {
  // A destructor cannot throw: a device that fails here fails the cache's next use instead.
  try {
    if (options_.prompt_cache) Settle(model_, *cache_);
    if (options_.draft_prompt_cache) Settle(draft_, *draft_cache_);
  } catch (const Error&) {
  }
}

void SpeculativeGenerator::Prefill(Model& model, std::vector<KVCache>& cache,
                                   const std::vector<int32_t>& tokens) {
  const int64_t total = static_cast<int64_t>(tokens.size());
  int64_t done = 0;
  while (total - done > 1) {
    const int64_t n = std::min<int64_t>(options_.prefill_step_size, total - done - 1);
    const Array chunk =
        Tokens(std::vector<int32_t>(tokens.begin() + done, tokens.begin() + done + n), device_);
    model(expand_dims(chunk, 0), &cache);
    QuantizeCache(options_, cache);
    eval(CacheState(cache));
    done += n;
  }
}

void SpeculativeGenerator::Settle(Model& model, std::vector<KVCache>& cache) {
  if (cache.empty()) return;
  const int64_t base = &cache == cache_ ? base_ : draft_base_;
  const int64_t wanted = base + static_cast<int64_t>(sequence_.size()) - 1 - produced_ + generated_;
  const int64_t offset = cache.front().offset();
  if (offset >= wanted) {
    for (KVCache& c : cache) c.trim(offset - wanted);
    return;
  }
  // The draft never ran the last proposal of a round that took them all.
  model(expand_dims(Tokens(std::vector<int32_t>(sequence_.begin() + (offset - base),
                                                sequence_.begin() + (wanted - base)),
                           device_),
                    0),
        &cache);
  QuantizeCache(options_, cache);
  eval(CacheState(cache));
}

Array SpeculativeGenerator::History(const Array& sequence, int64_t end) const {
  const int64_t start = std::max<int64_t>(0, end - options_.processor_history);
  return slice(sequence, {start}, {end});
}

Array SpeculativeGenerator::LogProbs(Array logits, const std::optional<Array>& sequence,
                                     int64_t end) const {
  if (sequence) {
    const int64_t rows = logits.shape(0), vocab = logits.shape(1);
    std::vector<Array> processed;
    for (int64_t i = 0; i < rows; ++i) {
      Array row = slice(logits, {i, 0}, {i + 1, vocab});
      const Array history = History(*sequence, end + i);
      for (const LogitsProcessor& processor : options_.logits_processors) {
        row = processor(history, row);
      }
      processed.push_back(row);
    }
    logits = rows == 1 ? processed.front() : concatenate(processed);
  }
  return logits - logsumexp(logits, -1, /*keepdims=*/true);
}

void SpeculativeGenerator::Round() {
  const int remaining =
      options_.max_tokens < 0 ? std::numeric_limits<int>::max() : options_.max_tokens - produced_;
  const int k = std::min(options_.num_draft_tokens, remaining);
  const Array first = Tokens({sequence_.back()}, device_);
  const bool processors = !options_.logits_processors.empty();
  // What the processors see: the history, the round's first input, the proposals so far.
  std::optional<Array> sequence;
  int64_t before = 0;  // tokens of `sequence` before the first input
  if (processors) {
    before = history_ ? history_->shape(0) : 0;
    sequence = history_ ? concatenate({*history_, first}) : first;
  }

  // The draft's k steps, chained without a read: each proposal is the next step's input.
  std::vector<Array> proposals;
  Array input = Tokens(draft_input_, device_);
  for (int j = 0; j < k; ++j) {
    const Array logits = LastLogits(draft_, input, draft_cache_);
    QuantizeCache(options_, *draft_cache_);  // after each step, as mlx-lm's _step
    const Array logprobs = LogProbs(logits, sequence, before + 1 + j);
    input = astype(options_.sampler(logprobs), int32);
    proposals.push_back(input);
    if (processors) sequence = concatenate({*sequence, input});
  }
  // The model's pass over the first input and the proposals: token i is what it draws
  // after the first input and proposals 1..i.
  std::vector<Array> inputs = {first};
  inputs.insert(inputs.end(), proposals.begin(), proposals.end());
  const Array all = model_(expand_dims(concatenate(inputs), 0), cache_);
  QuantizeCache(options_, *cache_);
  const Array logprobs = LogProbs(squeeze(all, 0), sequence, before + 1);
  const Array tokens = astype(options_.sampler(logprobs), int32);

  // One graph, one read: the proposals and the model's tokens come back together.
  std::vector<Array> read_back = proposals;
  read_back.push_back(tokens);
  const Array both = concatenate(read_back);
  std::vector<Array> outputs = {both, logprobs};
  if (processors) outputs.push_back(*sequence);
  for (const Array& a : CacheState(*cache_)) outputs.push_back(a);
  for (const Array& a : CacheState(*draft_cache_)) outputs.push_back(a);
  eval(outputs);
  const std::vector<int32_t> values = Array(both).to_vector<int32_t>();
  ++rounds_;

  // Taken while the model drew what the draft proposed (mlx-lm's rule, for any sampler).
  int n = 0;
  while (n < k && values[static_cast<size_t>(k + n)] == values[static_cast<size_t>(n)]) ++n;
  const int64_t vocab = logprobs.shape(1);
  // The model's own token after the taken ones, unless max_tokens ends the reply first.
  const int given = std::min(n + 1, remaining);
  for (int i = 0; i < given; ++i) {
    const int32_t token = values[static_cast<size_t>(k + i)];
    queued_.push_back(GenerationStep{token, squeeze(slice(logprobs, {i, 0}, {i + 1, vocab}), 0),
                                     /*from_draft=*/i < n});
    sequence_.push_back(token);
  }
  produced_ += given;
  accepted_ += std::min(n, given);

  // The model ran the first input and k proposals, the draft its input and k - 1
  // proposals: each keeps what was taken.
  for (KVCache& c : *cache_) c.trim(k - n);
  for (KVCache& c : *draft_cache_) c.trim(std::max(k - n - 1, 0));
  const int32_t next = values[static_cast<size_t>(k + n)];
  if (n == k) {
    draft_input_ = {values[static_cast<size_t>(k - 1)], next};
  } else {
    draft_input_ = {next};
  }
  if (processors) {
    // The history before the next round's first input (the model's token n): the last
    // processor_history of what came before and the inputs taken. Once full, its start is
    // an argument, so every round's graph is the same whatever was taken.
    const int64_t end = before + 1 + n;
    const int64_t keep = std::min<int64_t>(options_.processor_history, end);
    history_ = slice(*sequence, Tokens({static_cast<int32_t>(end - keep)}, device_), {0}, {keep});
  }
}

std::optional<GenerationStep> SpeculativeGenerator::next() {
  if (queued_.empty()) {
    if (produced_ == options_.max_tokens) return std::nullopt;
    Round();
  }
  GenerationStep step = std::move(queued_.front());
  queued_.pop_front();
  ++generated_;
  return step;
}

}  // namespace ferry::lm
