#include "client/lm/server/token_sources.h"

#include <algorithm>
#include <utility>

#include "client/lm/generate.h"
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
    if (generation) last_token_ = generation->token;
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
    // It may hold tokens the generator gave past those read: a stop string read while the
    // batch ran on, or a ring that wrapped one step past (BatchGeneration::cache). Handed
    // back, an arrays cache keeps no steps to go back to.
    int64_t extra = cache_.front().offset() - static_cast<int64_t>(held.size());
    const bool untrimmable = std::any_of(cache_.begin(), cache_.end(), [](const KVCache& layer) {
      return (layer.max_size() && layer.offset() > *layer.max_size()) || !layer.is_trimmable();
    });
    if (extra == 1 && untrimmable && last_token_) {
      // The last token read is in it too: kept under it, as a next turn that repeats the
      // reply whole begins.
      held.push_back(*last_token_);
      extra = 0;
    }
    if (extra < 0 || (extra > 0 && untrimmable)) return;  // its past cannot be given back
    for (KVCache& layer : cache_) layer.trim(extra);
    std::lock_guard<std::mutex> lock(pool_->mu);
    pool_->cache.Put(std::move(held), std::move(cache_));
  }

 private:
  PromptPool* pool_;
  std::unique_ptr<BatchScheduler::Request> request_;  // leaves the batch when destroyed
  std::vector<KVCache> cache_;                        // the last token's
  bool finished_ = false;                             // the last token was read
  std::optional<int32_t> last_token_;                 // the last read
};

// One request at a time, by a TokenGenerator, or a SpeculativeGenerator with a draft.
class OneAtATime : public TokenSource {
 public:
  OneAtATime(Model& model, GenerateOptions options, std::mutex& one_at_a_time,
             BatchSequence sequence, const std::vector<int32_t>& prompt, PromptPool* pool,
             PromptPool* draft_pool)
      : lock_(one_at_a_time),
        pool_(pool),
        draft_pool_(options.draft_model ? draft_pool : nullptr),
        stop_tokens_(std::move(sequence.stop_tokens)),
        max_tokens_(sequence.max_tokens) {
    Model* draft = options.draft_model;
    if (pool_ && (draft == nullptr || draft_pool_)) {
      auto take = [&](PromptPool& p) {
        std::lock_guard<std::mutex> lock(p.mu);
        return p.cache.Take(prompt);
      };
      auto [layers, kept] = take(*pool_);
      cached_ = kept;
      if (draft) {
        // The beginning both models' caches hold (kept in step, they hold the same).
        auto [draft_layers, draft_kept] = take(*draft_pool_);
        cached_ = std::min(kept, draft_kept);
        for (KVCache& layer : layers) layer.trim(kept - cached_);
        for (KVCache& layer : draft_layers) layer.trim(draft_kept - cached_);
        draft_cache_ = std::move(draft_layers);
      }
      cache_ = std::move(layers);
    } else {
      pool_ = nullptr;
      // Speculative decoding trims its caches: plain ones, which a ring's would not allow.
      cache_ = draft ? model.make_cache() : make_prompt_cache(model);
      if (draft) draft_cache_ = draft->make_cache();
    }
    options.max_tokens = max_tokens_;
    options.sampler = std::move(sequence.sampler);
    options.logits_processors = std::move(sequence.logits_processors);
    options.prompt_cache = &cache_;
    const std::vector<int32_t> rest(prompt.begin() + cached_, prompt.end());
    if (draft) {
      options.draft_prompt_cache = &draft_cache_;
      speculative_.emplace(model, rest, std::move(options));
    } else {
      plain_.emplace(model, rest, std::move(options));
    }
  }

  std::optional<BatchGeneration> Next() override {
    if (ended_) return std::nullopt;
    std::optional<GenerationStep> step;
    try {
      step = speculative_ ? speculative_->next() : plain_->next();
    } catch (const std::exception& failure) {
      error_ = failure.what();
      ended_ = true;
      return std::nullopt;
    }
    if (!step) return std::nullopt;
    std::string finish;
    const int generated = speculative_ ? speculative_->generated() : plain_->generated();
    if (std::find(stop_tokens_.begin(), stop_tokens_.end(), step->token) != stop_tokens_.end()) {
      finish = "stop";
    } else if (generated == max_tokens_) {
      finish = "length";
    }
    ended_ = !finish.empty();
    return BatchGeneration{0, step->token, step->logprobs, finish, {}};
  }
  std::string error() const override { return error_; }
  void Keep(std::vector<int32_t> held) override {
    // Leaves the caches holding the tokens given but the last.
    speculative_.reset();
    plain_.reset();
    if (!pool_) return;
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (!draft_pool_) {
      pool_->cache.Put(std::move(held), std::move(cache_));
      return;
    }
    pool_->cache.Put(held, std::move(cache_));
    std::lock_guard<std::mutex> draft_lock(draft_pool_->mu);
    draft_pool_->cache.Put(std::move(held), std::move(draft_cache_));
  }

 private:
  std::lock_guard<std::mutex> lock_;  // first: held until the generation is gone
  PromptPool* pool_;
  PromptPool* draft_pool_;
  const std::vector<int32_t> stop_tokens_;
  const int max_tokens_;
  std::vector<KVCache> cache_, draft_cache_;
  // After the caches: they trim them when they go.
  std::optional<TokenGenerator> plain_;
  std::optional<SpeculativeGenerator> speculative_;
  std::string error_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<TokenSource> BatchTokens(BatchScheduler& scheduler, BatchSequence sequence,
                                         const std::vector<int32_t>& prompt, PromptPool* pool) {
  return std::make_unique<Batch>(scheduler, std::move(sequence), prompt, pool);
}

std::unique_ptr<TokenSource> OneAtATimeTokens(Model& model, GenerateOptions options,
                                              std::mutex& one_at_a_time, BatchSequence sequence,
                                              const std::vector<int32_t>& prompt, PromptPool* pool,
                                              PromptPool* draft_pool) {
  return std::make_unique<OneAtATime>(model, std::move(options), one_at_a_time, std::move(sequence),
                                      prompt, pool, draft_pool);
}

}  // namespace ferry::lm::server
