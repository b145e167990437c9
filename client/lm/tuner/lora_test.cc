// LoRA and QLoRA against mlx-lm (testdata/lora_mlx.py): the same adapters from the same
// start, five steps of the same trainer give the same losses and adapters; an adapter
// mlx-lm saved gives mlx-lm's logits here; and ferry's adapters load back and fuse.

#include "client/lm/tuner/lora.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/trainer.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {
namespace {

using ::ferry::testing::ExpectAllClose;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::ferry::testing::Runfile;

const std::unordered_map<std::string, Array>& Fixture() {
  static const auto* fixture = new std::unordered_map<std::string, Array>(
      load_safetensors(Runfile("client/lm/tuner/testdata/lora_mlx.safetensors")).first);
  return *fixture;
}

// The fixture's arrays under "<case>.<part>.", by the rest of their names, sorted.
std::map<std::string, Array> Part(const std::string& name, const std::string& part) {
  const std::string prefix = name + "." + part + ".";
  std::map<std::string, Array> out;
  for (const auto& [key, value] : Fixture()) {
    if (key.rfind(prefix, 0) == 0) out.emplace(key.substr(prefix.size()), value);
  }
  return out;
}

// The largest |got - want| / (|want| + 1e-3) and |got - want| over the elements.
std::pair<double, double> Difference(Array got, Array want) {
  const std::vector<double> g = astype(got, float64).to_vector<double>();
  const std::vector<double> w = astype(want, float64).to_vector<double>();
  double relative = 0, absolute = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    absolute = std::max(absolute, std::abs(g[i] - w[i]));
    relative = std::max(relative, std::abs(g[i] - w[i]) / (std::abs(w[i]) + 1e-3));
  }
  return {relative, absolute};
}

const LoRAConfig kConfig = {/*rank=*/4, /*scale=*/20.0, /*dropout=*/0.0, std::nullopt};

std::unique_ptr<Model> Adapted(const std::string& name, int num_layers) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + name));
  model->freeze();
  linear_to_lora_layers(*model, num_layers, kConfig);
  return model;
}

// The fixture's two examples: each row's tokens up to its length, and its offset.
std::vector<Example> Examples(const std::string& name) {
  Array tokens = Fixture().at(name + ".tokens");
  const std::vector<int32_t> ids = tokens.to_vector<int32_t>();
  const std::vector<int32_t> lengths = Array(Fixture().at(name + ".lengths")).to_vector<int32_t>();
  const int64_t width = tokens.shape(1);
  std::vector<Example> examples;
  for (int64_t r = 0; r < tokens.shape(0); ++r) {
    const auto row = ids.begin() + r * width;
    examples.push_back({std::vector<int32_t>(row, row + lengths[2 * r + 1]), lengths[2 * r]});
  }
  return examples;
}

TEST(LoRA, AnAdaptedLayerStartsAsTheLayerWithMlxLmsInitialization) {
  nn::Linear linear(64, 16);
  const Array x = random::normal({3, 64});
  const Array before = linear(x);
  LoRALinear& lora = to_lora(linear, {.rank = 8, .scale = 2.0});
  const nn::Parameters params = lora.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "lora_a");
  EXPECT_EQ(params[0].second.shape(), (Shape{64, 8}));
  EXPECT_LE(max(abs(params[0].second)).item<float>(), 1.0f / 8.0f);  // 1 / sqrt(64)
  EXPECT_GT(max(abs(params[0].second)).item<float>(), 0.1f);
  ExpectAllClose(params[1].second, zeros({8, 16}), 0, 0, "lora_b");
  ExpectAllClose(linear(x), before, 0, 0, "output at the start");
  // With lora_b set, the layer adds scale * x @ lora_a @ lora_b.
  const Array b = random::normal({8, 16});
  linear.update({{"lora_b", b}});
  ExpectAllClose(linear(x), before + 2.0f * matmul(matmul(x, params[0].second), b), 1e-5, 1e-5,
                 "output with lora_b");
}

TEST(LoRA, TheLastBlocksLinearsAreAdaptedAndOnlyTheyTrain) {
  std::unique_ptr<Model> model = Adapted("llama", 1);
  std::vector<std::string> names;
  for (const auto& [name, value] : model->trainable_parameters()) names.push_back(name);
  std::vector<std::string> mlx;
  for (const auto& [name, value] : Part("llama", "init")) mlx.push_back(name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, mlx);  // mlx-lm's 14: q, k, v, o, gate, down, up of layers.1, a and b
  EXPECT_EQ(names.size(), 14u);
  EXPECT_EQ(names.front(), "model.layers.1.mlp.down_proj.lora_a");
}

