// ferry_lm_server: OpenAI's completions API for a model on a ferry device, as mlx_lm.server
// serves one on a Mac: a chat front end or the `openai` client on a laptop talks to this,
// and the model runs on a ferryd's GPU.
//
//   ./bazelw run //client/lm/server:ferry_lm_server -- --model=/models/Qwen2.5-0.5B-Instruct
//       --device=gpu-node:50051 --listen=0.0.0.0:8080      (one line)
//   curl localhost:8080/v1/chat/completions -H 'Content-Type: application/json'
//       -d '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}'

#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/server/http_server.h"
#include "client/lm/server/openai_api.h"
#include "client/lm/tokenizer_config.h"
#include "client/lm/tuner/lora.h"
#include "nlohmann/json.hpp"
#include "server/tcp_listener.h"

ABSL_FLAG(std::string, model, "", "model directory (mlx-lm or Hugging Face layout)");
ABSL_FLAG(std::string, model_id, "", "the name /v1/models lists; empty: the directory's name");
ABSL_FLAG(std::string, device, "local", "\"local\" (this process's CPU) or a ferryd's host:port");
ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "host:port to serve on (port 0: any free one, printed)");
ABSL_FLAG(int, max_tokens, 512, "tokens a request that names none may generate");
ABSL_FLAG(double, temp, 0.0, "sampling temperature a request that names none gets");
ABSL_FLAG(double, top_p, 1.0, "top_p a request that names none gets");
ABSL_FLAG(int, top_k, 0, "top_k a request that names none gets (0: off)");
ABSL_FLAG(double, min_p, 0.0, "min_p a request that names none gets");
ABSL_FLAG(std::string, port_file, "", "where to write the port served on (as ferryd's)");
ABSL_FLAG(bool, prompt_cache, true, "reuse recent replies' KV caches for prompts continuing them");
ABSL_FLAG(int, prompt_cache_size, 10, "KV caches kept for prompts continuing them");
ABSL_FLAG(int, decode_concurrency, 32, "the most requests decoded together in one batch");
ABSL_FLAG(std::string, draft_model, "",
          "a smaller model of the same tokenizer for speculative decoding (requests are then "
          "served one at a time, as mlx_lm.server's)");
ABSL_FLAG(int, num_draft_tokens, 3, "tokens the draft proposes at a time (a request may say)");
ABSL_FLAG(std::string, adapter_path, "",
          "a LoRA or DoRA adapter directory (adapters.safetensors, adapter_config.json) applied "
          "to the model, as mlx-lm's");
ABSL_FLAG(std::string, chat_template, "",
          "a chat template (Jinja text) instead of the model's own");
ABSL_FLAG(std::string, chat_template_args, "{}",
          "a JSON object of chat template variables every chat request gets, e.g. "
          "'{\"enable_thinking\": false}' (a request's chat_template_kwargs win)");
ABSL_FLAG(int, prefill_step_size, 2048, "prompt tokens per prefill graph");
ABSL_FLAG(std::string, prompt_cache_bytes, "",
          "the most bytes the kept KV caches may take, e.g. 8G or 512M (empty: no bound)");
ABSL_FLAG(int, kv_bits, 0,
          "quantize the KV caches to 4 or 8 bits (0: off); requests are then served one at a "
          "time, as mlx_lm.server's");
ABSL_FLAG(int, kv_group_size, 64, "features per scale and bias of the quantized KV caches");
ABSL_FLAG(int, quantized_kv_start, 5000, "positions a cache holds before it is quantized");

