// LoRA, QLoRA and DoRA against mlx-lm (testdata/lora_mlx.py, lora_more_mlx.py,
// lora_hybrid_mlx.py): of Linear layers, a mixture's experts, embeddings and the hybrids'
// gated delta nets, Mamba-2 scans and short convolutions, the same adapters from the same start,
// five steps of the same trainer give the same losses and adapters; an adapter mlx-lm saved gives
// mlx-lm's logits here; and ferry's adapters load back and fuse.

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
#include "client/lm/grad_checkpoint.h"
#include "client/lm/load.h"
#include "client/lm/tuner/dora.h"
#include "client/lm/tuner/trainer.h"
#include "client/lm/tuner/tuner_testing.h"
#include "client/nn/value_and_grad.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {
namespace {

using ::ferry::testing::ExpectAllClose;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::ferry::lm::tuner::testing::Difference;
using ::ferry::testing::Runfile;

// lora_mlx.py's, lora_more_mlx.py's and lora_hybrid_mlx.py's arrays, under their cases'
// distinct names.
const std::unordered_map<std::string, Array>& Fixture() {
  static const auto* fixture = [] {
    auto* all = new std::unordered_map<std::string, Array>(
        load_safetensors(Runfile("client/lm/tuner/testdata/lora_mlx.safetensors")).first);
    for (const char* more : {"lora_more_mlx", "lora_hybrid_mlx"}) {
      for (auto& [name, value] : load_safetensors(Runfile(std::string("client/lm/tuner/testdata/") +
                                                          more + ".safetensors"))
                                     .first) {
        all->emplace(name, value);
      }
    }
    return all;
  }();
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

const LoRAConfig kConfig = {/*rank=*/4, /*scale=*/20.0, /*dropout=*/0.0, std::nullopt};

// The fixtures' cases (lora_mlx.py's CASES and lora_more_mlx.py's): the model, the blocks
// adapted, DoRA or LoRA, and the keys (the default ones when none).
struct Case {
  std::string model;
  int num_layers;
  double learning_rate;  // Adam's, in the fixture's five steps
  bool dora = false;
  std::optional<std::vector<std::string>> keys;
};

const Case& CaseNamed(const std::string& name) {
  static const auto* cases = new std::map<std::string, Case>{
      {"llama", {"llama", 1, 5e-3}},
      {"llama_4bit", {"llama_4bit", 2, 5e-3}},
      {"qwen3_moe", {"qwen3_moe", 2, 1e-3}},
      {"qwen3_moe_4bit", {"qwen3_moe_4bit", 2, 1e-3}},
      {"llama_dora", {"llama", 1, 1e-3, true}},
      {"llama_4bit_dora", {"llama_4bit", 2, 1e-3, true}},
      {"qwen2_embedding",
       {"qwen2", 2, 1e-3, false,
        std::vector<std::string>{"self_attn.q_proj", "model.embed_tokens"}}},
      {"qwen2_dora_embedding",
       {"qwen2", 2, 1e-3, true,
        std::vector<std::string>{"self_attn.q_proj", "model.embed_tokens"}}},
      {"qwen3_next", {"qwen3_next", 2, 1e-3}},
      {"qwen3_5", {"qwen3_5", 2, 1e-3}},
      {"granitemoehybrid", {"granitemoehybrid", 2, 1e-3}},
      {"lfm2", {"lfm2", 2, 1e-3}},
  };
  return cases->at(name);
}

std::unique_ptr<Model> Adapted(const std::string& name) {
  const Case& c = CaseNamed(name);
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + c.model));
  model->freeze();
  LoRAConfig config = kConfig;
  config.keys = c.keys;
  linear_to_lora_layers(*model, c.num_layers, config, c.dora);
  return model;
}

// The fixture's two examples: each row's tokens up to its length, and its offset.
std::vector<Example> Examples(const std::string& name) {
  return ::ferry::lm::tuner::testing::ExamplesOf(Fixture().at(name + ".tokens"),
                                                 Fixture().at(name + ".lengths"));
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
  std::unique_ptr<Model> model = Adapted("llama");
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
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("model.layers.1.input_layernorm is not a layer LoRA adapts"));
  }
}