TEST(LoRA, KeysChooseTheLayersAndAnotherKindOfLayerIsRefused) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"));
  model->freeze();
  LoRAConfig config = kConfig;
  config.keys = std::vector<std::string>{"self_attn.q_proj", "self_attn.v_proj"};
  linear_to_lora_layers(*model, 8, config);
  EXPECT_EQ(model->trainable_parameters().size(), 8u);  // 2 layers x 2 keys x (a, b)
  config.keys = std::vector<std::string>{"input_layernorm"};
  try {
    linear_to_lora_layers(*model, 1, config);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_THAT(e.what(), HasSubstr("model.layers.1.input_layernorm is not a Linear"));
  }
}

TEST(LoRA, BatchesArePaddedAsMlxLmPadsThem) {
  const std::vector<Example> examples = Examples("llama");
  BatchIterator batches(examples, 2, 2048);
  ASSERT_EQ(batches.size(), 1u);
  const Batch batch = *batches.next();
  ExpectAllClose(batch.tokens, Fixture().at("llama.tokens"), 0, 0, "tokens");  // 1 + 32 wide
  ExpectAllClose(batch.lengths, Fixture().at("llama.lengths"), 0, 0, "lengths");
  EXPECT_FALSE(batches.next().has_value());
}

// Five steps of Adam on the fixture's batch, from mlx-lm's initial adapters: its losses
// within 1e-4 relative, and its adapters within 5e-5 absolute + 1e-4 relative, 1% of the
// learning rate: Adam divides each gradient by its own running size, so where a gradient is
// near zero float32 rounding becomes a visible step (measured: 2.6e-5 at most).
void ExpectTrainingAsMlxLm(const std::string& name, int num_layers) {
  std::unique_ptr<Model> model = Adapted(name, num_layers);
  nn::Parameters init;
  for (const auto& [key, value] : Part(name, "init")) init.emplace_back(key, value);
  model->update(init);
  optimizers::Adam adam(5e-3);
  TrainingArgs args;
  args.batch_size = 2;
  args.iters = 5;
  args.steps_per_report = 1;
  args.steps_per_eval = 1000;
  const std::vector<Report> reports = train(*model, adam, Examples(name), {}, args);
  std::vector<float> losses;
  for (const Report& r : reports) losses.push_back(static_cast<float>(r.loss));
  ASSERT_EQ(losses.size(), 5u);
  const Array got = from_host(losses, {5});
  const Array& want = Fixture().at(name + ".losses");
  auto [loss_rel, loss_abs] = Difference(got, want);
  ExpectAllClose(got, want, 1e-4, 0, name + " losses");
  EXPECT_LT(losses.back(), 0.5f * losses.front()) << "the loss falls";
  double weight_rel = 0, weight_abs = 0;
  const nn::Parameters trained = model->trainable_parameters();
  const std::map<std::string, Array> final_adapters = Part(name, "final");
  ASSERT_EQ(trained.size(), final_adapters.size());
  for (const auto& [key, value] : trained) {
    const Array& mlx = final_adapters.at(key);
    auto [rel, abs_diff] = Difference(value, mlx);
    weight_rel = std::max(weight_rel, rel);
    weight_abs = std::max(weight_abs, abs_diff);
    ExpectAllClose(value, mlx, 1e-4, 5e-5, name + " " + key);
  }
  std::cout << name << ": largest loss difference " << loss_rel << " relative (" << loss_abs
            << "); largest adapter difference " << weight_abs << " (" << weight_rel
            << " relative to |mlx| + 1e-3)\n";
}

TEST(LoRA, TrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("llama", 1); }

TEST(LoRA, QLoRATrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("llama_4bit", 2); }

TEST(LoRA, AccumulatedGradientsAreAveragedIntoOneUpdate) {
  // Two steps accumulating the same batch's gradient make the one update a step makes.
  auto trained = [](int iters, int accumulation) {
    std::unique_ptr<Model> model = Adapted("llama", 1);
    nn::Parameters init;
    for (const auto& [key, value] : Part("llama", "init")) init.emplace_back(key, value);
    model->update(init);
    model->update({{"model.layers.1.self_attn.q_proj.lora_b", full({4, 32}, 0.01f)}});
    optimizers::SGD sgd(0.1);  // not Adam, which the gradient's scale barely moves
    TrainingArgs args;
    args.batch_size = 2;
    args.iters = iters;
    args.grad_accumulation_steps = accumulation;
    train(*model, sgd, Examples("llama"), {}, args);
    return model->trainable_parameters();
  };
  const nn::Parameters once = trained(1, 1), accumulated = trained(2, 2), twice = trained(2, 1);
  for (size_t i = 0; i < once.size(); ++i) {
    ExpectAllClose(accumulated[i].second, once[i].second, 1e-5, 1e-7, once[i].first);
  }
  EXPECT_GT(max(abs(twice[0].second - once[0].second)).item<float>(), 1e-4f);
}

