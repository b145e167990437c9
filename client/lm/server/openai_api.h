#ifndef FERRY_CLIENT_LM_SERVER_OPENAI_API_H_
#define FERRY_CLIENT_LM_SERVER_OPENAI_API_H_

// OpenAI's completions API over one loaded model, as mlx_lm.server serves it: POST
// /v1/completions and /v1/chat/completions (whole or streamed as server-sent events), GET
// /v1/models and /health. Requests in flight are decoded together, one step for all
// (continuous batching: a BatchScheduler); the KV caches of recent replies are kept, and a
// request whose prompt starts with one's tokens (the next turn of a chat) prefills only
// what follows them. A chat reply's reasoning and tool calls come apart from its content, as
// mlx_lm.server parses them (chat_reply.h).

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/model.h"
#include "client/lm/prompt_cache.h"
#include "client/lm/server/batch_scheduler.h"
#include "client/lm/server/http_server.h"
#include "client/lm/server/reply_format.h"
#include "client/lm/server/token_sources.h"
#include "client/lm/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {

struct ServiceOptions {
  std::string model_id = "default_model";  // what /v1/models lists and replies name
  // What a request that does not say gets (mlx_lm.server's defaults).
  int max_tokens = 512;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  // Keeps recent replies' KV caches for the next request sharing their first tokens.
  bool prompt_cache = true;
  int prompt_cache_size = 10;  // caches kept (mlx_lm.server's --prompt-cache-size)
  // Their bytes in all (mlx_lm.server's --prompt-cache-bytes; a draft's counted apart).
  int64_t prompt_cache_bytes = std::numeric_limits<int64_t>::max();
  // The most requests decoded together; more wait (mlx_lm.server's --decode-concurrency).
  int decode_concurrency = 32;
  // GenerateOptions::steps_in_flight, batched or not.
  int steps_in_flight = 4;
  // The format of the model's tool calls (mlx-lm's tool_parser_type: tokenizer_config.json's
  // "tool_parser_type"); empty: the one the chat template implies (see reply_format.h).
  std::string tool_parser_type;
  // Speculative decoding (mlx_lm.server's --draft-model): a smaller model of the same
  // tokenizer, on the model's device, proposing num_draft_tokens (a request's own, or this)
  // at a time. Requests are then served one at a time, as mlx_lm.server's: a draft does not
  // batch. Must outlive the service.
  Model* draft_model = nullptr;
  int num_draft_tokens = 3;
  // Prompt tokens per prefill graph (mlx_lm.server's --prefill-step-size).
  int prefill_step_size = 2048;
  // Quantized KV caches (mlx_lm.server's --kv-bits, --kv-group-size, --quantized-kv-start;
  // GenerateOptions's): requests are then served one at a time, as mlx_lm.server's (a batch
  // keeps full-precision caches). The service refuses (INVALID_ARGUMENT) a model whose
  // caches cannot be quantized.
  std::optional<int> kv_bits;
  int kv_group_size = 64;
  int quantized_kv_start = 5000;
  // Chat template variables every chat request gets (mlx_lm.server's --chat-template-args,
  // e.g. {"enable_thinking": false}); a request's chat_template_kwargs override them.
  nlohmann::ordered_json chat_template_args = nlohmann::ordered_json::object();
};

class OpenAiService {
 public:
  // `model` must outlive the service.
  OpenAiService(Model& model, Tokenizer tokenizer, ServiceOptions options);

  // Answers one request (thread-safe: requests in flight at once share the batch). Bad
  // requests get 400 naming the field; a model or device error during generation 500 with
  // its message (the stream, if started, ends).
  void Handle(const HttpRequest& request, HttpResponder& responder);
  // The most requests one step has decoded together so far.
  int64_t largest_batch() const { return scheduler_ ? scheduler_->largest_batch() : 0; }
  // The most steps the batch has sent ahead of the tokens read so far.
  int64_t most_in_flight() const { return scheduler_ ? scheduler_->most_in_flight() : 0; }

 private:
  struct Completion;  // a parsed request
  Completion Parse(const HttpRequest& request, bool chat) const;
  void Complete(const Completion& completion, HttpResponder& responder);

  Model& model_;
  const Tokenizer tokenizer_;
  const ServiceOptions options_;
  const ReplyFormat reply_format_;  // chat replies' reasoning and tool calls
  const int64_t created_;           // seconds since the epoch, when the service started

  PromptPool prompts_;                       // the model's prompt caches
  std::optional<PromptPool> draft_prompts_;  // the draft's, kept in step
  // Requests served one at a time (a draft, kv_bits, or a model whose caches do not batch),
  // as GenerateOptions say.
  const bool one_at_a_time_;
  GenerateOptions one_at_a_time_options_;
  std::mutex one_at_a_time_mu_;
  // None when requests are served one at a time. Last: its thread stops before the rest goes.
  std::unique_ptr<BatchScheduler> scheduler_;
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_OPENAI_API_H_