namespace {

volatile std::sig_atomic_t stop_signal = 0;

// "512M", "8G", "1000": bytes (K, M, G powers of 1024, a trailing B allowed).
std::optional<int64_t> ParseBytes(std::string text) {
  if (!text.empty() && (text.back() == 'B' || text.back() == 'b')) text.pop_back();
  int64_t unit = 1;
  if (!text.empty()) {
    const char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
    const std::string units = "KMG";
    if (const size_t power = units.find(last); power != std::string::npos) {
      unit = int64_t{1} << (10 * (power + 1));
      text.pop_back();
    }
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0) return std::nullopt;
  return value * unit;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_path = absl::GetFlag(FLAGS_model);
  if (model_path.empty()) {
    std::fprintf(stderr, "ferry_lm_server: --model is required\n");
    return 2;
  }
  try {
    const std::string where = absl::GetFlag(FLAGS_device);
    const ferry::Device device = where == "local" ? ferry::local() : ferry::connect(where);
    auto [model, tokenizer] = ferry::lm::load(model_path, device);
    if (const std::string adapter_path = absl::GetFlag(FLAGS_adapter_path); !adapter_path.empty()) {
      ferry::lm::tuner::load_adapters(*model, adapter_path);
    }
    if (const std::string source = absl::GetFlag(FLAGS_chat_template); !source.empty()) {
      tokenizer.set_chat_template(*ferry::lm::ChatTemplate::load(model_path, source));
    }
    ferry::lm::server::ServiceOptions options;
    options.chat_template_args =
        nlohmann::ordered_json::parse(absl::GetFlag(FLAGS_chat_template_args), nullptr, false);
    if (!options.chat_template_args.is_object()) {
      std::fprintf(stderr, "ferry_lm_server: --chat_template_args must be a JSON object\n");
      return 2;
    }
    options.prefill_step_size = absl::GetFlag(FLAGS_prefill_step_size);
    if (const std::string bytes = absl::GetFlag(FLAGS_prompt_cache_bytes); !bytes.empty()) {
      const std::optional<int64_t> parsed = ParseBytes(bytes);
      if (!parsed) {
        std::fprintf(stderr,
                     "ferry_lm_server: --prompt_cache_bytes must be a number of bytes, with K, "
                     "M or G after it or not, not \"%s\"\n",
                     bytes.c_str());
        return 2;
      }
      options.prompt_cache_bytes = *parsed;
    }
    if (absl::GetFlag(FLAGS_kv_bits) > 0) options.kv_bits = absl::GetFlag(FLAGS_kv_bits);
    options.kv_group_size = absl::GetFlag(FLAGS_kv_group_size);
    options.quantized_kv_start = absl::GetFlag(FLAGS_quantized_kv_start);
    options.model_id = absl::GetFlag(FLAGS_model_id);
    if (options.model_id.empty()) {
      options.model_id = std::filesystem::path(model_path).lexically_normal().filename().string();
      if (options.model_id.empty()) {
        options.model_id = std::filesystem::path(model_path).parent_path().filename().string();
      }
    }
    options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
    options.temperature = static_cast<float>(absl::GetFlag(FLAGS_temp));
    options.top_p = static_cast<float>(absl::GetFlag(FLAGS_top_p));
    options.top_k = absl::GetFlag(FLAGS_top_k);
    options.min_p = static_cast<float>(absl::GetFlag(FLAGS_min_p));
    options.prompt_cache = absl::GetFlag(FLAGS_prompt_cache);
    options.prompt_cache_size = absl::GetFlag(FLAGS_prompt_cache_size);
    options.decode_concurrency = absl::GetFlag(FLAGS_decode_concurrency);
    if (const auto config = ferry::lm::ReadTokenizerConfig(model_path);
        config.contains("tool_parser_type") && config["tool_parser_type"].is_string()) {
      options.tool_parser_type = config["tool_parser_type"].get<std::string>();  // mlx-lm's
    }
    if (options.prompt_cache_size < 1 || options.decode_concurrency < 1 ||
        absl::GetFlag(FLAGS_num_draft_tokens) < 1 || options.prefill_step_size < 1) {
      std::fprintf(stderr,
                   "--prompt_cache_size, --decode_concurrency, --num_draft_tokens and "
                   "--prefill_step_size must be at least 1\n");
      return 2;
    }
    std::unique_ptr<ferry::lm::Model> draft;
    if (const std::string draft_path = absl::GetFlag(FLAGS_draft_model); !draft_path.empty()) {
      auto [draft_model, draft_tokenizer] = ferry::lm::load(draft_path, device);
      if (draft_tokenizer.vocab_size() != tokenizer.vocab_size()) {  // mlx_lm.server warns
        std::fprintf(stderr,
                     "ferry_lm_server: the draft's tokenizer (%d tokens) is not the model's "
                     "(%d): speculative decoding may not work as expected\n",
                     static_cast<int>(draft_tokenizer.vocab_size()),
                     static_cast<int>(tokenizer.vocab_size()));
      }
      draft = std::move(draft_model);
      options.draft_model = draft.get();
      options.num_draft_tokens = absl::GetFlag(FLAGS_num_draft_tokens);
    }
    ferry::lm::server::OpenAiService service(*model, tokenizer, options);

    ferry::lm::server::HttpServerOptions listen;
    listen.address = absl::GetFlag(FLAGS_listen);
    auto server = ferry::lm::server::HttpServer::Start(
        listen, [&service](const ferry::lm::server::HttpRequest& request,
                           ferry::lm::server::HttpResponder& responder) {
          service.Handle(request, responder);
        });
    if (!server.ok()) {
      std::fprintf(stderr, "ferry_lm_server: %s\n", server.status().ToString().c_str());
      return 1;
    }
    if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
      if (absl::Status written = ferry::server::WritePortFile(port_file, (*server)->port());
          !written.ok()) {
        std::fprintf(stderr, "ferry_lm_server: %s\n", written.ToString().c_str());
        return 1;
      }
    }
    std::printf("ferry_lm_server: %s on %s (%s), serving HTTP on port %d\n",
                options.model_id.c_str(), device.description().c_str(),
                tokenizer.has_chat_template() ? "chat template" : "no chat template",
                (*server)->port());
    std::fflush(stdout);
    std::signal(SIGINT, [](int) { stop_signal = 1; });
    std::signal(SIGTERM, [](int) { stop_signal = 1; });
    while (!stop_signal) pause();
    (*server)->Shutdown();
    std::printf("ferry_lm_server: stopped\n");
  } catch (const ferry::Error& error) {
    std::fprintf(stderr, "ferry_lm_server: %s: %s\n", ferry::ErrorCodeName(error.code()),
                 error.what());
    return 1;
  }
  return 0;
}
