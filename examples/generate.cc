// Loads a language model (a directory as mlx-lm or Hugging Face save one: config.json,
// model*.safetensors, tokenizer.json) onto a ferryd daemon and streams its reply to a prompt,
// as `mlx_lm.generate --model DIR --prompt TEXT` does on a Mac. Each token is one Execute of
// the same graph on the daemon, sent before the previous token is read. With --check the
// same generation runs on the local device too, and the program exits 1 unless both gave the
// same tokens. Starts its own ferryd on a free loopback port unless --remote names one.
// With --draft_model (a smaller model of the same tokenizer) it decodes speculatively, as
// mlx_lm.generate --draft-model: the draft proposes --num_draft_tokens tokens, the model
// checks them in one pass, a round is one Execute; the stats say how many were the draft's.
// With --prompt_cache_file (examples/cache_prompt's, or mlx_lm.cache_prompt's) the prompt
// goes on from the caches it holds, as mlx_lm.generate --prompt-cache-file.
//
//   ./bazelw run //examples:generate
//   ./bazelw run //examples:generate -- --model=/models/Qwen2.5-0.5B-Instruct-4bit   (one line)
//       --remote=gpu-node-0:7070 --prompt="Write a haiku about ferries." --max_tokens=100

#include "client/lm/generate.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/prompt_cache_file.h"
#include "client/lm/tuner/lora.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, model, "", "model directory; empty: examples/models/ferry-tiny-llama");
ABSL_FLAG(std::string, prompt, "ferry lets a C++ program", "the prompt");
ABSL_FLAG(int, max_tokens, 120, "tokens to generate at most");
ABSL_FLAG(double, temp, 0.0, "sampling temperature; 0: greedy");
ABSL_FLAG(double, top_p, 1.0, "nucleus sampling's mass (1: off)");
ABSL_FLAG(uint64_t, seed, 0, "random seed of the sampler");
ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(bool, check, true, "also generate on the local device and compare the tokens");
ABSL_FLAG(std::string, adapter_path, "",
          "a LoRA adapter directory (adapters.safetensors, adapter_config.json), as mlx-lm's");
ABSL_FLAG(std::string, draft_model, "", "a draft model directory: speculative decoding");
ABSL_FLAG(std::string, prompt_cache_file, "",
          "a prompt's caches (examples/cache_prompt, mlx_lm.cache_prompt): the prompt goes on "
          "from them");
ABSL_FLAG(int, num_draft_tokens, 3, "tokens the draft model proposes a round");
ABSL_FLAG(int, max_kv_size, 0,
          "positions each layer's KV cache keeps at most (a rotating cache, mlx_lm.generate "
          "--max-kv-size); 0: every one");
ABSL_FLAG(int, kv_bits, 0,
          "bits of the quantized KV cache (mlx_lm.generate --kv-bits, 4 or 8); 0: unquantized");
ABSL_FLAG(int, kv_group_size, 64, "features per scale and bias of the quantized KV cache");
ABSL_FLAG(int, quantized_kv_start, 5000,
          "positions a layer's cache holds before it is quantized (with --kv_bits)");

