// nn::Module: parameters by dotted name in registration order, update and load_weights,
// freezing, training mode, devices and dtypes, and gradients by name.

#include "client/nn/module.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const nn::Parameters& parameters) {
  std::vector<std::string> names;
  for (const auto& [name, value] : parameters) names.push_back(name);
  return names;
}

struct Block : nn::Module {
  Block() { register_parameter("scale", ones({3})); }
  nn::Linear& proj = register_module("proj", nn::Linear(3, 3));
  nn::Sequential& mlp =
      register_module("mlp", nn::Sequential(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 3, false)));
  Array operator()(const Array& x) { return mlp(proj(x) * parameter("scale")); }
};

TEST(NnModule, ParametersAreNamedAsMlxNamesThemInRegistrationOrder) {
  Block block;
  EXPECT_THAT(Names(block.parameters()),
              ElementsAre("proj.weight", "proj.bias", "mlp.layers.0.weight", "mlp.layers.0.bias",
                          "mlp.layers.2.weight", "scale"));
  EXPECT_EQ(block.arrays().size(), 6u);
  std::vector<std::string> children;
  for (const auto& [name, child] : block.children()) children.push_back(name);
  EXPECT_THAT(children, ElementsAre("proj", "mlp"));
}

TEST(NnModule, UpdateReplacesByNameAndRefusesUnknownNames) {
  Block block;
  block.update({{"mlp.layers.2.weight", zeros({3, 4})}});
  EXPECT_EQ(sum(abs(block(ones({2, 3})))).item<float>(), 0.0f);  // the last layer is zero
  EXPECT_THAT(BuildError([&] {
                block.update({{"mlp.layers.1.weight", zeros({1})}});
              }),
              HasSubstr("[update] the module has no parameter named mlp.layers.1.weight"));
  block.update({{"nothing", zeros({1})}}, /*strict=*/false);  // ignored
}

TEST(NnModule, LoadWeightsNamesWhatIsMissingExtraOrOfAnotherShape) {
  Block source;
  Block block;
  block.load_weights(source.parameters());
  for (size_t i = 0; i < 6; ++i) {
    ExpectAllClose(block.arrays()[i], source.arrays()[i], 0, 0, Names(block.parameters())[i]);
  }
  nn::Parameters weights = source.parameters();
  weights.erase(weights.begin());                  // proj.weight missing
  weights.emplace_back("proj.extra", zeros({1}));  // not in the model
  weights[4].second = zeros({4});                  // scale of the wrong shape
  const std::string error = BuildError([&] { block.load_weights(weights); });
  EXPECT_THAT(error, HasSubstr("1 not in the model: proj.extra"));
  EXPECT_THAT(error, HasSubstr("1 missing: proj.weight"));
  EXPECT_THAT(error, HasSubstr("scale (expected (3,), got (4,))"));
  block.load_weights({{"scale", full({3}, 2.0)}}, /*strict=*/false);
  ExpectAllClose(block.parameters()[5].second, full({3}, 2.0), 0, 0, "scale");
}

TEST(NnModule, WeightsSurviveASafetensorsRoundTrip) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/block.safetensors";
  Block saved;
  saved.save_weights(path);
  Block loaded;
  loaded.load_weights(path);
  const Array x = random::normal({5, 3});
  ExpectAllClose(loaded(x), saved(x), 0, 0, "outputs");
}

TEST(NnModule, FrozenParametersAreNotTrainable) {
  Block block;
  block.freeze();
  EXPECT_TRUE(block.trainable_parameters().empty());
  block.unfreeze({"bias"});
  EXPECT_THAT(Names(block.trainable_parameters()), ElementsAre("proj.bias", "mlp.layers.0.bias"));
  block.unfreeze();
  block.freeze({"weight"}, /*recurse=*/false);  // Block itself has no "weight"
  EXPECT_EQ(block.trainable_parameters().size(), 6u);
  block.freeze({"scale"}, /*recurse=*/false);
  EXPECT_EQ(block.trainable_parameters().size(), 5u);
  EXPECT_EQ(block.parameters().size(), 6u);
}

