// Text in, text out: ferry-tiny-llama (a Llama that make_tiny_llama.py trained with MLX, with
// its byte-level BPE tokenizer) loaded by lm::load replies to the README's first words as
// mlx-lm's generate does, streaming whole characters, and stops where it is told.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::testing::Runfile;

class GenerateTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(Runfile("examples/models/ferry-tiny-llama.mlx_lm.json"));
    std::stringstream text;
    text << in.rdbuf();
    mlx_lm_ = nlohmann::json::parse(text.str());
  }
  nlohmann::json mlx_lm_;
  const std::string model_path_ = Runfile("examples/models/ferry-tiny-llama");
};

TEST_F(GenerateTextTest, TheReplyIsMlxLms) {
  auto [model, tokenizer] = load(model_path_);
  const std::string prompt = mlx_lm_["prompt"];
  EXPECT_EQ(tokenizer.encode(prompt), mlx_lm_["prompt_ids"].get<std::vector<int32_t>>());
  GenerateOptions options;
  options.max_tokens = mlx_lm_["max_tokens"];
  EXPECT_EQ(generate(*model, tokenizer, prompt, options), mlx_lm_["reply"].get<std::string>());
}

TEST_F(GenerateTextTest, StreamingGivesTheSameTextPieceByPiece) {
  auto [model, tokenizer] = load(model_path_);
  GenerateOptions options;
  options.max_tokens = 30;
  std::string streamed;
  std::vector<int32_t> tokens;
  std::string finish;
  stream_generate(*model, tokenizer, "ferry lets a C++ program", options,
                  [&](const GenerationResponse& response) {
                    streamed += response.text;
                    tokens.push_back(response.token);
                    EXPECT_EQ(response.generation_tokens, static_cast<int64_t>(tokens.size()));
                    EXPECT_EQ(response.prompt_tokens, 12);  // BOS and 11
                    finish = response.finish_reason;
                    return true;
                  });
  EXPECT_EQ(tokens.size(), 30u);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(streamed, tokenizer.decode(tokens));
}

TEST_F(GenerateTextTest, AnEndTokenOrTheCallerStopsIt) {
  auto [model, tokenizer] = load(model_path_);
  const int32_t eos = *tokenizer.token_to_id("<|end_of_text|>");
  EXPECT_EQ(tokenizer.eos_token_ids(), std::vector<int32_t>{eos});
  // The model learnt that the README's paragraph ends the text: it stops there.
  GenerateOptions options;
  options.max_tokens = 400;
  std::vector<int32_t> tokens;
  std::string finish, text;
  stream_generate(*model, tokenizer, "many daemons can also form groups whose", options,
                  [&](const GenerationResponse& response) {
                    tokens.push_back(response.token);
                    text += response.text;
                    finish = response.finish_reason;
                    return true;
                  });
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(tokens.back(), eos);
  EXPECT_LT(tokens.size(), 30u);
  EXPECT_EQ(text, " graphs run collectives (see \"Many daemons\").");
  EXPECT_EQ(text.find("<|end_of_text|>"), std::string::npos);
  // The caller stops after 5 tokens.
  int calls = 0;
  stream_generate(*model, tokenizer, "ferry lets", options,
                  [&](const GenerationResponse&) { return ++calls < 5; });
  EXPECT_EQ(calls, 5);
}

}  // namespace
}  // namespace ferry::lm