// mlx-lm's default keys (every Linear, SwitchLinear and Embedding of the blocks) give its
// adapters, by name and shape, in each family: the routers (mixtral's block_sparse_moe.gate,
// gpt-oss's mlp.router) and shared experts as Linear layers, the experts' switch_mlp (gpt-oss:
// mlp.experts) per expert; deepseek_v3's MoEGate is no Linear and stays as it is.
TEST(LoRA, DefaultKeysAdaptWhatMlxLmAdaptsInEachFamily) {
  std::ifstream in(Runfile("client/lm/tuner/testdata/lora_keys_mlx.json"));
  const nlohmann::json want = nlohmann::json::parse(in);
  ASSERT_GE(want.size(), 6u);
  for (const auto& [family, adapters] : want.items()) {
    std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + family));
    model->freeze();
    linear_to_lora_layers(*model, 1000, kConfig);
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& [name, value] : model->trainable_parameters()) {
      got.emplace(name, std::vector<int64_t>(value.shape().begin(), value.shape().end()));
    }
    EXPECT_EQ(got, (adapters.get<std::map<std::string, std::vector<int64_t>>>())) << family;
  }
}

TEST(LoRA, AnExpertsAdapterAddsEachPickedExpertsUpdate) {
  SwitchLinear experts(16, 8, /*num_experts=*/4);
  const Array x = random::normal({3, 1, 16});
  const Array indices = from_host(std::vector<int32_t>{2, 0, 2}, {3});
  const Array before = experts(x, indices);
  LoRASwitchLinear& lora = to_lora(experts, {.rank = 2, .scale = 3.0});
  const nn::Parameters params = lora.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].second.shape(), (Shape{4, 2, 16}));
  EXPECT_EQ(params[1].second.shape(), (Shape{4, 8, 2}));
  ExpectAllClose(experts(x, indices), before, 0, 0, "output at the start");
  const Array b = random::normal({4, 8, 2});
  experts.update({{"lora_b", b}});
  // Token t's update: 3 * (x_t @ lora_a[e].T) @ lora_b[e].T with e = indices[t].
  const Array a_t = take(params[0].second, indices, 0), b_t = take(b, indices, 0);
  const Array want =
      before + 3.0f * matmul(matmul(x, swapaxes(a_t, -1, -2)), swapaxes(b_t, -1, -2));
  ExpectAllClose(experts(x, indices), want, 1e-5, 1e-5, "output with lora_b");
  fuse(experts);
  EXPECT_EQ(experts.adapter(), nullptr);
  ExpectAllClose(experts(x, indices), want, 1e-5, 1e-5, "fused");
}

TEST(LoRA, AQuantizedEmbeddingsAdapterUpdatesItsRowsAndItsTransposeAlike) {
  nn::QuantizedEmbedding embedding(16, 64, /*group_size=*/32, /*bits=*/4);
  const Array ids = from_host(std::vector<int32_t>{3, 0, 3, 15}, {2, 2});
  const Array x = random::normal({2, 64});
  const Array rows = embedding(ids), logits = embedding.as_linear(x);
  LoRAEmbedding& lora = to_lora(embedding, {.rank = 2, .scale = 3.0});
  const nn::Parameters params = lora.parameters();
  EXPECT_EQ(params[0].second.shape(), (Shape{16, 2}));  // the dims unpacked: 8 words x 32 / 4
  EXPECT_EQ(params[1].second.shape(), (Shape{2, 64}));
  ExpectAllClose(embedding(ids), rows, 0, 0, "rows at the start");
  embedding.update({{"lora_b", random::normal({2, 64})}});
  const Array delta = lora.delta();  // (16, 64): row i gains delta[i]
  ExpectAllClose(embedding(ids), rows + take(delta, ids, 0), 1e-5, 1e-5, "rows");
  ExpectAllClose(embedding.as_linear(x), logits + matmul(x, transpose(delta)), 1e-4, 1e-4,
                 "as_linear");
  fuse(embedding, /*dequantize=*/true);
  EXPECT_FALSE(embedding.quantized());
  ExpectAllClose(embedding(ids), rows + take(delta, ids, 0), 1e-5, 1e-5, "fused rows");
  nn::QuantizedEmbedding quantized(16, 64, 32, 4);
  EXPECT_THAT(::ferry::testing::BuildError([&] { to_dora(quantized, kConfig); }),
              HasSubstr("a quantized embedding is not supported"));
}