// An adapter that adds a trainable offset to its layer's output.
struct Offset : nn::Layer {
  Offset() { register_parameter("offset", ones({3})); }
  Array operator()(const Array& x) override { return zeros_like(x) + parameter("offset"); }
};

TEST(NnModule, ALinearsAdapterAddsToItsOutputUnderTheLinearsNames) {
  Block block;
  block.freeze();
  const Array x = random::normal({2, 3});
  const Array before = block.proj(x);
  block.proj.set_adapter(std::make_unique<Offset>());
  ExpectAllClose(block.proj(x), before + 1.0f, 1e-6, 1e-6, "adapted");
  EXPECT_THAT(Names(block.trainable_parameters()), ElementsAre("proj.offset"));
  EXPECT_EQ(block.parameters().size(), 7u);
  block.update({{"proj.offset", full({3}, 2.0f)}});
  ExpectAllClose(block.proj(x), before + 2.0f, 1e-6, 1e-6, "updated by name");
  block.proj.set_adapter(nullptr);
  ExpectAllClose(block.proj(x), before, 0, 0, "removed");
  EXPECT_THAT(Names(block.parameters()),
              ElementsAre("proj.weight", "proj.bias", "mlp.layers.0.weight", "mlp.layers.0.bias",
                          "mlp.layers.2.weight", "scale"));
}

TEST(NnModule, AnUnquantizedLayerIsAPlainTrainableOne) {
  nn::Linear linear(64, 8);
  const Array x = random::normal({2, 64});
  linear.quantize(32, 4);
  const Array quantized = linear(x);
  EXPECT_TRUE(linear.trainable_parameters().empty());
  linear.unquantize();
  EXPECT_FALSE(linear.quantized());
  EXPECT_THAT(Names(linear.parameters()), ElementsAre("weight", "bias"));
  EXPECT_THAT(Names(linear.trainable_parameters()), ElementsAre("weight", "bias"));
  ExpectAllClose(linear(x), quantized, 1e-5, 1e-5, "the same function");
}

TEST(NnModule, ModulesAreVisitedByPath) {
  Block block;
  std::vector<std::string> paths;
  for (const auto& [path, module] : block.named_modules()) paths.push_back(path);
  EXPECT_THAT(paths,
              ElementsAre("", "proj", "mlp", "mlp.layers.0", "mlp.layers.1", "mlp.layers.2"));
  // MLX's recipe: freeze everything, then unfreeze what a path names.
  block.freeze();
  block.apply_to_modules([](const std::string& path, nn::Module& module) {
    if (path == "mlp.layers.2") module.unfreeze();
  });
  EXPECT_THAT(Names(block.trainable_parameters()), ElementsAre("mlp.layers.2.weight"));
}

TEST(NnModule, TrainingModeReachesEveryChild) {
  nn::Sequential model(nn::Linear(2, 2), nn::Sequential(nn::Dropout(0.5)));
  EXPECT_TRUE(model.training());
  model.eval();
  EXPECT_FALSE(model[1].training());
  EXPECT_FALSE(static_cast<nn::Sequential&>(model[1])[0].training());
  model.train();
  EXPECT_TRUE(static_cast<nn::Sequential&>(model[1])[0].training());
}

TEST(NnModule, SetDtypeCastsFloatingParameters) {
  Block block;
  block.set_dtype(bfloat16);
  for (const Array& a : block.arrays()) EXPECT_EQ(a.dtype(), bfloat16);
  EXPECT_EQ(block(ones({1, 3}, bfloat16)).dtype(), bfloat16);
}

