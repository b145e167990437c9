#ifndef FERRY_CLIENT_LM_SPECULATIVE_GENERATE_H_
#define FERRY_CLIENT_LM_SPECULATIVE_GENERATE_H_

// Speculative decoding, as mlx-lm's speculative_generate_step: a small draft model proposes
// num_draft_tokens tokens, the model runs its last token and the proposals in one forward
// pass, and the proposals are taken while the model's own sampled token equals the draft's;
// the model's token where they part (or after the last proposal) comes free. Both caches
// are trimmed back to what was accepted. With greedy sampling the tokens are exactly the
// model's own (TokenGenerator's); only the cost changes.
//
// A round (draft k tokens, verify k + 1, accept) is one graph and one read: the draft's
// steps and the model's pass are built lazily together and evaluated once, and the draft's
// and the model's tokens come back as one array. A round's graph has fixed shapes, so
// between two growths of the caches (and once the logits processors' history is full) it is
// one of two graphs (the draft starts from one token, or from two when the previous round
// took every proposal: the last one the draft never ran), sent once and then named by
// fingerprint on a daemon. Rounds cannot be sent ahead of the read (the next one starts
// where this one's acceptance ends), so GenerateOptions::steps_in_flight does not apply.

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "client/array.h"
#include "client/lm/generate.h"
#include "client/lm/model.h"

namespace ferry::lm {

class SpeculativeGenerator {
 public:
  // Prefills both models with all of `prompt` but its last token (chunks of
  // prefill_step_size). `options.draft_model` proposes; it must be on the model's device
  // (its tokens feed the model's pass there) and its vocabulary no larger than the model's
  // (a larger one could propose ids the model cannot embed: a draft of another tokenizer;
  // a smaller one is a padded embedding of the same, as Qwen2.5-0.5B's for Qwen2.5-7B).
  // The logits processors see, at every position, the prompt and the tokens before it (the
  // last processor_history), as TokenGenerator's do, for the draft's proposals and the
  // model's tokens alike (mlx-lm's speculative path gives them only the tokens from the
  // prompt's last on). `options.prompt_cache`, when given, is the model's cache, continued
  // and left as TokenGenerator leaves it (the prompt and the tokens given but the last);
  // `options.draft_prompt_cache` the draft's, left holding the same tokens; without it the
  // draft starts afresh from `prompt` (after a conversation's earlier turns, it proposes
  // knowing only this one: fewer proposals are taken, the tokens are the same).
  // Throws ferry::Error (INVALID_ARGUMENT) for an empty prompt, no draft model,
  // num_draft_tokens < 1, a draft on another device or with a larger vocabulary, and caches
  // that cannot be trimmed (KVCache::arrays: Qwen3-Next's linear layers).
  SpeculativeGenerator(Model& model, const std::vector<int32_t>& prompt, GenerateOptions options);
  // Trims the given caches back to the tokens given (rounds are computed whole: the caller
  // may stop in the middle of one).
  ~SpeculativeGenerator();
  SpeculativeGenerator(const SpeculativeGenerator&) = delete;
  SpeculativeGenerator& operator=(const SpeculativeGenerator&) = delete;

  // The next token (from_draft set when it was the draft's, accepted), or nothing once
  // max_tokens were given. Runs a round when the last one's tokens are all given.
  std::optional<GenerationStep> next();
  // Tokens given so far.
  int generated() const { return generated_; }
  // Of those, the draft's proposals accepted.
  int accepted() const { return accepted_; }
  // Rounds run (each one graph evaluated and one read).
  int rounds() const { return rounds_; }

 private:
  // Runs all but the last of `tokens` (the prompt) through `model` into `cache`.
  void Prefill(Model& model, std::vector<KVCache>& cache, const std::vector<int32_t>& tokens);
  // The last processor_history of `sequence`'s first `end` tokens (what the processors see).
  Array History(const Array& sequence, int64_t end) const;
  // The processed log-probabilities of logits (L, vocab), row i seeing `sequence`'s first
  // `end + i` tokens; `sequence` empty (no processors) passes them through.
  Array LogProbs(Array logits, const std::optional<Array>& sequence, int64_t end) const;
  // Drafts, verifies and reads one round; queues the tokens it gives.
  void Round();
  // Brings `cache` (model's or the draft's) to the prompt and the tokens given but the
  // last: trims it, or runs the tokens it lacks.
  void Settle(Model& model, std::vector<KVCache>& cache);

  Model& model_;
  Model& draft_;
  GenerateOptions options_;
  Device device_;
  std::vector<KVCache> own_cache_, own_draft_cache_;
  std::vector<KVCache>* cache_;
  std::vector<KVCache>* draft_cache_;
  int64_t base_;        // the model's cache offset before the prompt
  int64_t draft_base_;  // the draft's
  // The prompt and the tokens produced (given or queued): what the caches are settled to.
  std::vector<int32_t> sequence_;
  // The tokens the processors see before the round's first input, on the device (at most
  // processor_history once a round has run; the whole prompt before the first).
  std::optional<Array> history_;
  std::vector<int32_t> draft_input_;  // the draft's next input: the last token, or two
  std::deque<GenerationStep> queued_;
  int produced_ = 0;  // tokens rounds gave (queued_ holds those not given yet)
  int generated_ = 0;
  int accepted_ = 0;
  int rounds_ = 0;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_SPECULATIVE_GENERATE_H_
