// ferry::lm's mixtures of experts against mlx-lm 0.32.2 on MLX 0.32.4: the same checkpoints
// (random weights; mlx-lm's stacked layout or Hugging Face's per-expert one, float32 or
// 4-bit) give the same logits, and greedy generation from the same prompt the same tokens
// and log-probabilities. testdata/lm_moe_mlx.py writes them.

#include <cstdlib>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::ExpectAllClose;

constexpr double kTolerance = 2e-4;  // as models_mlx_test's float32 models

std::string TestData(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) + "client/lm/testdata/" + name;
}

class MoeModelsMlxTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    arrays_ = new std::unordered_map<std::string, Array>(
        load_safetensors(TestData("lm_moe_mlx.safetensors")).first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static Array At(const std::string& name) { return arrays_->at(name); }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* MoeModelsMlxTest::arrays_ = nullptr;

TEST_P(MoeModelsMlxTest, LogitsOfAWholePromptAreMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  const Array logits = (*model)(expand_dims(At(name + ".prompt"), 0));
  ExpectAllClose(astype(logits, float32), At(name + ".logits"), kTolerance, kTolerance, name);
}

TEST_P(MoeModelsMlxTest, GreedyGenerationWithACacheIsMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  const std::vector<int32_t> prompt = At(name + ".prompt").to_vector<int32_t>();
  const std::vector<int32_t> want = At(name + ".greedy").to_vector<int32_t>();
  const Array want_logprobs = At(name + ".logprobs");
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> got;
  while (std::optional<GenerationStep> step = generator.next()) {
    const int64_t i = static_cast<int64_t>(got.size());
    ExpectAllClose(astype(step->logprobs, float32),
                   reshape(slice(want_logprobs, {i, 0}, {i + 1, want_logprobs.shape(1)}), {-1}),
                   kTolerance, kTolerance, name + " step " + std::to_string(i));
    got.push_back(step->token);
  }
  EXPECT_EQ(got, want);
}

// Hugging Face's per-expert layout is the same model once stacked: mixtral_hf holds mixtral's
// weights.
TEST_F(MoeModelsMlxTest, PerExpertCheckpointsAreStackedAsMlxLmDoes) {
  std::unique_ptr<Model> stacked = load_model(TestData("mixtral"));
  std::unique_ptr<Model> per_expert = load_model(TestData("mixtral_hf"));
  const Array prompt = expand_dims(At("mixtral.prompt"), 0);
  ExpectAllClose((*per_expert)(prompt), (*stacked)(prompt), 0, 0, "mixtral_hf");
}

TEST(StackExpertsTest, AnExpertMissingFromALayerIsNamed) {
  const Array w = zeros({4, 2});
  nn::Parameters weights = {{"model.layers.0.mlp.experts.0.up_proj.weight", w},
                            {"model.layers.0.mlp.experts.2.up_proj.weight", w},
                            {"model.layers.0.mlp.shared_expert.up_proj.weight", w}};
  try {
    stack_experts(weights, 3, "mlp.experts", "mlp.switch_mlp", {{"up_proj", "up_proj"}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()),
              "[load_model] the checkpoint lacks model.layers.0.mlp.experts.1.up_proj.weight.");
  }
  weights.erase(weights.begin() + 1);
  const nn::Parameters stacked =
      stack_experts(weights, 1, "mlp.experts", "mlp.switch_mlp", {{"up_proj", "up_proj"}});
  ASSERT_EQ(stacked.size(), 2u);
  EXPECT_EQ(stacked[0].first, "model.layers.0.mlp.shared_expert.up_proj.weight");
  EXPECT_EQ(stacked[1].first, "model.layers.0.mlp.switch_mlp.up_proj.weight");
  EXPECT_EQ(stacked[1].second.shape(), (Shape{1, 4, 2}));
}

// The routers of qwen3_moe_4bit are 8-bit, as config.json names them; the experts 4-bit.
TEST_F(MoeModelsMlxTest, QuantizedExpertsAndRoutersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_moe_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  // 32 inputs in 32-bit words: 4 of 4 bits, 8 of 8.
  EXPECT_EQ(shapes.at("model.layers.0.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 32, 4}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate.weight"), (Shape{8, 8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate_proj.weight"), (Shape{64, 4}));
}

INSTANTIATE_TEST_SUITE_P(Models, MoeModelsMlxTest,
                         ::testing::Values("mixtral", "mixtral_hf", "qwen2_moe_hf", "qwen3_moe",
                                           "qwen3_moe_4bit"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ferry::lm
