#ifndef FERRY_CLIENT_LM_SERVER_OPENAI_API_H_
#define FERRY_CLIENT_LM_SERVER_OPENAI_API_H_

// OpenAI's completions API over one loaded model, as mlx_lm.server serves it: POST
// /v1/completions and /v1/chat/completions (whole or streamed as server-sent events), GET
// /v1/models and /health. Generations run one at a time; the KV cache of the last one is
// kept, and a request whose prompt starts with the same tokens (the next turn of a chat)
// prefills only what follows them.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/model.h"
#include "client/lm/prompt_cache.h"
#include "client/lm/server/http_server.h"
#include "client/lm/tokenizer.h"

namespace ferry::lm::server {

struct ServiceOptions {
  std::string model_id = "default_model";  // what /v1/models lists and replies name
  // What a request that does not say gets (mlx_lm.server's defaults).
  int max_tokens = 512;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  // Keeps the last generation's KV cache for the next request sharing its first tokens.
  bool prompt_cache = true;
  int steps_in_flight = 4;  // GenerateOptions::steps_in_flight
};

class OpenAiService {
 public:
  // `model` must outlive the service.
  OpenAiService(Model& model, Tokenizer tokenizer, ServiceOptions options);

  // Answers one request (thread-safe). Bad requests get 400 naming the field; a model or
  // device error during generation 500 with its message (the stream, if started, ends).
  void Handle(const HttpRequest& request, HttpResponder& responder);

 private:
  struct Completion;  // a parsed request
  Completion Parse(const HttpRequest& request, bool chat) const;
  void Complete(const Completion& completion, HttpResponder& responder);

  Model& model_;
  const Tokenizer tokenizer_;
  const ServiceOptions options_;
  const int64_t created_;  // seconds since the epoch, when the service started

  std::mutex generate_mu_;  // one generation at a time: they share the model and the cache
  PromptCache cache_;       // guarded by generate_mu_
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_OPENAI_API_H_
