#include "client/lm/batch_generate.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/lm/batch_generator.h"
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
  if (options.prompt_cache != nullptr) {
    throw Error(ErrorCode::kUnimplemented,
                "[batch_generate] prompt_cache is one sequence's; give each sequence its "
                "cache through BatchGenerator.");
  }
  if (eos_token_ids.empty()) eos_token_ids = tokenizer.eos_token_ids();
  BatchResponse response;
  response.texts.resize(prompts.size());
  response.tokens.resize(prompts.size());
  response.finish_reasons.assign(prompts.size(), options.max_tokens == 0 ? "length" : "");
  if (options.max_tokens == 0) return response;

  BatchGeneratorOptions batch;
  batch.completion_batch_size = static_cast<int>(prompts.size());
  batch.prefill_step_size = options.prefill_step_size;
  batch.steps_in_flight = options.steps_in_flight;
  batch.processor_history = options.processor_history;
  batch.max_kv_size = options.max_kv_size;
  BatchGenerator generator(model, batch);
  std::map<uint64_t, size_t> index;  // uid to prompt
  for (size_t b = 0; b < prompts.size(); ++b) {
    BatchSequence sequence;
    sequence.prompt = prompts[b];
    sequence.max_tokens = options.max_tokens < 0 ? INT32_MAX : options.max_tokens;
    sequence.sampler = options.sampler;
    sequence.logits_processors = options.logits_processors;
    sequence.stop_tokens = eos_token_ids;
    response.prompt_tokens += static_cast<int64_t>(prompts[b].size());
    index[generator.insert(std::move(sequence))] = b;
  }
  std::vector<StreamingDetokenizer> detokenizers(prompts.size(), StreamingDetokenizer(tokenizer));
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> first;
  while (generator.size() > 0) {
    const std::vector<BatchGeneration> step = generator.next();
    if (step.empty()) continue;  // a step whose rows had all ended
    if (!first) {
      first = Clock::now();
      response.prompt_tps = static_cast<double>(response.prompt_tokens) /
                            std::chrono::duration<double>(*first - start).count();
    }
    for (const BatchGeneration& generation : step) {
      const size_t b = index.at(generation.uid);
      response.tokens[b].push_back(generation.token);
      ++response.generation_tokens;
      if (generation.finish_reason != "stop") {
        response.texts[b] += detokenizers[b].add_token(generation.token);
      }
      if (!generation.finish_reason.empty()) {
        response.texts[b] += detokenizers[b].finalize();
        response.finish_reasons[b] = generation.finish_reason;
      }
    }
  }
  const double since_first =
      first ? std::chrono::duration<double>(Clock::now() - *first).count() : 0;
  if (since_first > 0) {
    response.generation_tps =
        static_cast<double>(response.generation_tokens - static_cast<int64_t>(prompts.size())) /
        since_first;
  }
  return response;
}

}  // namespace ferry::lm
