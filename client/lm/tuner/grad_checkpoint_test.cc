// grad_checkpoint (client/lm/grad_checkpoint.h) in every family: each block of a training
// step's graph is checkpointed, and the loss and every parameter's gradient are those of the
// step without it.

#include "client/lm/grad_checkpoint.h"

#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "client/array_node.h"
#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/trainer.h"
#include "client/lm/tuner/tuner_testing.h"
#include "client/nn/value_and_grad.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm::tuner {
namespace {

using ::ferry::lm::tuner::testing::Difference;
using ::ferry::testing::Runfile;

// The nodes of `a`'s graph a checkpoint made (custom_vjp marks each of its outputs).
int CheckpointOutputs(const Array& a) {
  std::unordered_set<const detail::ArrayNode*> seen;
  std::vector<const detail::ArrayNode*> stack = {a.node().get()};
  int marked = 0;
  while (!stack.empty()) {
    const detail::ArrayNode* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (node->custom_vjp) ++marked;
    for (const auto& input : node->inputs) stack.push_back(input.get());
  }
  return marked;
}

struct Step {
  Array loss;
  nn::Parameters grads;
};

Step LossAndGrads(Model& model, const Array& tokens, const Array& lengths, bool checkpointed) {
  auto loss_and_grads = nn::value_and_grad(
      model, nn::ModuleLossAndAuxFn([&](const std::vector<Array>& in) -> std::vector<Array> {
        auto [loss, ntoks] = default_loss(model, in[0], in[1]);
        return {loss, ntoks};
      }));
  GradCheckpoint checkpoint(checkpointed);
  auto [values, grads] = loss_and_grads({tokens, lengths});
  return {values[0], grads};
}

class GradCheckpointTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GradCheckpointTest, EveryBlockIsCheckpointedAndTheGradientsAreTheSame) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + GetParam()));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(1, 90);
  std::vector<int32_t> ids(2 * 12);
  for (int32_t& id : ids) id = token(rng);
  const Array tokens = from_host(ids, {2, 12});
  const Array lengths = from_host(std::vector<int32_t>{0, 12, 0, 9}, {2, 2});
  model->train();
  Step plain = LossAndGrads(*model, tokens, lengths, false);
  Step checkpointed = LossAndGrads(*model, tokens, lengths, true);
  EXPECT_GE(CheckpointOutputs(checkpointed.loss) - CheckpointOutputs(plain.loss),
            model->args().num_hidden_layers);
  EXPECT_NEAR(checkpointed.loss.item<float>(), plain.loss.item<float>(), 1e-6);
  ASSERT_EQ(checkpointed.grads.size(), plain.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    ASSERT_EQ(checkpointed.grads[i].first, plain.grads[i].first);
    const double scale = max(abs(plain.grads[i].second)).item<float>() + 1e-12;
    EXPECT_LE(Difference(checkpointed.grads[i].second, plain.grads[i].second).second, 1e-5 * scale)
        << GetParam() << " " << plain.grads[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, GradCheckpointTest,
    ::testing::Values("llama", "qwen3", "mixtral", "qwen2_moe_hf", "qwen3_moe", "gemma2",
                      "gemma3_text", "gemma3n", "gemma3n_mlx", "gemma4", "gemma4_moe", "phi3",
                      "gpt_oss", "deepseek_v3", "deepseek_v32", "glm4_moe_lite", "glm4_moe",
                      "smollm3", "olmo2", "olmo3", "qwen3_next", "qwen3_5", "lfm2", "lfm2_moe",
                      "llama4_text", "granite", "granitemoe", "cohere2", "starcoder2", "gpt2",
                      "gpt_neox", "gpt_bigcode", "mamba2", "granitemoehybrid", "falcon_h1", "glm4",
                      "exaone4", "ernie4_5", "ernie4_5_moe", "olmoe", "ministral3", "mistral3",
                      "mistral4", "kimi_linear", "nemotron_h", "hunyuan_v1_dense", "hunyuan",
                      "hunyuan_fused", "seed_oss", "apertus", "helium", "internlm3", "minimax",
                      "dots1", "bailing_moe", "gemma", "cohere", "phi", "stablelm", "youtu_llm",
                      "nanbeige", "telechat3", "klear", "baichuan_m1", "internlm2", "minicpm",
                      "minicpm3", "nemotron", "exaone", "phimoe", "dbrx", "mamba", "falcon_mamba",
                      "mimo", "mimo_v2_flash", "laguna", "longcat_flash", "openelm", "olmo_hybrid",
                      "plamo2", "exaone_moe", "afmoe", "step3p5"));

}  // namespace
}  // namespace ferry::lm::tuner
