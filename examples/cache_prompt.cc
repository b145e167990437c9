// Computes a prompt's KV cache once and saves it, as `mlx_lm.cache_prompt` does: the model is
// loaded onto a ferryd (started here unless --remote names one), the prompt (its chat
// template's user turn, left open, where the tokenizer has one) runs through
// make_prompt_cache's caches in one prefill, and the caches are written to
// --prompt_cache_file in mlx-lm's format, with the model's path as metadata. Then
// `examples/generate --prompt_cache_file` (or mlx_lm.generate --prompt-cache-file) goes on
// from it with only the rest of the prompt to prefill.
//
//   ./bazelw run //examples:cache_prompt -- --model=/models/Qwen3-8B-4bit   (one line)
//       --prompt="$(cat manual.txt)" --prompt_cache_file=manual.safetensors

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/kv_cache.h"
#include "client/lm/load.h"
#include "client/lm/prompt_cache_file.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, model, "", "model directory");
ABSL_FLAG(std::string, prompt, "", "the prompt to cache; \"-\": standard input");
ABSL_FLAG(std::string, prompt_cache_file, "prompt_cache.safetensors", "where the cache goes");
ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, max_kv_size, 0, "positions each layer's cache keeps at most; 0: all");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_path = absl::GetFlag(FLAGS_model);
  std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (prompt == "-") prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (model_path.empty() || prompt.empty()) {
    std::fprintf(stderr, "cache_prompt: --model and --prompt name what to cache\n");
    return 1;
  }
  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address = ferry::examples::RemoteOrLocalFerryd(
      argv[0], "cache_prompt", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;
  try {
    const ferry::Device remote = ferry::connect(address);
    auto [model, tokenizer] = ferry::lm::load(model_path, remote);
    std::vector<int32_t> tokens;
    if (tokenizer.has_chat_template()) {
      // transformers' continue_final_message: the user's turn rendered, cut after its text.
      const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", prompt}}};
      std::string text = tokenizer.apply_chat_template(messages);
      text = text.substr(0, text.rfind(prompt) + prompt.size());
      tokens = tokenizer.encode(text, /*add_special_tokens=*/false);
    } else {
      tokens = tokenizer.encode(prompt);
    }
    const int max_kv_size = absl::GetFlag(FLAGS_max_kv_size);
    std::vector<ferry::lm::KVCache> cache = ferry::lm::make_prompt_cache(
        *model, max_kv_size > 0 ? std::optional<int>(max_kv_size) : std::nullopt);
    (*model)(ferry::from_host(tokens, {1, static_cast<int64_t>(tokens.size())}, remote), &cache);
    const std::string file = absl::GetFlag(FLAGS_prompt_cache_file);
    ferry::lm::save_prompt_cache(file, cache, {{"model", model_path}, {"tokenizer_config", "{}"}});
    std::printf("cache_prompt: %zu tokens of %s cached in %s\n", tokens.size(), model_path.c_str(),
                file.c_str());
    return 0;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "cache_prompt: %s\n", e.what());
    return 1;
  }
}
