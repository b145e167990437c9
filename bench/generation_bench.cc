// Text generation (ferry::lm) on ferryd against the same model on the local device: a token
// decoded on a daemon over loopback, and over a link with a round trip of 10 ms, where each
// step is sent ahead of the token being read (steps_in_flight) so the round trip overlaps
// the computation. The baseline for the delayed link is what a client that waits for each
// token before sending the next step would pay: the local step plus the round trip.

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/latency_relay.h"
#include "bench/report.h"
#include "bench/transport.h"
#include "client/ferry.h"
#include "client/lm/batch_generate.h"
#include "client/lm/batch_generator.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"

namespace ferry::bench {
namespace {

// A Llama of 4 layers of width 512 (grouped-query attention, SwiGLU), 8192 tokens: 17M
// parameters, 66 MB in float32; tiny with --quick.
lm::ModelArgs BenchLlama(bool quick, int vocab = 8192) {
  return lm::ModelArgs::from_json(absl::StrCat(
      R"({"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 4,)",
      R"("rms_norm_eps": 1e-5, "tie_word_embeddings": false,)", R"("hidden_size": )",
      quick ? 64 : 512, R"(, "num_hidden_layers": )", quick ? 1 : 4, R"(, "intermediate_size": )",
      quick ? 128 : 1408, R"(, "vocab_size": )", quick ? 256 : vocab, "}"));
}

// Median seconds between consecutive tokens read, past the first `warmup`, of a greedy
// generation from a 32-token prompt.
double SecondsPerToken(lm::Model& model, int tokens, int steps_in_flight) {
  const int warmup = 8;
  lm::GenerateOptions options;
  options.max_tokens = warmup + tokens;
  options.steps_in_flight = steps_in_flight;
  std::vector<int32_t> prompt(32);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 7 % 200);
  lm::TokenGenerator generator(model, prompt, options);
  std::vector<double> gaps;
  Clock::time_point last = Clock::now();
  for (int i = 0; i < options.max_tokens; ++i) {
    if (!generator.next()) throw std::runtime_error("generation ended early");
    const Clock::time_point now = Clock::now();
    if (i >= warmup) gaps.push_back(std::chrono::duration<double>(now - last).count());
    last = now;
  }
  std::sort(gaps.begin(), gaps.end());
  return gaps[gaps.size() / 2];
}

std::unique_ptr<lm::Model> ModelOn(const Device& device, bool quick, int vocab = 8192) {
  random::seed(1);
  std::unique_ptr<lm::Model> model = lm::make_model(BenchLlama(quick, vocab), device);
  model->eval();
  eval(model->arrays());
  return model;
}

// Seconds per step of `batch` prompts of 32 tokens generated together, over `tokens` steps
// after the first.
double SecondsPerBatchStep(lm::Model& model, const lm::Tokenizer& tokenizer, int batch,
                           int tokens) {
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(batch));
  for (int b = 0; b < batch; ++b) {
    for (int i = 0; i < 32; ++i) prompts[b].push_back((i * 7 + b * 13) % 200);
  }
  lm::GenerateOptions options;
  options.max_tokens = tokens + 1;
  const lm::BatchResponse response = lm::batch_generate(model, tokenizer, prompts, options, {-1});
  return batch / response.generation_tps;
}

// Seconds per token of `count` sequences of 32-token prompts and `tokens` tokens each, the
// next one arriving every 4 steps while the earlier ones decode (continuous batching, as a
// server's requests arrive): the whole run's wall time over the tokens given.
double SecondsPerStaggeredToken(lm::Model& model, int count, int tokens) {
  lm::BatchGenerator generator(model);
  int inserted = 0, given = 0;
  const Clock::time_point start = Clock::now();
  for (int call = 0; inserted < count || generator.size() > 0; ++call) {
    if (inserted < count && call % 4 == 0) {
      lm::BatchSequence sequence;
      for (int i = 0; i < 32; ++i) sequence.prompt.push_back((i * 7 + inserted * 13) % 200);
      sequence.max_tokens = tokens;
      generator.insert(std::move(sequence));
      ++inserted;
    }
    given += static_cast<int>(generator.next().size());
  }
  if (given != count * tokens) throw std::runtime_error("continuous batch ended early");
  return std::chrono::duration<double>(Clock::now() - start).count() / given;
}

}  // namespace

