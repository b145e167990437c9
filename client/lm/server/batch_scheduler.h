#ifndef FERRY_CLIENT_LM_SERVER_BATCH_SCHEDULER_H_
#define FERRY_CLIENT_LM_SERVER_BATCH_SCHEDULER_H_

// One BatchGenerator run by a thread of its own for requests from many threads (a server's
// connections): each request's tokens come to its own queue, and every request in flight is
// decoded in the same step (continuous batching, as mlx_lm.server's).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/lm/batch_generator.h"
#include "client/lm/model.h"

namespace ferry::lm::server {

class BatchScheduler {
 public:
  // One request's tokens. Destroying it before its last token removes the sequence (a
  // client that left, or a stop string met).
  class Request {
   public:
    ~Request();
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    // The next token, waiting for it; nothing after the last, or once the generation
    // failed (error() then says why).
    std::optional<BatchGeneration> Next();
    const std::string& error() const { return error_; }
    // Ends the request before its last token is read (a stop string met) and returns its
    // cache as its last token brings it (BatchGenerator::remove): holding the prompt and the
    // tokens the generator gave but the last, which may be more than were read.
    std::vector<KVCache> Leave();

   private:
    friend class BatchScheduler;
    explicit Request(BatchScheduler* scheduler) : scheduler_(scheduler) {}

    BatchScheduler* scheduler_;
    uint64_t uid_ = 0;       // the generator's, once inserted
    bool inserted_ = false;  // guarded by the scheduler's mu_, as the rest
    bool ended_ = false;
    std::deque<BatchGeneration> tokens_;
    std::optional<std::vector<KVCache>> left_cache_;  // Leave's, once the thread removed it
    std::string error_;
    std::condition_variable ready_;
  };

  // `model` must outlive the scheduler.
  BatchScheduler(Model& model, BatchGeneratorOptions options);
  // Ends the thread; requests still waiting get an error.
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  std::unique_ptr<Request> Submit(BatchSequence sequence);
  // The most requests one step has decoded together so far.
  int64_t largest_batch() const;
  // The most steps sent ahead of the tokens read so far (BatchGenerator::most_in_flight).
  int64_t most_in_flight() const;

 private:
  void Run();
  // Ends every request in flight with `error` (the generator failed).
  void FailAll(const std::string& error);

  Model& model_;
  const BatchGeneratorOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::pair<Request*, BatchSequence>> arriving_;
  std::vector<uint64_t> leaving_;              // uids of requests destroyed before their end
  std::vector<Request*> leaving_with_cache_;   // requests in Leave(), waiting for their cache
  std::map<uint64_t, Request*> running_;       // inserted, not ended
  std::unique_ptr<BatchGenerator> generator_;  // used by the thread only
  int64_t largest_batch_ = 0;
  int64_t most_in_flight_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_BATCH_SCHEDULER_H_
