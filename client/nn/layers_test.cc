// The layers of ferry::nn: shapes, how their parameters start (MLX's initializations),
// what they compute on small inputs, training versus evaluation, and bad arguments.

#include <cmath>
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

// The largest magnitude in `a`.
float MaxAbs(const Array& a) { return max(abs(a)).item<float>(); }

TEST(NnLayers, LinearIsXTimesWeightTransposedPlusBias) {
  nn::Linear linear(3, 2);
  const Array weight = linear.parameters()[0].second;
  EXPECT_EQ(weight.shape(), (Shape{2, 3}));
  EXPECT_LE(MaxAbs(weight), std::sqrt(1.0f / 3));
  EXPECT_GT(MaxAbs(weight), 0.0f);
  linear.update({{"weight", from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})},
                 {"bias", from_host(std::vector<float>{10, 20}, {2})}});
  EXPECT_THAT(linear(from_host(std::vector<float>{1, 1, 1, 0, 1, 0}, {2, 3})).to_vector<float>(),
              ElementsAre(16, 35, 12, 25));
  EXPECT_THAT(BuildError([&] {
                linear(ones({2, 4}));
              }),
              HasSubstr("[Linear] x's last axis must have 3 features, got shape (2, 4)."));
  EXPECT_THAT(BuildError([] { nn::Linear(0, 2); }), HasSubstr("[Linear] input_dims (0)"));
  EXPECT_EQ(nn::Linear(3, 2, /*bias=*/false).parameters().size(), 1u);
}

