// Measures a language model's perplexity as `mlx_lm.perplexity` does, on a ferryd (started
// here unless --remote names one): the examples of a .jsonl file (mlx_lm.lora's formats:
// text, prompt and completion, chat messages) tokenized, concatenated in a shuffled order and
// cut into rows of --sequence_length, each token predicted from those before it. Run it on a
// model and on its quantized conversion (examples/convert) to see what the bits cost.
//
//   ./bazelw run //examples:perplexity -- --model=/models/Qwen3-8B-4bit --data=/data/valid.jsonl

#include "client/lm/perplexity.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/datasets.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, model, "", "model directory");
ABSL_FLAG(std::string, data, "", "a .jsonl file of examples");
ABSL_FLAG(int, sequence_length, 512, "tokens a row");
ABSL_FLAG(int, num_samples, 256, "rows at most; -1: all the data gives");
ABSL_FLAG(int, batch_size, 8, "rows a forward pass");
ABSL_FLAG(uint64_t, seed, 123, "seed of the examples' order");
ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_path = absl::GetFlag(FLAGS_model), data = absl::GetFlag(FLAGS_data);
  if (model_path.empty() || data.empty()) {
    std::fprintf(stderr, "perplexity: --model and --data name what to measure\n");
    return 1;
  }
  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address = ferry::examples::RemoteOrLocalFerryd(
      argv[0], "perplexity", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;
  try {
    const ferry::Device remote = ferry::connect(address);
    auto [model, tokenizer] = ferry::lm::load(model_path, remote);
    std::vector<std::vector<int32_t>> sequences;
    for (ferry::lm::tuner::Example& e : ferry::lm::tuner::load_dataset(data, tokenizer)) {
      sequences.push_back(std::move(e.tokens));
    }
    const ferry::Array rows = ferry::lm::perplexity_rows(
        sequences, absl::GetFlag(FLAGS_sequence_length), absl::GetFlag(FLAGS_num_samples),
        absl::GetFlag(FLAGS_seed), remote);
    const auto start = std::chrono::steady_clock::now();
    const ferry::lm::Perplexity p =
        ferry::lm::perplexity(*model, rows, absl::GetFlag(FLAGS_batch_size));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("Model: %s\nPerplexity: %.3f ± %.3f\nEvaluation time: %.2f seconds\n",
                model_path.c_str(), p.perplexity, p.standard_error, seconds);
    std::printf("Tokens per second: %.0f\n  Total samples: %lld\n  Total tokens: %lld\n",
                static_cast<double>(p.tokens) / seconds, static_cast<long long>(rows.shape(0)),
                static_cast<long long>(rows.size()));
    return 0;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "perplexity: %s\n", e.what());
    return 1;
  }
}