// An adapter directory mlx_lm.lora wrote, loaded: mlx-lm's logits within 2e-4.
void ExpectMlxAdapterLogits(const std::string& name) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + name));
  load_adapters(*model, Runfile("client/lm/tuner/testdata/" + name + "_adapter"));
  model->eval();
  const Array logits = (*model)(Fixture().at(name + ".tokens"));
  const Array& want = Fixture().at(name + ".logits");
  auto [rel, abs_diff] = Difference(logits, want);
  std::cout << name << ": largest logit difference " << abs_diff << "\n";
  ExpectAllClose(logits, want, 0, 2e-4, name + " logits");
}

TEST(LoRA, AnMlxLmAdapterGivesMlxLmsLogits) {
  ExpectMlxAdapterLogits("llama");
  ExpectMlxAdapterLogits("llama_4bit");
}

TEST(LoRA, SavedAdaptersAreMlxLmsFilesAndLoadBack) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"));
  model->freeze();  // as mlx_lm.lora does before adapting: only the adapters are saved
  load_adapters(*model, Runfile("client/lm/tuner/testdata/llama_adapter"));
  const std::string dir =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
      "/lora_adapters";
  AdapterConfig config;
  config.num_layers = 1;
  config.lora_parameters = kConfig;
  save_adapters(*model, dir, config);
  std::ifstream in(dir + "/adapter_config.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  EXPECT_EQ(json["fine_tune_type"], "lora");
  EXPECT_EQ(json["num_layers"], 1);
  EXPECT_EQ(json["lora_parameters"]["rank"], 4);
  EXPECT_EQ(json["lora_parameters"]["scale"], 20.0);
  const auto [saved, metadata] = load_safetensors(dir + "/adapters.safetensors");
  EXPECT_EQ(saved.size(), 14u);
  EXPECT_EQ(saved.count("model.layers.1.self_attn.q_proj.lora_a"), 1u);

  std::unique_ptr<Model> again = load_model(Runfile("client/lm/testdata/llama"));
  load_adapters(*again, dir);
  const Array& tokens = Fixture().at("llama.tokens");
  ExpectAllClose((*again)(tokens), (*model)(tokens), 0, 0, "reloaded");
}

TEST(LoRA, AnAdapterOfAnotherShapeIsRefusedByName) {
  const std::string dir =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/lora_rank2";
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"));
  model->freeze();
  AdapterConfig config;
  config.num_layers = 1;
  config.lora_parameters = kConfig;
  config.lora_parameters.rank = 2;
  linear_to_lora_layers(*model, 1, config.lora_parameters);
  save_adapters(*model, dir, config);
  // The config says rank 4: the rank-2 weights do not fit.
  config.lora_parameters.rank = 4;
  std::unique_ptr<Model> other = load_model(Runfile("client/lm/testdata/llama"));
  std::filesystem::remove(dir + "/adapter_config.json");
  {
    std::ofstream out(dir + "/adapter_config.json");
    out << R"({"fine_tune_type": "lora", "num_layers": 1,
               "lora_parameters": {"rank": 4, "scale": 20.0, "dropout": 0.0}})";
  }
  EXPECT_THAT(::ferry::testing::BuildError([&] { load_adapters(*other, dir); }),
              HasSubstr("model.layers.1.mlp.down_proj.lora_a: adapter shape (64, 2) does not "
                        "match the model's (64, 4)"));
}

// Fused as mlx_lm.fuse fuses, quantized again or (--dequantize) not: its logits within
// 2e-4, and the adapters gone.
TEST(LoRA, FusingMergesTheUpdateIntoTheWeightsAsMlxLmDoes) {
  for (const std::string name : {"llama", "llama_4bit"}) {
    for (const bool dequantize : {false, true}) {
      std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + name));
      load_adapters(*model, Runfile("client/lm/tuner/testdata/" + name + "_adapter"));
      const size_t count = model->parameters().size();
      fuse_lora_layers(*model, dequantize);
      // 14 adapters a block; dequantized, 7 layers a block lose their scales and biases.
      const size_t blocks = name == "llama" ? 1 : 2;
      const size_t dropped = name == "llama_4bit" && dequantize ? 14 * blocks : 0;
      EXPECT_EQ(model->parameters().size(), count - 14 * blocks - dropped);
      const std::string key = dequantize ? ".dequantized_logits" : ".fused_logits";
      const Array logits = (*model)(Fixture().at(name + ".tokens"));
      auto [rel, abs_diff] = Difference(logits, Fixture().at(name + key));
      std::cout << name << key << ": largest difference " << abs_diff << "\n";
      ExpectAllClose(logits, Fixture().at(name + key), 0, 2e-4, name + key);
    }
  }
}

}  // namespace
}  // namespace ferry::lm::tuner
