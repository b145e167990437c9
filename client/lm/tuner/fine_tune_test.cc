// mlx_lm.lora's configuration files and train_model here: a YAML file mlx-lm reads is read
// the same (or refused by the key that is wrong), full fine-tuning trains the blocks' own
// weights, and each of testdata/configs/*.yaml trains as mlx_lm.lora trains it
// (testdata/lora_config_mlx.py): the same losses, weights and logits, and mlx-lm's full
// fine-tuning weights load here as adapters.

#include "client/lm/tuner/fine_tune.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/tuner_testing.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {
namespace {

using ::ferry::lm::tuner::testing::Difference;
using ::ferry::lm::tuner::testing::TrainingRun;
using ::ferry::lm::tuner::testing::TrainTinyLlama;
using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Runfile;
using ::testing::HasSubstr;

const std::unordered_map<std::string, Array>& Fixture() {
  static const auto* fixture = new std::unordered_map<std::string, Array>(
      load_safetensors(Runfile("client/lm/tuner/testdata/lora_config_mlx.safetensors")).first);
  return *fixture;
}

TrainingConfig Config(const std::string& name) {
  return load_training_config(Runfile("client/lm/tuner/testdata/configs/" + name + ".yaml"));
}

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

// The message of the Error `fn` throws, which must be INVALID_ARGUMENT.
template <typename Fn>
std::string InvalidArgument(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::set<std::string> TrainableNames(const Model& model) {
  std::set<std::string> names;
  for (const auto& [name, value] : model.trainable_parameters()) names.insert(name);
  return names;
}

TEST(TrainingConfig, AnMlxLmYamlFileSetsItsOptionsOverTheDefaults) {
  const TrainingConfig config = Config("full_adamw");
  EXPECT_EQ(config.fine_tune_type, "full");
  EXPECT_EQ(config.num_layers, 1);
  EXPECT_EQ(config.optimizer, "adamw");
  EXPECT_EQ(config.optimizer_config.at("adamw")["betas"], nlohmann::json({0.9, 0.98}));
  EXPECT_EQ(config.optimizer_config.at("adamw")["weight_decay"], 0.1);
  ASSERT_TRUE(config.lr_schedule.has_value());
  EXPECT_EQ(config.lr_schedule->name, "cosine_decay");
  EXPECT_EQ(config.lr_schedule->warmup, 2);
  EXPECT_DOUBLE_EQ(config.lr_schedule->warmup_init, 1e-4);  // mlx-lm's float pattern: 1e-4
  EXPECT_EQ(config.lr_schedule->arguments, (std::vector<double>{5e-3, 5, 1e-4}));
  EXPECT_EQ(config.val_batches, -1);
  // What the file leaves out keeps mlx_lm.lora's defaults.
  EXPECT_EQ(config.max_seq_length, 2048);
  EXPECT_EQ(config.learning_rate, 1e-5);
  EXPECT_EQ(config.lora_parameters.rank, 8);
  EXPECT_EQ(config.adapter_path, "adapters");

  const TrainingConfig lora = Config("lora_muon");
  EXPECT_EQ(lora.lora_parameters.rank, 4);
  EXPECT_EQ(lora.lora_parameters.scale, 10.0);
  EXPECT_EQ(*lora.lora_parameters.keys,
            (std::vector<std::string>{"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"}));
  EXPECT_EQ(lora.resume_adapter_file, "client/lm/tuner/testdata/lora_muon_init.safetensors");
  // YAML's forms: flow mappings, quoted strings kept as written, null as mlx-lm's None.
  const TrainingConfig flow = training_config_from_yaml(
      "optimizer_config: {sgd: {momentum: 0.9}}\ndata: '1e-3'\nresume_adapter_file: ~\n");
  EXPECT_EQ(flow.optimizer_config.at("sgd")["momentum"], 0.9);
  EXPECT_EQ(flow.data, "1e-3");
  EXPECT_EQ(flow.resume_adapter_file, "");
}

TEST(TrainingConfig, AWrongOptionIsRefusedByItsKey) {
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("batch_sise: 4"); }),
              HasSubstr("\"batch_sise\" is not an option of mlx_lm.lora"));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("iters: many"); }),
              HasSubstr("iters must be an integer, got \"many\""));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("iters: 99999999999999999999"); }),
              HasSubstr("iters must be an integer"));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("batch_size: 4294967296"); }),
              HasSubstr("batch_size must be an integer, got 4294967296"));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("fine_tune_type: qlora"); }),
              HasSubstr("fine_tune_type must be one of lora, dora, full, got \"qlora\""));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("optimizer: adamax"); }),
              HasSubstr("optimizer must be one of adam, adamw, muon, sgd, adafactor"));
  EXPECT_THAT(
      InvalidArgument([] { training_config_from_yaml("lr_schedule: {name: cosine_decay}"); }),
      HasSubstr("lr_schedule needs a name and arguments"));
  EXPECT_THAT(
      InvalidArgument([] { training_config_from_yaml("lora_parameters: {rank: 4, alpha: 16}"); }),
      HasSubstr("lora_parameters.alpha is not a key"));
  EXPECT_THAT(InvalidArgument([] { training_config_from_yaml("iters: [1, 2"); }),
              HasSubstr("not YAML"));
  try {
    load_training_config(TempDir("no_such_config.yaml"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST(Schedule, AWarmupRisesToTheFirstArgumentThenTheNamedScheduleRuns) {
  ScheduleConfig config{"cosine_decay", {5e-3, 5, 1e-4}, /*warmup=*/2, /*warmup_init=*/1e-4};
  const optimizers::Schedule schedule = build_schedule(config);
  const optimizers::Schedule cosine = optimizers::cosine_decay(5e-3, 5, 1e-4);
  EXPECT_DOUBLE_EQ(schedule(0), 1e-4);
  EXPECT_DOUBLE_EQ(schedule(1), (1e-4 + 5e-3) / 2);
  EXPECT_DOUBLE_EQ(schedule(2), 5e-3);
  for (int64_t step = 3; step < 10; ++step) EXPECT_DOUBLE_EQ(schedule(step), cosine(step - 3));
  config.warmup = 0;
  EXPECT_DOUBLE_EQ(build_schedule(config)(1), cosine(1));
  EXPECT_THAT(InvalidArgument([] {
                build_schedule({"cosine_decay", {1e-3}, 0, 0});
              }),
              HasSubstr("cosine_decay takes (init, decay_steps[, end]) as its arguments, got 1"));
  EXPECT_THAT(InvalidArgument([] {
                build_schedule({"polynomial", {1e-3}, 0, 0});
              }),
              HasSubstr("lr_schedule.name must be cosine_decay"));
}

TEST(Optimizer, ItsOptionsAreMlxsKeywordArguments) {
  TrainingConfig config;
  config.optimizer = "sgd";
  config.learning_rate = 0.5;
  config.optimizer_config["sgd"] = {{"momentum", 0.9}, {"nesterov", true}};
  std::unique_ptr<optimizers::Optimizer> sgd = build_optimizer(config);
  // Nesterov momentum: the first step is g + 0.9 * g.
  const std::vector<Array> stepped = sgd->update({ones({2})}, {full({2}, 1.0f)});
  ExpectAllClose(stepped[0], full({2}, 1.0f - 0.5f * 1.9f), 1e-6, 0, "nesterov sgd");
  config.optimizer_config["sgd"] = {{"momentun", 0.9}};
  EXPECT_THAT(InvalidArgument([&] { build_optimizer(config); }),
              HasSubstr("optimizer_config.sgd.momentun is not an option of sgd"));
  config.optimizer = "adam";
  config.optimizer_config["adam"] = {{"betas", 0.9}};
  EXPECT_THAT(InvalidArgument([&] { build_optimizer(config); }),
              HasSubstr("optimizer_config.adam.betas must be a list of two numbers, got 0.9"));
  // A schedule is the learning rate when there is one.
  config.optimizer_config.clear();
  config.lr_schedule = ScheduleConfig{"linear_schedule", {1.0, 0.0, 4}, 0, 0};
  std::unique_ptr<optimizers::Optimizer> adam = build_optimizer(config);
  adam->update({ones({2})}, {ones({2})});
  EXPECT_DOUBLE_EQ(adam->learning_rate(), 1.0);
}

TEST(FineTuning, FullTrainsEveryParameterOfTheLastBlocks) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"));
  setup_fine_tuning(*model, "full", 1, {});
  const std::set<std::string> names = TrainableNames(*model);
  EXPECT_EQ(names.size(), 9u);  // four projections, three of the MLP, two norms
  for (const std::string& name : names) EXPECT_THAT(name, HasSubstr("model.layers.1.")) << name;
  // -1, as mlx_lm.lora's --num-layers says, is every block; so is 0, by its slicing.
  for (int every : {-1, 0}) {
    setup_fine_tuning(*model, "full", every, {});
    EXPECT_EQ(TrainableNames(*model).size(), 18u) << every;
    std::unique_ptr<Model> adapted = load_model(Runfile("client/lm/testdata/llama"));
    setup_fine_tuning(*adapted, "lora", every, {});
    EXPECT_EQ(TrainableNames(*adapted).size(), 28u) << every;  // 7 layers x (a, b) x 2 blocks
  }
  EXPECT_THAT(InvalidArgument([&] { setup_fine_tuning(*model, "full", 3, {}); }),
              HasSubstr("requested to train 3 layers but the model only has 2 layers"));
  EXPECT_THAT(InvalidArgument([&] { setup_fine_tuning(*model, "qlora", 1, {}); }),
              HasSubstr("fine_tune_type must be"));
}

// mlx-lm 0.32.2 fails here (QuantizedMatmul has no gradient for the weights it asks for);
// ferry keeps quantized weights frozen, as MLX's QuantizedLinear means to, and trains the
// norms.
TEST(FineTuning, FullFineTuningOfAQuantizedModelTrainsItsNorms) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama_4bit"));
  setup_fine_tuning(*model, "full", -1, {});
  const std::set<std::string> names = TrainableNames(*model);
  EXPECT_EQ(names.size(), 4u);
  for (const std::string& name : names) EXPECT_THAT(name, HasSubstr("layernorm")) << name;
}

// Each config trained here as lora_config_mlx.py trained it in mlx_lm.lora's train_model:
// the losses within 1e-4 relative, every trained weight within 1e-4 of mlx-lm's (plus 5e-5),
// the trained model's logits within 2e-4 (plus 1e-4 of theirs). grad_checkpoint changes
// nothing of it (mlx-lm's neither).
void ExpectTrainingAsMlxLm(const std::string& name, bool grad_checkpoint = false) {
  TrainingConfig config = Config(name);
  config.grad_checkpoint = grad_checkpoint;
  std::unique_ptr<Model> model = load_model(Runfile(config.model));
  setup_fine_tuning(*model, config.fine_tune_type, config.num_layers, config.lora_parameters);
  if (!config.resume_adapter_file.empty()) {
    model->load_weights(Runfile(config.resume_adapter_file), /*strict=*/false);
  }
  config.adapter_path = TempDir(name + "_adapter");
  std::unique_ptr<optimizers::Optimizer> optimizer = build_optimizer(config);
  const std::vector<Example> examples = ::ferry::lm::tuner::testing::ExamplesOf(
      Fixture().at(name + ".tokens"), Fixture().at(name + ".lengths"));
  std::vector<float> losses, val_losses;
  train(*model, *optimizer, examples, examples, training_args(config), [&](const Report& r) {
    (r.validation ? val_losses : losses).push_back(static_cast<float>(r.loss));
  });
  const Array& want = Fixture().at(name + ".losses");
  ExpectAllClose(from_host(losses, {static_cast<int64_t>(losses.size())}), want, 1e-4, 0,
                 name + " losses");
  ExpectAllClose(from_host(val_losses, {static_cast<int64_t>(val_losses.size())}),
                 Fixture().at(name + ".val_losses"), 1e-4, 0, name + " validation losses");
  EXPECT_LT(losses.back(), 0.9f * losses.front()) << name << ": the loss falls";
  const std::string prefix = name + ".final.";
  std::set<std::string> mlx_names;
  for (const auto& [key, value] : Fixture()) {
    if (key.rfind(prefix, 0) == 0) mlx_names.insert(key.substr(prefix.size()));
  }
  EXPECT_EQ(TrainableNames(*model), mlx_names) << name;
  double largest = 0;
  for (const auto& [key, value] : model->trainable_parameters()) {
    const Array& mlx = Fixture().at(prefix + key);
    largest = std::max(largest, Difference(value, mlx).second);
    ExpectAllClose(value, mlx, 1e-4, 5e-5, name + " " + key);
  }
  model->eval();
  const Array logits = (*model)(Fixture().at(name + ".tokens"));
  ExpectAllClose(logits, Fixture().at(name + ".logits"), 1e-4, 2e-4, name + " logits");
  std::cout << name << ": losses " << Difference(from_host(losses, {5}), want).first
            << " relative to mlx-lm's, weights within " << largest << ", logits within "
            << Difference(logits, Fixture().at(name + ".logits")).second << "\n";
}

TEST(FineTuning, FullFineTuningWithAdamWAndACosineScheduleMatchesMlxLm) {
  ExpectTrainingAsMlxLm("full_adamw");
}

TEST(FineTuning, FullFineTuningOfEveryBlockWithNesterovSgdMatchesMlxLm) {
  ExpectTrainingAsMlxLm("full_sgd");
}

TEST(FineTuning, LoRAOfEveryBlockResumedAndTrainedWithMuonMatchesMlxLm) {
  ExpectTrainingAsMlxLm("lora_muon");
}

TEST(FineTuning, GradCheckpointTrainsAsMlxLm) {
  ExpectTrainingAsMlxLm("lora_muon", /*grad_checkpoint=*/true);
  ExpectTrainingAsMlxLm("full_sgd", /*grad_checkpoint=*/true);
}

// grad_checkpoint recomputes each block's intermediates in the backward pass instead of
// keeping them from the forward: the same losses and weights, a lower peak of memory.
TEST(FineTuning, GradCheckpointTakesLessMemoryForTheSameSteps) {
  const TrainingRun plain =
      TrainTinyLlama(default_device(), /*grad_checkpoint=*/false, /*keep_weights=*/true);
  const TrainingRun checkpointed =
      TrainTinyLlama(default_device(), /*grad_checkpoint=*/true, /*keep_weights=*/true);
  EXPECT_EQ(checkpointed.losses, plain.losses);
  ASSERT_EQ(checkpointed.weights.size(), plain.weights.size());
  for (size_t i = 0; i < plain.weights.size(); ++i) {
    ExpectAllClose(checkpointed.weights[i].second, plain.weights[i].second, 0, 1e-6,
                   plain.weights[i].first);
  }
  std::cout << "peak " << plain.peak_bytes << " bytes, " << checkpointed.peak_bytes
            << " with grad_checkpoint\n";
  EXPECT_LT(checkpointed.peak_bytes, plain.peak_bytes * 0.9);
}

TEST(FineTuning, FullFineTuningWeightsLoadAsAdaptersBothWays) {
  const std::string tokens_key = "full_adamw.tokens";
  // mlx_lm.lora's own: adapter_config.json with lora_parameters null.
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"));
  load_adapters(*model, Runfile("client/lm/tuner/testdata/full_adamw_adapter"));
  model->eval();
  const Array logits = (*model)(Fixture().at(tokens_key));
  ExpectAllClose(logits, Fixture().at("full_adamw.logits"), 0, 2e-4, "mlx-lm's full weights");
  // Saved here, as mlx-lm saves them, and loaded back into a fresh model.
  setup_fine_tuning(*model, "full", 1, {});
  AdapterConfig config;
  config.fine_tune_type = "full";
  config.num_layers = 1;
  const std::string dir = TempDir("full_adapter");
  save_adapters(*model, dir, config);
  std::ifstream in(dir + "/adapter_config.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  EXPECT_EQ(json["fine_tune_type"], "full");
  EXPECT_TRUE(json["lora_parameters"].is_null());
  std::unique_ptr<Model> again = load_model(Runfile("client/lm/testdata/llama"));
  load_adapters(*again, dir);
  ExpectAllClose((*again)(Fixture().at(tokens_key)), logits, 0, 0, "reloaded");
  // A full adapter's weight the model lacks is named.
  save_safetensors(dir + "/adapters.safetensors",
                   {{"model.layers.7.mlp.up_proj.weight", zeros({2})}});
  EXPECT_THAT(InvalidArgument([&] { load_adapters(*again, dir); }),
              HasSubstr("model.layers.7.mlp.up_proj.weight: not a parameter of the model"));
}

}  // namespace
}  // namespace ferry::lm::tuner