void RunGenerationBenchmarks(const Options& options, std::vector<Row>& rows) {
  const int tokens = options.quick ? 8 : 48;
  const std::string what = options.quick ? "tiny Llama" : "17M-parameter Llama";
  std::unique_ptr<lm::Model> local_model = ModelOn(local(), options.quick);
  const double local_s = SecondsPerToken(*local_model, tokens, 1);

  // No shared memory: the relay must carry everything.
  std::unique_ptr<server::FerrydProcess> ferryd =
      StartBenchFerryd(options, {"--shared_memory=false"});
  {
    const Device remote = connect(ferryd->address());
    std::unique_ptr<lm::Model> model = ModelOn(remote, options.quick);
    const double remote_s = SecondsPerToken(*model, tokens, 4);
    rows.push_back(MakeRow(absl::StrCat("decode a token, ", what, ", daemon over loopback"),
                           FormatSeconds(remote_s), FormatSeconds(local_s) + " local device",
                           remote_s / local_s, true, 1.3));
  }

  {
    // Eight prompts in one batch against eight tokens decoded one sequence at a time, on
    // the daemon; a vocabulary the tiny model's tokenizer covers (it only decodes).
    const lm::Tokenizer tokenizer = lm::Tokenizer::from_file(server::FindRunfile(
        options.argv0, "ferry/examples/models/ferry-tiny-llama/tokenizer.json"));
    const Device remote = connect(ferryd->address());
    std::unique_ptr<lm::Model> model = ModelOn(remote, options.quick, 384);
    const int batch = 8;
    const double single_s = SecondsPerToken(*model, tokens, 4);
    const double batch_s = SecondsPerBatchStep(*model, tokenizer, batch, tokens);
    rows.push_back(MakeRow(absl::StrCat("decode ", batch, " prompts in one batch, ", what,
                                        " (vocabulary 384), daemon over loopback"),
                           FormatSeconds(batch_s) + " a step",
                           absl::StrCat(batch, " x ", FormatSeconds(single_s), " one at a time"),
                           batch_s / (batch * single_s), true, 0.5));
    // Eight replies of 3 x `tokens` arriving one every 4 steps, joining and leaving the
    // running batch: the batch fills and empties over 28 steps at each end.
    const double staggered_s = SecondsPerStaggeredToken(*model, batch, 3 * tokens);
    rows.push_back(MakeRow(absl::StrCat(batch, " requests of ", 3 * tokens,
                                        " tokens arriving every 4 steps, continuous batching, ",
                                        what, " (vocabulary 384), daemon"),
                           FormatSeconds(staggered_s) + " a token",
                           FormatSeconds(single_s) + " a token one at a time",
                           staggered_s / single_s, true, 0.6));
  }

  const int rtt_ms = options.quick ? 1 : 10;
  absl::StatusOr<std::unique_ptr<LatencyRelay>> relay =
      LatencyRelay::Start(ferryd->port(), std::chrono::microseconds(rtt_ms * 500));
  if (!relay.ok()) throw std::runtime_error(std::string(relay.status().message()));
  const Device far = connect((*relay)->address());
  std::unique_ptr<lm::Model> model = ModelOn(far, options.quick);
  const double unpipelined = local_s + rtt_ms / 1e3;
  for (const auto& [in_flight, target] : {std::pair<int, double>{1, 0.75}, {4, 0.45}}) {
    const double seconds = SecondsPerToken(*model, tokens, in_flight);
    rows.push_back(
        MakeRow(absl::StrCat("decode a token, ", what, ", +", rtt_ms, " ms RTT, ", in_flight,
                             in_flight == 1 ? " step" : " steps", " in flight"),
                FormatSeconds(seconds),
                absl::StrCat(FormatSeconds(local_s), " local + RTT ", rtt_ms, " ms"),
                seconds / unpipelined, true, target));
  }
}

}  // namespace ferry::bench