TEST(LoRA, DoRAStartsAsTheLayerAndRefusesTheExperts) {
  nn::Linear linear(16, 8);
  const Array x = random::normal({3, 16});
  const Array before = linear(x);
  DoRALinear& dora = to_dora(linear, {.rank = 2, .scale = 3.0});
  ExpectAllClose(dora.parameters()[2].second,
                 linalg::norm(linear.parameters()[0].second, std::vector<int>{1}), 0, 0,
                 "m: the rows' norms");
  ExpectAllClose(linear(x), before, 1e-5, 1e-6, "output at the start");
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/qwen3_moe"));
  EXPECT_THAT(::ferry::testing::BuildError(
                  [&] { linear_to_lora_layers(*model, 1, kConfig, /*use_dora=*/true); }),
              HasSubstr("model.layers.2.mlp.switch_mlp.gate_proj is a SwitchLinear, which DoRA "
                        "does not adapt"));
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
// within 1e-4 relative, and its adapters within 5e-5 absolute + 1e-4 relative (1% of the
// learning rate 5e-3, 5% of 1e-3): Adam divides each gradient by its own running size, so
// where a gradient is near zero float32 rounding becomes a visible step (measured: 2.6e-5
// at most). A mixture's experts take few tokens each, and more of their gradients are near
// zero: a few elements' steps differ by a fraction of the learning rate (qwen3_moe: 2 of
// 10016 elements beyond that bound, by up to 2.9e-4; 4-bit, where gather_qmm rounds
// otherwise than mlx's: 28, up to 3.3e-4). There the losses are held to 3e-4 relative
// (measured 2e-7, 4-bit 7.6e-5), every element to 1e-3, and the adapters as a whole:
// |ferry - mlx| within 0.5% of |mlx - init| (measured 0.02%, 0.06%). GradientsMatchMlxLm
// checks the gradients themselves, element by element.
void ExpectTrainingAsMlxLm(const std::string& name) {
  const bool experts = CaseNamed(name).model.find("moe") != std::string::npos;
  std::unique_ptr<Model> model = Adapted(name);
  nn::Parameters init;
  for (const auto& [key, value] : Part(name, "init")) init.emplace_back(key, value);
  model->update(init);
  optimizers::Adam adam(CaseNamed(name).learning_rate);
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
  ExpectAllClose(got, want, experts ? 3e-4 : 1e-4, 0, name + " losses");
  EXPECT_LT(losses.back(), 0.9f * losses.front()) << "the loss falls";
  double weight_rel = 0, weight_abs = 0, off = 0, moved = 0;
  int64_t outside = 0, count = 0;
  const nn::Parameters trained = model->trainable_parameters();
  const std::map<std::string, Array> final_adapters = Part(name, "final");
  const std::map<std::string, Array> initial = Part(name, "init");
  ASSERT_EQ(trained.size(), final_adapters.size());
  for (const auto& [key, value] : trained) {
    const Array& mlx = final_adapters.at(key);
    auto [rel, abs_diff] = Difference(value, mlx);
    weight_rel = std::max(weight_rel, rel);
    weight_abs = std::max(weight_abs, abs_diff);
    off += sum(square(astype(value - mlx, float64))).item<double>();
    outside += sum(astype(abs(value - mlx) > abs(mlx) * 1e-4f + 5e-5f, int32)).item<int32_t>();
    count += value.size();
    moved += sum(square(astype(mlx - initial.at(key), float64))).item<double>();
    ExpectAllClose(value, mlx, experts ? 0 : 1e-4, experts ? 1e-3 : 5e-5, name + " " + key);
  }
  const double off_relative = std::sqrt(off / moved);
  if (experts) {
    EXPECT_LT(off_relative, 0.005) << name << ": |ferry - mlx| / |mlx - init|";
  }
  std::cout << name << ": largest loss difference " << loss_rel << " relative (" << loss_abs
            << "); largest adapter difference " << weight_abs << " (" << weight_rel
            << " relative to |mlx| + 1e-3), " << outside << " of " << count
            << " elements beyond 5e-5 + 1e-4 relative; |ferry - mlx| / |mlx - init| "
            << off_relative << "\n";
}

// The batch's loss and every adapter's gradient at a point where lora_b is not zero, as
// mlx-lm's nn.value_and_grad of default_loss gives them: within 1e-5 relative (the loss)
// and 2e-4 relative to the gradient's largest magnitude. With grad_checkpoint, each block
// recomputed in the backward pass, the same (mlx-lm's are unchanged by it too).
void ExpectGradientsAsMlxLm(const std::string& name, bool grad_checkpoint = false) {
  std::unique_ptr<Model> model = Adapted(name);
  nn::Parameters point;  // the initial lora_a, lora_b drawn
  for (const auto& [key, value] : Part(name, "init")) point.emplace_back(key, value);
  for (const auto& [key, value] : Part(name, "point")) point.emplace_back(key, value);
  model->update(point);
  auto loss_and_grads = nn::value_and_grad(
      *model, nn::ModuleLossAndAuxFn([&](const std::vector<Array>& in) -> std::vector<Array> {
        auto [loss, ntoks] = default_loss(*model, in[0], in[1]);
        return {loss, ntoks};
      }));
  GradCheckpoint checkpointed(grad_checkpoint);
  auto [values, grads] =
      loss_and_grads({Fixture().at(name + ".tokens"), Fixture().at(name + ".lengths")});
  ExpectAllClose(values[0], Fixture().at(name + ".point_loss"), 1e-5, 0, name + " loss");
  const std::map<std::string, Array> want = Part(name, "grad");
  ASSERT_EQ(grads.size(), want.size()) << name;
  double worst = 0;
  for (const auto& [key, g] : grads) {
    const Array& mlx = want.at(key);
    const double scale = max(abs(mlx)).item<float>();
    auto [rel, abs_diff] = Difference(g, mlx);
    worst = std::max(worst, abs_diff / scale);
    EXPECT_LE(abs_diff, 2e-4 * scale) << name << " " << key;
  }
  std::cout << name << ": largest gradient difference " << worst
            << " of the gradient's largest magnitude\n";
}

TEST(LoRA, GradientsMatchMlxLm) {
  for (const std::string name :
       {"qwen3_moe", "qwen3_moe_4bit", "llama_dora", "llama_4bit_dora", "qwen2_embedding",
        "qwen2_dora_embedding", "qwen3_next", "qwen3_5", "granitemoehybrid", "lfm2"}) {
    ExpectGradientsAsMlxLm(name);
  }
}

TEST(LoRA, GradCheckpointedGradientsMatchMlxLm) {
  for (const std::string name : {"qwen3_moe_4bit", "llama_dora", "qwen2_embedding", "qwen3_next",
                                 "qwen3_5", "granitemoehybrid", "lfm2"}) {
    ExpectGradientsAsMlxLm(name, /*grad_checkpoint=*/true);
  }
}

TEST(LoRA, TrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("llama"); }

TEST(LoRA, QLoRATrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("llama_4bit"); }

// A mixture's experts adapted (LoRASwitchLinear) with its routers and attention: 2 x 32
// tokens, 2 experts each, so SwitchGLU sorts the pairs by expert.
TEST(LoRA, MixtureOfExpertsTrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("qwen3_moe"); }

TEST(LoRA, QuantizedMixtureOfExpertsTrainingMatchesMlxLm) {
  ExpectTrainingAsMlxLm("qwen3_moe_4bit");
}

TEST(LoRA, DoRATrainingMatchesMlxLm) {
  ExpectTrainingAsMlxLm("llama_dora");
  ExpectTrainingAsMlxLm("llama_4bit_dora");
}

// Qwen3-Next's last two blocks: a gated delta net (its projections adapted, the gradient
// through gated_delta's vjp) and gated attention, each over a mixture.
TEST(LoRA, GatedDeltaNetTrainingMatchesMlxLm) {
  ExpectTrainingAsMlxLm("qwen3_next");
  ExpectTrainingAsMlxLm("qwen3_5");  // its blocks under language_model.model.layers
}

TEST(LoRA, MambaScanTrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("granitemoehybrid"); }

TEST(LoRA, ShortConvTrainingMatchesMlxLm) { ExpectTrainingAsMlxLm("lfm2"); }

// The tied embedding adapted: its rows and, through as_linear, the output layer.
TEST(LoRA, EmbeddingTrainingMatchesMlxLm) {
  ExpectTrainingAsMlxLm("qwen2_embedding");
  ExpectTrainingAsMlxLm("qwen2_dora_embedding");
}

TEST(LoRA, AccumulatedGradientsAreAveragedIntoOneUpdate) {
  // Two steps accumulating the same batch's gradient make the one update a step makes.
  auto trained = [](int iters, int accumulation) {
    std::unique_ptr<Model> model = Adapted("llama");
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
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + CaseNamed(name).model));
  load_adapters(*model, Runfile("client/lm/tuner/testdata/" + name + "_adapter"));
  model->eval();
  const Array logits = (*model)(Fixture().at(name + ".tokens"));
  const Array& want = Fixture().at(name + ".logits");
  auto [rel, abs_diff] = Difference(logits, want);
  std::cout << name << ": largest logit difference " << abs_diff << "\n";
  ExpectAllClose(logits, want, 0, 2e-4, name + " logits");
}

