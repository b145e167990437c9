#ifndef FERRY_CLIENT_LM_BATCH_GENERATE_H_
#define FERRY_CLIENT_LM_BATCH_GENERATE_H_

// Several prompts generated together, as mlx-lm's batch_generate: one graph per step for the
// whole batch, so a GPU's matrix units see B rows per weight read instead of one. A
// BatchGenerator holding all the prompts: they are prefilled together, left-padded, and each
// row leaves the batch at its own end, getting the tokens it would get alone.

#include <cstdint>
#include <string>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/model.h"
#include "client/lm/tokenizer.h"

namespace ferry::lm {

struct BatchResponse {
  std::vector<std::string> texts;            // each prompt's reply
  std::vector<std::vector<int32_t>> tokens;  // its tokens (an end token included)
  std::vector<std::string> finish_reasons;   // "stop" (an end token) or "length"
  int64_t prompt_tokens = 0;                 // all prompts' tokens, without padding
  double prompt_tps = 0;                     // prompt tokens per second of prefill
  int64_t generation_tokens = 0;             // all replies' tokens
  double generation_tps = 0;                 // reply tokens per second after the first
};

// Replies to `prompts` (token ids, as Tokenizer::encode gives them), each until one of
// eos_token_ids (the tokenizer's when empty) or options.max_tokens. Uses options.sampler
// and logits_processors (each row with its own history), prefill_step_size,
// processor_history and steps_in_flight; a prompt_cache throws UNIMPLEMENTED (it is one
// sequence's: BatchSequence::cache takes one per sequence), an empty batch or prompt
// INVALID_ARGUMENT.
BatchResponse batch_generate(Model& model, const Tokenizer& tokenizer,
                             const std::vector<std::vector<int32_t>>& prompts,
                             const GenerateOptions& options = {},
                             std::vector<int32_t> eos_token_ids = {});

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_BATCH_GENERATE_H_
