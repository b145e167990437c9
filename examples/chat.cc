// A chat with a language model on ferryd, as mlx_lm.chat is on a Mac: each turn goes through
// the model's chat template, and the KV cache stays on the daemon between turns, so a turn
// prefills only its new message (the conversation so far is in the cache).
//
//   ./bazelw run //examples:chat -- --model=/models/Qwen2.5-0.5B-Instruct --remote=gpu-node:7070
//
// Commands: q (quit), r (reset the conversation), h (help).

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/prompt_cache.h"
#include "examples/local_ferryd.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "", "model directory with a chat template");
ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, max_tokens, 256, "tokens a reply may have at most");
ABSL_FLAG(double, temp, 0.0, "sampling temperature; 0: greedy");
ABSL_FLAG(double, top_p, 1.0, "nucleus sampling's mass (1: off)");
ABSL_FLAG(uint64_t, seed, 0, "random seed of the sampler");
ABSL_FLAG(std::string, system_prompt, "", "a system message opening the conversation");

namespace {

void PrintCommands() {
  std::printf("Commands: q to quit, r to reset the conversation, h for this list.\n");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_path = absl::GetFlag(FLAGS_model);
  if (model_path.empty()) {
    std::fprintf(stderr, "chat: --model is required (a directory with a chat template)\n");
    return 2;
  }
  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address =
      ferry::examples::RemoteOrLocalFerryd(argv[0], "chat", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;
  try {
    const ferry::Device remote = ferry::connect(address);
    auto [model, tokenizer] = ferry::lm::load(model_path, remote);
    if (!tokenizer.has_chat_template()) {
      std::fprintf(stderr,
                   "chat: %s has no chat template (chat_template.jinja, or "
                   "tokenizer_config.json's chat_template)\n",
                   model_path.c_str());
      return 1;
    }
    std::printf("ferry chat: %s on %s\n", model_path.c_str(), remote.description().c_str());
    PrintCommands();
    ferry::lm::GenerateOptions options;
    options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
    options.sampler = ferry::lm::make_sampler(static_cast<float>(absl::GetFlag(FLAGS_temp)),
                                              static_cast<float>(absl::GetFlag(FLAGS_top_p)));
    ferry::random::seed(absl::GetFlag(FLAGS_seed));
    ferry::lm::PromptCache cache(*model);
    const nlohmann::ordered_json opening =
        absl::GetFlag(FLAGS_system_prompt).empty()
            ? nlohmann::ordered_json::array()
            : nlohmann::ordered_json::array(
                  {{{"role", "system"}, {"content", absl::GetFlag(FLAGS_system_prompt)}}});
    nlohmann::ordered_json messages = opening;
    ferry::lm::ChatTemplateOptions template_options;
    template_options.add_generation_prompt = true;
    for (std::string line; std::printf(">> "), std::fflush(stdout), std::getline(std::cin, line);) {
      if (line == "q") break;
      if (line == "h") {
        PrintCommands();
        continue;
      }
      if (line == "r") {
        messages = opening;
        cache.Reset();
        std::printf("(a new conversation)\n");
        continue;
      }
      messages.push_back({{"role", "user"}, {"content", line}});
      const std::vector<int32_t> prompt =
          tokenizer.apply_chat_template_ids(messages, template_options);
      options.prompt_cache = cache.layers();
      std::vector<int32_t> given;
      std::string reply;
      double tokens_per_second = 0;
      ferry::lm::stream_generate(*model, tokenizer, cache.Prepare(prompt), options,
                                 [&](const ferry::lm::GenerationResponse& response) {
                                   std::fputs(response.text.c_str(), stdout);
                                   std::fflush(stdout);
                                   reply += response.text;
                                   given.push_back(response.token);
                                   tokens_per_second = response.generation_tps;
                                   return true;
                                 });
      cache.Finish(given);
      messages.push_back({{"role", "assistant"}, {"content", reply}});
      std::printf("\n[prompt %zu tokens, %lld from the cache; reply %lld tokens, %.1f tokens/s]\n",
                  prompt.size(), static_cast<long long>(cache.reused()),
                  static_cast<long long>(given.size()), tokens_per_second);
    }
    std::printf("\n");
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "chat: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    return 1;
  }
  return 0;
}