TEST(LoRA, AnMlxLmAdapterGivesMlxLmsLogits) {
  for (const std::string name : {"llama", "llama_4bit", "qwen3_moe", "qwen3_moe_4bit", "llama_dora",
                                 "llama_4bit_dora", "qwen2_embedding", "qwen2_dora_embedding"}) {
    ExpectMlxAdapterLogits(name);
  }
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

// The other adapters fused (LoRASwitchLinear, DoRA, embeddings, Qwen3-Next's): mlx_lm.fuse's
// logits within 2e-4, and no adapter parameter left.
TEST(LoRA, FusingTheOtherAdaptersGivesMlxLmsLogits) {
  for (const std::string name :
       {"qwen3_moe", "qwen3_moe_4bit", "llama_dora", "llama_4bit_dora", "qwen2_embedding",
        "qwen2_dora_embedding", "qwen3_next", "qwen3_5", "granitemoehybrid", "lfm2"}) {
    for (const bool dequantize : {false, true}) {
      std::unique_ptr<Model> model =
          load_model(Runfile("client/lm/testdata/" + CaseNamed(name).model));
      load_adapters(*model, Runfile("client/lm/tuner/testdata/" + name + "_adapter"));
      fuse_lora_layers(*model, dequantize);
      for (const auto& [key, value] : model->parameters()) {
        const std::string leaf = key.substr(key.rfind('.') + 1);
        EXPECT_TRUE(leaf != "lora_a" && leaf != "lora_b" && leaf != "m") << name << " " << key;
      }
      // Not quantized, the fused model is the adapted one: its logits.
      const bool quantized = Fixture().count(name + ".fused_logits") > 0;
      const std::string key = !quantized   ? ".logits"
                              : dequantize ? ".dequantized_logits"
                                           : ".fused_logits";
      const Array logits = (*model)(Fixture().at(name + ".tokens"));
      auto [rel, abs_diff] = Difference(logits, Fixture().at(name + key));
      std::cout << name << (dequantize ? " dequantized" : " fused") << " vs mlx-lm's " << key
                << ": largest difference " << abs_diff << "\n";
      ExpectAllClose(logits, Fixture().at(name + key), 0, 2e-4, name + key);
    }
  }
}

// Adapters saved here are mlx-lm's files: adapter_config.json's fine_tune_type, and
// adapters.safetensors holding the arrays mlx_lm.lora saved, by name and shape (the
// experts' lora_a and lora_b, DoRA's m); they load back into a fresh model.
TEST(LoRA, SavedExpertAndDoRAAdaptersAreMlxLmsFilesAndLoadBack) {
  for (const std::string name : {"qwen3_moe", "llama_dora", "qwen2_dora_embedding"}) {
    const Case& c = CaseNamed(name);
    const std::string mlx_dir = Runfile("client/lm/tuner/testdata/" + name + "_adapter");
    std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/" + c.model));
    model->freeze();
    load_adapters(*model, mlx_dir);
    const std::string dir =
        std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name +
        "_saved";
    AdapterConfig config = load_adapter_config(mlx_dir);
    save_adapters(*model, dir, config);
    std::ifstream in(dir + "/adapter_config.json");
    EXPECT_EQ(nlohmann::json::parse(in)["fine_tune_type"], c.dora ? "dora" : "lora");
    auto shapes = [](const std::string& path) {
      std::map<std::string, Shape> out;
      for (const auto& [key, value] : load_safetensors(path).first) out.emplace(key, value.shape());
      return out;
    };
    EXPECT_EQ(shapes(dir + "/adapters.safetensors"), shapes(mlx_dir + "/adapters.safetensors"))
        << name;
    std::unique_ptr<Model> again = load_model(Runfile("client/lm/testdata/" + c.model));
    load_adapters(*again, dir);
    const Array& tokens = Fixture().at(name + ".tokens");
    ExpectAllClose((*again)(tokens), (*model)(tokens), 0, 0, name + " reloaded");
  }
}

}  // namespace
}  // namespace ferry::lm::tuner