namespace {

std::string RunfilesPath(const char* argv0, const std::string& path) {
  for (const std::string& dir : {std::string(argv0) + ".runfiles/ferry/", std::string()}) {
    if (std::FILE* f = std::fopen((dir + path + "/config.json").c_str(), "r")) {
      std::fclose(f);
      return dir + path;
    }
  }
  return path;
}

// What a device did between two readings of its counters (those this example prints).
ferry::DeviceStats Since(const ferry::DeviceStats& from, const ferry::DeviceStats& to) {
  ferry::DeviceStats d;
  d.executes = to.executes - from.executes;
  d.graphs_sent = to.graphs_sent - from.graphs_sent;
  d.uploads = to.uploads - from.uploads;
  d.bytes_sent = to.bytes_sent - from.bytes_sent;
  d.bytes_received = to.bytes_received - from.bytes_received;
  return d;
}

struct Generation {
  std::vector<int32_t> tokens;
  int64_t from_draft = 0;  // tokens the draft proposed and the model accepted
  std::optional<ferry::lm::GenerationResponse> last;
  ferry::DeviceStats cost;    // what the device was sent and sent back, prompt included
  ferry::DeviceStats steady;  // the same for the steps sent after the second token was read
};

Generation Generate(ferry::lm::Model& model, const ferry::lm::Tokenizer& tokenizer,
                    const std::string& prompt, const ferry::Device& device, bool print,
                    ferry::lm::Model* draft) {
  ferry::lm::GenerateOptions options;
  options.draft_model = draft;
  options.num_draft_tokens = absl::GetFlag(FLAGS_num_draft_tokens);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  if (absl::GetFlag(FLAGS_max_kv_size) > 0) options.max_kv_size = absl::GetFlag(FLAGS_max_kv_size);
  if (absl::GetFlag(FLAGS_kv_bits) > 0) options.kv_bits = absl::GetFlag(FLAGS_kv_bits);
  options.kv_group_size = absl::GetFlag(FLAGS_kv_group_size);
  options.quantized_kv_start = absl::GetFlag(FLAGS_quantized_kv_start);
  options.sampler = ferry::lm::make_sampler(static_cast<float>(absl::GetFlag(FLAGS_temp)),
                                            static_cast<float>(absl::GetFlag(FLAGS_top_p)));
  ferry::random::seed(absl::GetFlag(FLAGS_seed));
  std::vector<ferry::lm::KVCache> cache;
  if (const std::string file = absl::GetFlag(FLAGS_prompt_cache_file); !file.empty()) {
    cache = ferry::lm::load_prompt_cache(file, device).first;
    options.prompt_cache = &cache;
  }
  Generation out;
  const ferry::DeviceStats before = device.stats();
  ferry::DeviceStats second;
  ferry::lm::stream_generate(model, tokenizer, prompt, options,
                             [&](const ferry::lm::GenerationResponse& response) {
                               if (print) {
                                 std::fputs(response.text.c_str(), stdout);
                                 std::fflush(stdout);
                               }
                               out.tokens.push_back(response.token);
                               out.from_draft += response.from_draft;
                               out.last = response;
                               if (response.generation_tokens == 2) second = device.stats();
                               return true;
                             });
  const ferry::DeviceStats after = device.stats();
  out.cost = Since(before, after);
  out.steady = Since(second, after);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string model_path = absl::GetFlag(FLAGS_model);
  std::string model_name = model_path;
  if (model_path.empty()) {
    model_name = "examples/models/ferry-tiny-llama";
    model_path = RunfilesPath(argv[0], model_name);
  }
  const std::string prompt = absl::GetFlag(FLAGS_prompt);

  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address = ferry::examples::RemoteOrLocalFerryd(
      argv[0], "generate", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;
  try {
    const ferry::Device remote = ferry::connect(address);
    auto [model, tokenizer] = ferry::lm::load(model_path, remote);
    const std::string adapter_path = absl::GetFlag(FLAGS_adapter_path);
    if (!adapter_path.empty()) ferry::lm::tuner::load_adapters(*model, adapter_path);
    const ferry::lm::ModelArgs& args = model->args();
    std::printf(
        "ferry generate: %s (%s, %d layers, width %lld, vocabulary %lld%s)\n", model_name.c_str(),
        args.model_type.c_str(), args.num_hidden_layers, static_cast<long long>(args.hidden_size),
        static_cast<long long>(tokenizer.vocab_size()),
        args.quantization
            ? (", " + std::to_string(args.quantization->bits) + "-bit " + args.quantization->mode)
                  .c_str()
            : "");
    // mlx_lm.generate's check: the draft must share the model's tokenizer.
    std::string draft_path = absl::GetFlag(FLAGS_draft_model);
    if (!draft_path.empty()) draft_path = RunfilesPath(argv[0], draft_path);
    if (!draft_path.empty() &&
        ferry::lm::load_tokenizer(draft_path).vocab_size() != tokenizer.vocab_size()) {
      std::fprintf(stderr, "generate: the draft model's tokenizer does not match the model's\n");
      return 1;
    }
    std::unique_ptr<ferry::lm::Model> draft;
    if (!draft_path.empty()) {
      draft = ferry::lm::load_model(draft_path, remote);
      std::printf("  draft    %s (%d layers, width %lld), %d tokens a round\n",
                  absl::GetFlag(FLAGS_draft_model).c_str(), draft->args().num_hidden_layers,
                  static_cast<long long>(draft->args().hidden_size),
                  absl::GetFlag(FLAGS_num_draft_tokens));
    }
    std::printf("  device   %s\n==========\n%s", remote.description().c_str(), prompt.c_str());
    const Generation on_daemon =
        Generate(*model, tokenizer, prompt, remote, /*print=*/true, draft.get());
    const ferry::lm::GenerationResponse& r = *on_daemon.last;
    std::printf("\n==========\n  prompt   %lld tokens, %.1f tokens/s\n",
                static_cast<long long>(r.prompt_tokens), r.prompt_tps);
    std::printf("  generate %lld tokens, %.1f tokens/s (finished: %s)\n",
                static_cast<long long>(r.generation_tokens), r.generation_tps,
                r.finish_reason.c_str());
    if (draft) {
      std::printf("  draft    %lld of %lld tokens were the draft's, accepted (%.1f%%)\n",
                  static_cast<long long>(on_daemon.from_draft),
                  static_cast<long long>(r.generation_tokens),
                  100.0 * static_cast<double>(on_daemon.from_draft) /
                      static_cast<double>(r.generation_tokens));
    }
    // The prompt is one Execute (per 2048 tokens; per model with a draft), each token one
    // more (with a draft, each round of tokens); a graph is sent whole the first time it
    // runs, then named by id. The first evals of a graph also send back what they computed
    // (the caches), later ones only what the program reads.
    const ferry::DeviceStats& c = on_daemon.cost;
    std::printf("  daemon   %lld Execute, graphs sent whole %lld time(s), %lld uploads\n",
                static_cast<long long>(c.executes), static_cast<long long>(c.graphs_sent),
                static_cast<long long>(c.uploads));
    const ferry::DeviceStats& s = on_daemon.steady;
    if (s.executes > 0) {
      std::printf(
          "  steady   the last %lld steps: graph sent whole %lld time(s); per step %.0f bytes "
          "sent, %.0f received\n",
          static_cast<long long>(s.executes), static_cast<long long>(s.graphs_sent),
          static_cast<double>(s.bytes_sent) / static_cast<double>(s.executes),
          static_cast<double>(s.bytes_received) / static_cast<double>(s.executes));
    }
    if (absl::GetFlag(FLAGS_check)) {
      auto [local_model, local_tokenizer] = ferry::lm::load(model_path, ferry::local());
      if (!adapter_path.empty()) ferry::lm::tuner::load_adapters(*local_model, adapter_path);
      std::unique_ptr<ferry::lm::Model> local_draft;
      if (draft) local_draft = ferry::lm::load_model(draft_path, ferry::local());
      const Generation here = Generate(*local_model, local_tokenizer, prompt, ferry::local(),
                                       /*print=*/false, local_draft.get());
      const bool same = here.tokens == on_daemon.tokens;
      std::printf("  check    the local device generated the same %zu tokens: %s\n",
                  here.tokens.size(), same ? "yes" : "no");
      if (!same) return 1;
    }
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
