#include "client/lm/server/batch_scheduler.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace ferry::lm::server {

BatchScheduler::BatchScheduler(Model& model, BatchGeneratorOptions options)
    : model_(model),
      options_(options),
      generator_(std::make_unique<BatchGenerator>(model, options)),
      thread_([this] { Run(); }) {}

BatchScheduler::~BatchScheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

std::unique_ptr<BatchScheduler::Request> BatchScheduler::Submit(BatchSequence sequence) {
  std::unique_ptr<Request> request(new Request(this));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      request->ended_ = true;
      request->error_ = "the server is stopping";
      return request;
    }
    arriving_.emplace_back(request.get(), std::move(sequence));
  }
  work_.notify_all();
  return request;
}

BatchScheduler::Request::~Request() {
  {
    std::lock_guard<std::mutex> lock(scheduler_->mu_);
    if (ended_) return;
    if (inserted_) {
      scheduler_->running_.erase(uid_);
      scheduler_->leaving_.push_back(uid_);
    } else {
      auto& arriving = scheduler_->arriving_;
      arriving.erase(std::remove_if(arriving.begin(), arriving.end(),
                                    [&](const auto& entry) { return entry.first == this; }),
                     arriving.end());
    }
  }
  scheduler_->work_.notify_all();
}

std::optional<BatchGeneration> BatchScheduler::Request::Next() {
  std::unique_lock<std::mutex> lock(scheduler_->mu_);
  ready_.wait(lock, [&] { return !tokens_.empty() || ended_; });
  if (tokens_.empty()) return std::nullopt;
  BatchGeneration generation = std::move(tokens_.front());
  tokens_.pop_front();
  return generation;
}

std::vector<KVCache> BatchScheduler::Request::Leave() {
  std::unique_lock<std::mutex> lock(scheduler_->mu_);
  if (ended_) {
    // Its last token may be queued, unread, with the cache.
    if (tokens_.empty() || tokens_.back().finish_reason.empty()) return {};
    return std::move(tokens_.back().cache);
  }
  if (!inserted_) {
    auto& arriving = scheduler_->arriving_;
    arriving.erase(std::remove_if(arriving.begin(), arriving.end(),
                                  [&](const auto& entry) { return entry.first == this; }),
                   arriving.end());
    ended_ = true;
    return {};
  }
  scheduler_->running_.erase(uid_);
  scheduler_->leaving_with_cache_.push_back(this);
  scheduler_->work_.notify_all();
  // The thread removes it between two steps (it owns the generator).
  ready_.wait(lock, [&] { return left_cache_.has_value() || ended_; });
  ended_ = true;
  std::vector<KVCache> cache = left_cache_ ? std::move(*left_cache_) : std::vector<KVCache>{};
  left_cache_.reset();
  return cache;
}

int64_t BatchScheduler::largest_batch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return largest_batch_;
}

int64_t BatchScheduler::most_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return most_in_flight_;
}

void BatchScheduler::FailAll(const std::string& error) {
  auto fail = [&](Request* request) {
    request->error_ = error;
    request->ended_ = true;
    request->ready_.notify_all();
  };
  for (auto& [uid, request] : running_) fail(request);
  running_.clear();
  for (auto& [request, sequence] : arriving_) fail(request);
  arriving_.clear();
  for (Request* request : leaving_with_cache_) fail(request);
  leaving_with_cache_.clear();
  leaving_.clear();
}

void BatchScheduler::Run() {
  std::vector<Request*> cached_leaving;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [&] {
        return stopping_ || !arriving_.empty() || !leaving_.empty() ||
               !leaving_with_cache_.empty() || generator_->size() > 0;
      });
      if (stopping_) {
        FailAll("the server is stopping");
        return;
      }
      // Inserting only queues (the prefill runs in next()), so it may hold the lock.
      for (auto& [request, sequence] : arriving_) {
        try {
          request->uid_ = generator_->insert(std::move(sequence));
          request->inserted_ = true;
          running_[request->uid_] = request;
        } catch (const std::exception& error) {
          request->error_ = error.what();
          request->ended_ = true;
          request->ready_.notify_all();
        }
      }
      arriving_.clear();
      for (uint64_t uid : leaving_) generator_->remove(uid);
      leaving_.clear();
      cached_leaving.swap(leaving_with_cache_);
    }
    // Extracting a row's cache evaluates it: unlocked, as the step. A device failure leaves
    // the request without one.
    for (Request* request : cached_leaving) {
      std::vector<KVCache> cache;
      try {
        cache = generator_->remove(request->uid_, /*return_cache=*/true);
      } catch (const std::exception&) {
      }
      std::lock_guard<std::mutex> lock(mu_);
      request->left_cache_ = std::move(cache);
      request->ready_.notify_all();
    }
    cached_leaving.clear();
    // The step runs unlocked: requests arrive and leave meanwhile.
    std::vector<BatchGeneration> step;
    std::string failure;
    try {
      step = generator_->next();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure.empty()) {
      // The batch's state is unknown: every request in it fails, the next starts afresh.
      FailAll(failure);
      generator_ = std::make_unique<BatchGenerator>(model_, options_);
      continue;
    }
    largest_batch_ = std::max(largest_batch_, generator_->largest_batch());
    most_in_flight_ = std::max(most_in_flight_, generator_->most_in_flight());
    for (BatchGeneration& generation : step) {
      auto it = running_.find(generation.uid);
      if (it == running_.end()) continue;  // its request left meanwhile
      Request* request = it->second;
      if (!generation.finish_reason.empty()) {
        request->ended_ = true;
        running_.erase(it);
      }
      request->tokens_.push_back(std::move(generation));
      request->ready_.notify_all();
    }
  }
}

}  // namespace ferry::lm::server