TEST(NnModule, NamesAreUnique) {
  struct Twice : nn::Module {
    Twice() {
      register_parameter("w", ones({1}));
      register_module("w", nn::Linear(1, 1));
    }
  };
  EXPECT_THAT(BuildError([] { Twice(); }), HasSubstr("[Module] the name \"w\" is taken."));
}

TEST(NnModule, ValueAndGradIsTheGradientOfTheTrainableParametersByName) {
  Block block;
  block.freeze({"scale"}, /*recurse=*/false);
  const Array x = random::normal({4, 3});
  auto loss_and_grads = nn::value_and_grad(
      block, [&](const std::vector<Array>& in) { return sum(square(block(in[0]))); });
  auto [loss, grads] = loss_and_grads({x});
  EXPECT_THAT(Names(grads), ElementsAre("proj.weight", "proj.bias", "mlp.layers.0.weight",
                                        "mlp.layers.0.bias", "mlp.layers.2.weight"));  // no scale
  // The same gradient, taken by hand with the parameters as arguments.
  const nn::Parameters params = block.trainable_parameters();
  std::vector<Array> primals;
  for (const auto& [name, value] : params) primals.push_back(value);
  auto by_hand = value_and_grad(
      [&](const std::vector<Array>& p) {
        Array h = (matmul(x, transpose(p[0])) + p[1]) * ones({3});
        h = relu(matmul(h, transpose(p[2])) + p[3]);
        return sum(square(matmul(h, transpose(p[4]))));
      },
      std::vector<int>{0, 1, 2, 3, 4})(primals);
  ExpectAllClose(loss, by_hand.first, 1e-6, 0, "loss");
  for (size_t i = 0; i < grads.size(); ++i) {
    ExpectAllClose(grads[i].second, by_hand.second[i], 1e-5, 1e-6, grads[i].first);
  }
  // The model keeps its own arrays, not the trace's.
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(block.trainable_parameters()[i].second.node(), params[i].second.node());
  }
}

TEST(NnModule, ValueAndGradCarriesAuxiliaryValues) {
  Block block;
  const Array x = random::normal({4, 3});
  auto with_aux = nn::value_and_grad(block, [&](const std::vector<Array>& in) {
    const Array y = block(in[0]);
    return std::vector<Array>{sum(square(y)), max(y)};
  });
  auto [values, grads] = with_aux({x});
  ASSERT_EQ(values.size(), 2u);
  auto [loss, plain_grads] = nn::value_and_grad(
      block, [&](const std::vector<Array>& in) { return sum(square(block(in[0]))); })({x});
  ExpectAllClose(values[0], loss, 0, 0, "loss");
  ExpectAllClose(values[1], max(block(x)), 0, 0, "auxiliary");
  for (size_t i = 0; i < grads.size(); ++i) {
    ExpectAllClose(grads[i].second, plain_grads[i].second, 0, 0, grads[i].first);
  }
}

TEST(NnModule, AnOptimizerUpdatesTheModelByName) {
  Block block;
  const nn::Parameters before = block.trainable_parameters();
  const Array x = random::normal({4, 3});
  auto loss_and_grads = nn::value_and_grad(
      block, [&](const std::vector<Array>& in) { return sum(square(block(in[0]))); });
  nn::Parameters grads = loss_and_grads({x}).second;
  optimizers::SGD sgd(0.1);
  sgd.update(block, grads);
  const nn::Parameters after = block.trainable_parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    ExpectAllClose(after[i].second, before[i].second - grads[i].second * 0.1, 1e-6, 1e-7,
                   after[i].first);
  }
  grads.erase(grads.begin() + 4);
  EXPECT_THAT(BuildError([&] { sgd.update(block, grads); }),
              HasSubstr("[SGD] no gradient for the model's parameter mlp.layers.2.weight"));
}

TEST(NnModule, ToMovesEveryParameter) {
  Block block;
  const Device device = local();
  block.to(device);
  for (const Array& a : block.arrays()) EXPECT_EQ(a.device(), device);
}

}  // namespace
}  // namespace ferry