TEST(NnLayers, EmbeddingPicksRowsAndTiesToAnOutputLayer) {
  nn::Embedding embedding(4, 2);
  const Array table = from_host(std::vector<float>{0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  embedding.update({{"weight", table}});
  Array rows = embedding(from_host(std::vector<int32_t>{3, 0, 3}, {3}));
  EXPECT_THAT(rows.to_vector<float>(), ElementsAre(30, 31, 0, 1, 30, 31));
  EXPECT_THAT(embedding.as_linear(from_host(std::vector<float>{1, 0}, {1, 2})).to_vector<float>(),
              ElementsAre(0, 10, 20, 30));
  // Drawn with standard deviation sqrt(1 / dims).
  const Array weight = nn::Embedding(1000, 64).parameters()[0].second;
  EXPECT_NEAR(std::sqrt(mean(square(weight)).item<float>()), 0.125, 0.005);
}

TEST(NnLayers, NormsStartAsIdentityScales) {
  nn::LayerNorm norm(4);
  const Array x = from_host(std::vector<float>{1, 2, 3, 4, 2, 2, 2, 6}, {2, 4});
  ExpectAllClose(norm(x), fast::layer_norm(x, std::nullopt, std::nullopt), 0, 0, "layer norm");
  EXPECT_EQ(nn::LayerNorm(4, 1e-5f, /*affine=*/false).parameters().size(), 0u);
  EXPECT_EQ(nn::LayerNorm(4, 1e-5f, true, /*bias=*/false).parameters().size(), 1u);
  nn::RMSNorm rms(4);
  ExpectAllClose(rms(x), fast::rms_norm(x, std::nullopt), 0, 0, "rms norm");
}

TEST(NnLayers, ConvolutionsAreChannelsLastWithZeroBias) {
  nn::Conv1d conv1(4, 6, 3, /*stride=*/2, /*padding=*/1, 1, /*groups=*/2);
  EXPECT_EQ(conv1.parameters()[0].second.shape(), (Shape{6, 3, 2}));
  EXPECT_LE(MaxAbs(conv1.parameters()[0].second), std::sqrt(1.0f / 6));
  EXPECT_EQ(MaxAbs(conv1.parameters()[1].second), 0.0f);
  EXPECT_EQ(conv1(ones({2, 9, 4})).shape(), (Shape{2, 5, 6}));
  nn::Conv2d conv2(3, 8, 3, 1, 1);
  EXPECT_EQ(conv2.parameters()[0].second.shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(conv2(ones({1, 5, 7, 3})).shape(), (Shape{1, 5, 7, 8}));
  EXPECT_THAT(BuildError([] { nn::Conv1d(3, 4, 3, 1, 0, 1, 2); }),
              HasSubstr("[Conv1d] in_channels (3) and out_channels (4) must be positive multiples "
                        "of groups (2)."));
}

TEST(NnLayers, DropoutDropsOnlyInTraining) {
  nn::Dropout dropout(0.25);
  const Array x = full({100000}, 2.0);
  const std::vector<float> dropped = dropout(x).to_vector<float>();
  int zeros = 0;
  for (float v : dropped) {
    if (v == 0) {
      ++zeros;
    } else {
      ASSERT_FLOAT_EQ(v, 2.0f / 0.75f);
    }
  }
  EXPECT_NEAR(zeros / 100000.0, 0.25, 0.01);
  dropout.eval();
  EXPECT_EQ(dropout(x).node(), x.node());
  EXPECT_EQ(nn::Dropout(0.0)(x).node(), x.node());
  EXPECT_THAT(BuildError([] { nn::Dropout(1.0); }), HasSubstr("[Dropout] p must be in [0, 1)"));
}

TEST(NnLayers, SequentialChainsLayersAndFunctions) {
  nn::Sequential model(
      nn::Linear(2, 3), [](const Array& x) { return x * 2; }, nn::Tanh());
  EXPECT_EQ(model.size(), 3u);
  model.update({{"layers.0.weight", ones({3, 2})}, {"layers.0.bias", zeros({3})}});
  ExpectAllClose(model(ones({1, 2})), full({1, 3}, std::tanh(4.0)), 1e-6, 0, "chain");
  model.append(nn::Linear(3, 1));
  EXPECT_EQ(model.parameters().back().first, "layers.3.bias");
}

TEST(NnLayers, AttentionSplitsHeadsAndMasksWhatIsAboveTheDiagonal) {
  Array mask = nn::MultiHeadAttention::create_additive_causal_mask(3);
  const std::vector<float> m = mask.to_vector<float>();
  const float lowest = std::numeric_limits<float>::lowest();
  EXPECT_THAT(m, ElementsAre(0, lowest, lowest, 0, 0, lowest, 0, 0, 0));
  nn::MultiHeadAttention attention(8, 2);
  std::vector<std::string> names;
  for (const auto& [name, value] : attention.parameters()) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("query_proj.weight", "key_proj.weight", "value_proj.weight",
                                 "out_proj.weight"));
  const Array q = random::normal({2, 3, 8});
  const Array kv = random::normal({2, 5, 8});
  EXPECT_EQ(attention(q, kv, kv).shape(), (Shape{2, 3, 8}));
  // The first query sees only the first key under the causal mask: its output is the first
  // value's projection.
  const Array out = attention(kv, kv, kv, nn::MultiHeadAttention::create_additive_causal_mask(5));
  const nn::Parameters p = attention.parameters();
  const Array first_value = matmul(matmul(slice(kv, {0, 0, 0}, {2, 1, 8}), transpose(p[2].second)),
                                   transpose(p[3].second));
  ExpectAllClose(slice(out, {0, 0, 0}, {2, 1, 8}), first_value, 1e-5, 1e-6, "first query");
  nn::MultiHeadAttention::Dims widths;
  widths.key_input = 3;
  widths.value_output = 4;
  nn::MultiHeadAttention cross(8, 2, widths);
  EXPECT_EQ(cross(q, ones({2, 5, 3}), ones({2, 5, 3})).shape(), (Shape{2, 3, 4}));
  EXPECT_THAT(BuildError([] { nn::MultiHeadAttention(10, 4); }),
              HasSubstr("[MultiHeadAttention] dims (10) must be a positive multiple of num_heads "
                        "(4)."));
}

TEST(NnLayers, AnEncoderNamesItsBlocksAsMlxDoes) {
  nn::TransformerEncoder encoder(2, 8, 2);
  const nn::Parameters p = encoder.parameters();
  EXPECT_EQ(p.front().first, "layers.0.attention.query_proj.weight");
  EXPECT_EQ(p[4].first, "layers.0.ln1.weight");
  EXPECT_EQ(p.back().first, "ln.bias");
  EXPECT_EQ(encoder.parameters()[8].second.shape(), (Shape{32, 8}));  // linear1: mlp_dims 4 * 8
  EXPECT_EQ(encoder(random::normal({1, 4, 8})).shape(), (Shape{1, 4, 8}));
}

TEST(NnLayers, BatchNormKeepsRunningStatisticsThatNeverTrain) {
  nn::BatchNorm norm(2);
  EXPECT_EQ(norm.parameters().size(), 4u);
  norm.unfreeze();
  std::vector<std::string> trainable;
  for (const auto& [name, value] : norm.trainable_parameters()) trainable.push_back(name);
  EXPECT_THAT(trainable, ElementsAre("weight", "bias"));
  const Array x = from_host(std::vector<float>{1, 10, 3, 30}, {2, 2});
  ExpectAllClose(norm(x), from_host(std::vector<float>{-1, -1, 1, 1}, {2, 2}), 1e-4, 0, "batch");
  // running = 0.9 running + 0.1 batch statistic (the variance unbiased: 2 and 200).
  ExpectAllClose(norm.parameters()[2].second, from_host(std::vector<float>{0.2f, 2}, {2}), 1e-6, 0,
                 "running mean");
  ExpectAllClose(norm.parameters()[3].second, from_host(std::vector<float>{1.1f, 20.9f}, {2}), 1e-6,
                 0, "running variance");
  norm.eval();
  EXPECT_THAT(BuildError([&] { norm(ones({2})); }),
              HasSubstr("[BatchNorm] x must have rank 2, 3 or 4, got shape (2,)."));
  norm.train();
  EXPECT_THAT(BuildError([&] {
                norm(ones({1, 2}));
              }),
              HasSubstr("[BatchNorm] training needs more than one value per feature."));
}

TEST(NnLayers, GroupNormGroupsFeatures) {
  // MLX's grouping: features 0 and 2 are group 0, 1 and 3 group 1.
  const Array x = from_host(std::vector<float>{0, 5, 2, 7}, {1, 4});
  ExpectAllClose(nn::GroupNorm(2, 4)(x), from_host(std::vector<float>{-1, -1, 1, 1}, {1, 4}), 1e-4,
                 0, "mlx");
  ExpectAllClose(nn::GroupNorm(2, 4, 1e-5f, true, true)(x),
                 from_host(std::vector<float>{-1, 1, -1, 1}, {1, 4}), 1e-4, 0, "pytorch");
  EXPECT_THAT(BuildError([] { nn::GroupNorm(3, 4); }),
              HasSubstr("[GroupNorm] dims (4) must be a multiple of num_groups (3)."));
}

TEST(NnLayers, PoolingWindowsDefaultToTheirSize) {
  const Array x = reshape(arange(16.0), {1, 4, 4, 1});
  EXPECT_THAT(nn::MaxPool2d(2)(x).to_vector<float>(), ElementsAre(5, 7, 13, 15));
  EXPECT_THAT(nn::AvgPool2d(2)(x).to_vector<float>(), ElementsAre(2.5f, 4.5f, 10.5f, 12.5f));
  EXPECT_EQ(nn::MaxPool2d(3, 1, 1)(x).shape(), (Shape{1, 4, 4, 1}));
  EXPECT_THAT(nn::MaxPool1d(2)(reshape(arange(4.0), {1, 4, 1})).to_vector<float>(),
              ElementsAre(1, 3));
  EXPECT_THAT(nn::AvgPool1d(3, 1)(reshape(arange(4.0), {1, 4, 1})).to_vector<float>(),
              ElementsAre(1, 2));
}

TEST(NnLayers, QuantizedLayersComputeWithTheirCodesAndDoNotTrain) {
  random::seed(3);
  nn::Linear linear(64, 8);
  const Array x = random::normal({2, 64});
  const Array before = linear(x);
  linear.quantize(32, 8);
  EXPECT_TRUE(linear.quantized());
  std::vector<std::string> names;
  for (const auto& [name, value] : linear.parameters()) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("weight", "bias", "scales", "biases"));
  EXPECT_EQ(linear.parameters()[0].second.dtype(), uint32);
  EXPECT_TRUE(linear.trainable_parameters().empty());
  linear.unfreeze();
  EXPECT_TRUE(linear.trainable_parameters().empty());
  ExpectAllClose(linear(x), before, 0.02, 0.02, "8-bit codes");  // close to the float layer
  EXPECT_THAT(BuildError([&] { linear.quantize(); }),
              HasSubstr("[quantize] the layer is quantized already."));
  EXPECT_EQ(nn::QuantizedLinear(64, 8, false).parameters().size(), 3u);
  EXPECT_EQ(nn::QuantizedEmbedding(4, 64)(zeros({3}, int32)).shape(), (Shape{3, 64}));
  // Only what the predicate accepts.
  nn::Sequential model(nn::Linear(64, 64), nn::Linear(64, 64));
  nn::quantize(model, std::nullopt, std::nullopt, "affine",
               [](const std::string& path, nn::Module&) { return path == "layers.1"; });
  EXPECT_FALSE(static_cast<nn::Linear&>(model[0]).quantized());
  EXPECT_TRUE(static_cast<nn::Linear&>(model[1]).quantized());
}

TEST(NnLayers, RoPETakesAnArrayOffsetToo) {
  const Array x = random::normal({1, 1, 4, 8});
  ExpectAllClose(nn::RoPE(8)(x, full({}, 2, int32)), nn::RoPE(8)(x, 2), 0, 0, "offset");
  ExpectAllClose(nn::RoPE(8)(x), fast::rope(x, 8, false, 10000.0f, 1.0f, 0), 0, 0, "default");
}

TEST(NnLayers, RecurrentLayersUnrollOverTheSequence) {
  nn::LSTM lstm(3, 4);
  auto [hidden, cell] = lstm(ones({2, 6, 3}));
  EXPECT_EQ(hidden.shape(), (Shape{2, 6, 4}));
  EXPECT_EQ(cell.shape(), (Shape{2, 6, 4}));
  EXPECT_EQ(nn::GRU(3, 4, false).parameters().size(), 2u);
  // The RNN's nonlinearity is the caller's: relu of a positive affine map stays positive.
  nn::RNN rnn(2, 3, true, [](const Array& h) { return relu(h); });
  rnn.apply(nn::init::constant(0.5));
  ExpectAllClose(take(rnn(ones({5, 2})), 0, 0), full({3}, 1.5), 0, 0, "first step");
  EXPECT_THAT(BuildError([&] {
                rnn(ones({5, 3}));
              }),
              HasSubstr("[RNN] x must be (batch, length, 2) or (length, 2), got shape (5, 3)."));
}

TEST(NnLayers, InitializersDrawWithMlxsFans) {
  const Array like = zeros({200, 300});  // fan_in 300, fan_out 200
  auto spread = [](const Array& a) { return std::sqrt(mean(square(a)).item<float>()); };
  EXPECT_NEAR(spread(nn::init::glorot_normal()(like)), std::sqrt(2.0 / 500), 0.002);
  EXPECT_LE(MaxAbs(nn::init::glorot_uniform()(like)), std::sqrt(6.0f / 500));
  EXPECT_NEAR(spread(nn::init::he_normal()(like)), 1 / std::sqrt(300.0), 0.002);
  EXPECT_NEAR(spread(nn::init::he_normal(float32, "fan_out", 2.0)(like)), 2 / std::sqrt(200.0),
              0.004);
  EXPECT_LE(MaxAbs(nn::init::he_uniform()(zeros({8, 3, 3, 4}))), std::sqrt(3.0f / 36));
  EXPECT_EQ(nn::init::uniform(2, 3, bfloat16)(like).dtype(), bfloat16);
  const Array q = nn::init::orthogonal()(zeros({3, 5}));
  ExpectAllClose(matmul(q, transpose(q)), eye(3), 1e-5, 1e-5, "orthonormal rows");
  ExpectAllClose(nn::init::identity()(zeros({3, 3})), eye(3), 0, 0, "identity");
  EXPECT_THAT(BuildError([] { nn::init::glorot_normal()(zeros({4})); }),
              HasSubstr("[glorot_normal] needs an array of rank 2 or more, got shape (4,)."));
  EXPECT_THAT(BuildError([] {
                nn::init::he_normal(float32, "fan")(zeros({4, 4}));
              }),
              HasSubstr("[he_normal] mode must be \"fan_in\" or \"fan_out\", got \"fan\"."));
  // Re-initializing a model's weights only.
  nn::Sequential model(nn::Linear(4, 4), nn::Linear(4, 4));
  model.apply(nn::init::constant(1.0), [](const std::string& name, const Array&) {
    return name.find("weight") != std::string::npos;
  });
  ExpectAllClose(model.parameters()[2].second, ones({4, 4}), 0, 0, "weight");
  EXPECT_LT(MaxAbs(model.parameters()[3].second), 0.51f);  // the bias as drawn
}

TEST(NnLayers, CheckpointedBlocksGiveTheSameGradients) {
  random::seed(11);
  nn::TransformerEncoder plain(2, 8, 2, 16);
  nn::TransformerEncoder checkpointed(2, 8, 2, 16, 0.0, nullptr, true, /*checkpoint=*/true);
  checkpointed.load_weights(plain.parameters());
  const Array x = random::normal({2, 3, 8});
  const Array mask = nn::MultiHeadAttention::create_additive_causal_mask(3);
  auto gradients = [&](nn::TransformerEncoder& model) {
    return nn::value_and_grad(
        model, [&](const std::vector<Array>&) { return sum(square(model(x, mask))); })({});
  };
  const nn::Parameters own = checkpointed.trainable_parameters();
  auto [loss, grads] = gradients(plain);
  auto [checkpointed_loss, checkpointed_grads] = gradients(checkpointed);
  ExpectAllClose(checkpointed_loss, loss, 1e-6, 0, "loss");
  ASSERT_EQ(checkpointed_grads.size(), grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    ExpectAllClose(checkpointed_grads[i].second, grads[i].second, 1e-4, 1e-6, grads[i].first);
  }
  // The model keeps its own arrays after the backward pass recomputed through it.
  for (size_t i = 0; i < own.size(); ++i) {
    EXPECT_EQ(checkpointed.trainable_parameters()[i].second.node(), own[i].second.node());
  }
}

TEST(NnLayers, Dropout2dDropsWholeChannels) {
  nn::Dropout2d dropout(0.5);
  const std::vector<float> y = dropout(ones({4, 3, 3, 8})).to_vector<float>();
  for (int n = 0; n < 4; ++n) {
    for (int c = 0; c < 8; ++c) {
      const float first = y[n * 72 + c];
      ASSERT_TRUE(first == 0.0f || first == 2.0f);
      for (int p = 1; p < 9; ++p) ASSERT_EQ(y[n * 72 + p * 8 + c], first);
    }
  }
  EXPECT_THAT(BuildError([&] {
                dropout(ones({2, 8}));
              }),
              HasSubstr("[Dropout2d] x must have rank 3 or 4, got shape (2, 8)."));
  const Array x = ones({2});
  EXPECT_EQ(nn::Identity()(x).node(), x.node());
}

}  // namespace
}  // namespace ferry
