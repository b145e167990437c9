#include "client/lm/server/token_sources.h"

#include <algorithm>
#include <utility>

#include "client/lm/speculative_generate.h"

namespace ferry::lm::server {
namespace {

class Batch : public TokenSource {
 public:
  Batch(BatchScheduler& scheduler, BatchSequence sequence, const std::vector<int32_t>& prompt,
        PromptPool* pool)
      : pool_(pool) {
    if (pool_) {
      std::lock_guard<std::mutex> lock(pool_->mu);
      auto [layers, kept] = pool_->cache.Take(prompt);
      if (kept > 0) sequence.cache = std::move(layers);
      cached_ = kept;
    }
    sequence.prompt.assign(prompt.begin() + cached_, prompt.end());
    sequence.return_cache = pool_ != nullptr;
    request_ = scheduler.Submit(std::move(sequence));
  }

  std::optional<BatchGeneration> Next() override {
    std::optional<BatchGeneration> generation = request_->Next();
    if (generation && !generation->finish_reason.empty()) {
      cache_ = std::move(generation->cache);
      finished_ = true;
    }
    return generation;
  }
  std::string error() const override { return request_->error(); }
  void Keep(std::vector<int32_t> held) override {
    if (!pool_) return;
    if (!finished_) cache_ = request_->Leave();  // a stop string ended it early
    if (cache_.empty()) return;                  // a ring that wrapped past the tokens read
    // It may hold tokens the generator gave past those read.
    const int64_t extra = cache_.front().offset() - static_cast<int64_t>(held.size());
    const bool wrapped = std::any_of(cache_.begin(), cache_.end(), [](const KVCache& layer) {
      return layer.max_size() && layer.offset() > *layer.max_size();
    });
    if (extra < 0 || (extra > 0 && wrapped)) return;  // a ring cannot give back its past
    for (KVCache& layer : cache_) layer.trim(extra);
    std::lock_guard<std::mutex> lock(pool_->mu);
    pool_->cache.Put(std::move(held), std::move(cache_));
  }

 private:
  PromptPool* pool_;
  std::unique_ptr<BatchScheduler::Request> request_;  // leaves the batch when destroyed
  std::vector<KVCache> cache_;                        // the last token's
  bool finished_ = false;                             // the last token was read
};

class Speculative : public TokenSource {
 public:
  Speculative(Model& model, Model& draft, int num_draft_tokens, std::mutex& one_at_a_time,
              BatchSequence sequence, const std::vector<int32_t>& prompt, PromptPool* pool,
              PromptPool* draft_pool)
      : lock_(one_at_a_time),
        pool_(pool),
        draft_pool_(draft_pool),
        stop_tokens_(std::move(sequence.stop_tokens)),
        max_tokens_(sequence.max_tokens) {
    if (pool_ && draft_pool_) {
      // The beginning both models' caches hold (kept in step, they hold the same).
      auto take = [&](PromptPool& p) {
        std::lock_guard<std::mutex> lock(p.mu);
        return p.cache.Take(prompt);
      };
      auto [layers, kept] = take(*pool_);
      auto [draft_layers, draft_kept] = take(*draft_pool_);
      cached_ = std::min(kept, draft_kept);
      for (KVCache& layer : layers) layer.trim(kept - cached_);
      for (KVCache& layer : draft_layers) layer.trim(draft_kept - cached_);
      cache_ = std::move(layers);
      draft_cache_ = std::move(draft_layers);
    } else {
      cache_ = model.make_cache();
      draft_cache_ = draft.make_cache();
    }
    GenerateOptions options;
    options.max_tokens = max_tokens_;
    options.sampler = std::move(sequence.sampler);
    options.logits_processors = std::move(sequence.logits_processors);
    options.draft_model = &draft;
    options.num_draft_tokens = num_draft_tokens;
    options.prompt_cache = &cache_;
    options.draft_prompt_cache = &draft_cache_;
    const std::vector<int32_t> rest(prompt.begin() + cached_, prompt.end());
    generator_.emplace(model, rest, std::move(options));
  }

  std::optional<BatchGeneration> Next() override {
    if (ended_) return std::nullopt;
    std::optional<GenerationStep> step;
    try {
      step = generator_->next();
    } catch (const std::exception& failure) {
      error_ = failure.what();
      ended_ = true;
      return std::nullopt;
    }
    if (!step) return std::nullopt;
    std::string finish;
    if (std::find(stop_tokens_.begin(), stop_tokens_.end(), step->token) != stop_tokens_.end()) {
      finish = "stop";
    } else if (generator_->generated() == max_tokens_) {
      finish = "length";
    }
    ended_ = !finish.empty();
    return BatchGeneration{0, step->token, step->logprobs, finish, {}};
  }
  std::string error() const override { return error_; }
  void Keep(std::vector<int32_t> held) override {
    generator_.reset();  // leaves both caches holding the tokens given but the last
    if (!pool_ || !draft_pool_) return;
    for (auto [p, layers] : {std::pair{pool_, &cache_}, std::pair{draft_pool_, &draft_cache_}}) {
      std::lock_guard<std::mutex> lock(p->mu);
      p->cache.Put(held, std::move(*layers));
    }
  }

 private:
  std::lock_guard<std::mutex> lock_;  // first: held until the generation is gone
  PromptPool* pool_;
  PromptPool* draft_pool_;
  const std::vector<int32_t> stop_tokens_;
  const int max_tokens_;
  std::vector<KVCache> cache_, draft_cache_;
  std::optional<SpeculativeGenerator> generator_;  // after the caches: trims them when it goes
  std::string error_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<TokenSource> BatchTokens(BatchScheduler& scheduler, BatchSequence sequence,
                                         const std::vector<int32_t>& prompt, PromptPool* pool) {
  return std::make_unique<Batch>(scheduler, std::move(sequence), prompt, pool);
}

std::unique_ptr<TokenSource> SpeculativeTokens(Model& model, Model& draft, int num_draft_tokens,
                                               std::mutex& one_at_a_time, BatchSequence sequence,
                                               const std::vector<int32_t>& prompt, PromptPool* pool,
                                               PromptPool* draft_pool) {
  return std::make_unique<Speculative>(model, draft, num_draft_tokens, one_at_a_time,
                                       std::move(sequence), prompt, pool, draft_pool);
}

}  // namespace ferry::lm::server
