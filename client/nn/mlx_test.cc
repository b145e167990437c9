// ferry::nn against MLX 0.32.4's mlx.nn: models built here from MLX's saved weights compute
// what MLX computed, nn::value_and_grad gives MLX's gradients under MLX's names, and each
// loss gives MLX's values (testdata/nn_mlx.py wrote the file).

#include <cstdlib>
#include <string>
#include <unordered_map>

#include "client/ferry.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using losses = nn::losses::Reduction;
using ::ferry::testing::ExpectAllClose;

// The model testdata/nn_mlx.py builds, layer for layer.
struct Net : nn::Module {
  nn::Embedding& embedding = register_module("embedding", nn::Embedding(11, 16));
  nn::Conv1d& conv = register_module("conv", nn::Conv1d(16, 16, 3, 1, 1));
  nn::LayerNorm& norm = register_module("norm", nn::LayerNorm(16));
  nn::MultiHeadAttention& attention =
      register_module("attention", nn::MultiHeadAttention(16, 4, /*bias=*/true));
  nn::RMSNorm& rms = register_module("rms", nn::RMSNorm(16));
  nn::Sequential& mlp = register_module(
      "mlp", nn::Sequential(nn::Linear(16, 32), nn::GELU(), nn::Dropout(0.5), nn::Linear(32, 5)));

  Array operator()(const Array& tokens, const Array& mask) {
    Array h = embedding(tokens);
    h = h + conv(h);
    h = norm(h);
    h = h + attention(h, h, h, mask);
    return mlp(silu(rms(h)));
  }
};

class NnMlxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const std::string path = (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) +
                             "client/nn/testdata/nn_mlx.safetensors";
    arrays_ = new std::unordered_map<std::string, Array>(load_safetensors(path).first);
  }
  static void TearDownTestSuite() { delete arrays_; }

  static const Array& At(const std::string& name) { return arrays_->at(name); }
  // The arrays named prefix + name, as (name, array), sorted.
  static nn::Parameters WithPrefix(const std::string& prefix) {
    nn::Parameters out;
    for (const auto& [name, value] : *arrays_) {
      if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), value);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* NnMlxTest::arrays_ = nullptr;

TEST_F(NnMlxTest, MlxWeightsLoadByNameAndGiveMlxOutputs) {
  Net net;
  net.load_weights(WithPrefix("net."));  // strict: every name matches, every shape
  net.eval();
  ExpectAllClose(net(At("in.tokens"), At("in.mask")), At("out.net"), 1e-4, 1e-5, "net");
}

TEST_F(NnMlxTest, GradientsAreMlxsUnderMlxsNames) {
  Net net;
  net.load_weights(WithPrefix("net."));
  net.eval();
  auto loss_and_grads = nn::value_and_grad(net, [&](const std::vector<Array>& in) {
    return nn::losses::cross_entropy(net(in[0], in[1]), in[2], losses::kMean);
  });
  auto [loss, grads] = loss_and_grads({At("in.tokens"), At("in.mask"), At("in.targets")});
  ExpectAllClose(loss, At("out.net_loss"), 1e-5, 1e-6, "loss");
  const nn::Parameters want = WithPrefix("grad.net.");
  ASSERT_EQ(grads.size(), want.size());
  std::sort(grads.begin(), grads.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(grads[i].first, want[i].first);
    ExpectAllClose(grads[i].second, want[i].second, 1e-3, 1e-5, grads[i].first);
  }
}

TEST_F(NnMlxTest, TransformerEncoderIsMlxs) {
  nn::TransformerEncoder encoder(2, 16, 4, 24);
  encoder.load_weights(WithPrefix("encoder."));
  encoder.eval();
  ExpectAllClose(encoder(At("in.encoder"), nn::MultiHeadAttention::create_additive_causal_mask(5)),
                 At("out.encoder"), 1e-4, 1e-5, "pre-norm encoder");

  nn::TransformerEncoderLayer post_norm(16, 4, 24, 0.0, nullptr, /*norm_first=*/false);
  post_norm.load_weights(WithPrefix("post_norm."));
  ExpectAllClose(post_norm(At("in.encoder")), At("out.post_norm"), 1e-4, 1e-5, "post-norm layer");
}

TEST_F(NnMlxTest, Conv2dIsMlxs) {
  nn::Conv2d conv(3, 4, {3, 2}, {2, 1}, {1, 1});
  conv.load_weights(WithPrefix("conv2d."));
  ExpectAllClose(conv(At("in.image")), At("out.conv2d"), 1e-5, 1e-6, "conv2d");
}

TEST_F(NnMlxTest, BatchAndGroupNormsAndPoolingAreMlxsInTrainingAndEvaluation) {
  nn::Sequential convnet(nn::Conv2d(3, 8, 3, 1, 1), nn::BatchNorm(8), nn::ReLU(), nn::MaxPool2d(2),
                         nn::GroupNorm(2, 8), nn::AvgPool2d(2, 1),
                         nn::GroupNorm(4, 8, 1e-5f, true, /*pytorch_compatible=*/true));
  convnet.load_weights(WithPrefix("convnet."));
  ExpectAllClose(convnet(At("in.images")), At("out.convnet_train"), 1e-4, 1e-5, "training");
  const nn::Parameters p = convnet.parameters();
  auto named = [&](const std::string& name) {
    for (const auto& [n, value] : p) {
      if (n == name) return value;
    }
    ADD_FAILURE() << "no " << name;
    return zeros({});
  };
  ExpectAllClose(named("layers.1.running_mean"), At("after.convnet.running_mean"), 1e-5, 1e-6,
                 "running mean");
  ExpectAllClose(named("layers.1.running_var"), At("after.convnet.running_var"), 1e-5, 1e-6,
                 "running variance");
  convnet.eval();
  ExpectAllClose(convnet(At("in.images")), At("out.convnet_eval"), 1e-4, 1e-5, "evaluation");
}

TEST_F(NnMlxTest, RoPEIsMlxs) {
  ExpectAllClose(nn::RoPE(8)(At("in.rope"), 3), At("out.rope"), 1e-5, 1e-6, "rope");
  ExpectAllClose(nn::RoPE(16, true, 500, 0.5)(At("in.rope")), At("out.rope_traditional"), 1e-5,
                 1e-6, "traditional rope");
}

TEST_F(NnMlxTest, QuantizingGivesMlxsCodesAndMlxQuantizedWeightsLoad) {
  auto make = [] {
    return nn::Sequential(nn::Embedding(16, 64), nn::Linear(64, 32), nn::ReLU(), nn::Linear(32, 8));
  };
  // Quantized here from MLX's float weights: MLX's codes, scales and biases, bit for bit.
  nn::Sequential here = make();
  here.load_weights(WithPrefix("qsrc."));
  nn::quantize(here, 32, 4);
  const nn::Parameters want = WithPrefix("qnet.");
  nn::Parameters got = here.parameters();
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.dtype(), want[i].second.dtype()) << got[i].first;
    ExpectAllClose(got[i].second, want[i].second, 0, 0, got[i].first);
  }
  EXPECT_TRUE(here.trainable_parameters().empty());  // quantized layers do not train
  ExpectAllClose(here(At("in.qtokens")), At("out.qnet"), 1e-5, 1e-6, "quantized model");
  // MLX's quantized checkpoint into a model quantized first, as a user loads one.
  nn::Sequential loaded = make();
  nn::quantize(loaded, 32, 4);
  loaded.load_weights(want);
  ExpectAllClose(loaded(At("in.qtokens")), At("out.qnet"), 1e-5, 1e-6, "loaded model");
  auto& embedding = static_cast<nn::Embedding&>(loaded[0]);
  ExpectAllClose(embedding.as_linear(At("in.qtied")), At("out.qnet_tied"), 1e-5, 1e-6,
                 "tied output layer");

  nn::Sequential mx(nn::Linear(64, 16, false));
  mx.load_weights(WithPrefix("mx."));
  nn::quantize(mx, std::nullopt, std::nullopt, "mxfp4");
  ExpectAllClose(mx.parameters()[0].second, At("mxq.layers.0.weight"), 0, 0, "mxfp4 codes");
  ExpectAllClose(mx(At("in.mx")), At("out.mxq"), 1e-5, 1e-6, "mxfp4 model");
}

TEST_F(NnMlxTest, RecurrentLayersAreMlxs) {
  const Array seq = At("in.seq");
  const Array h0 = At("in.h0");
  nn::RNN rnn(3, 5);
  nn::GRU gru(3, 5);
  nn::LSTM lstm(3, 5);
  rnn.load_weights(WithPrefix("rnn."));
  gru.load_weights(WithPrefix("gru."));
  lstm.load_weights(WithPrefix("lstm."));
  ExpectAllClose(rnn(seq), At("out.rnn"), 1e-5, 1e-6, "rnn");
  ExpectAllClose(rnn(seq, h0), At("out.rnn_h0"), 1e-5, 1e-6, "rnn from h0");
  ExpectAllClose(gru(seq), At("out.gru"), 1e-5, 1e-6, "gru");
  ExpectAllClose(gru(seq, h0), At("out.gru_h0"), 1e-5, 1e-6, "gru from h0");
  ExpectAllClose(gru(take(seq, 0, 0)), At("out.gru_unbatched"), 1e-5, 1e-6, "gru, one sequence");
  auto [h, c] = lstm(seq);
  ExpectAllClose(h, At("out.lstm_h"), 1e-5, 1e-6, "lstm hidden");
  ExpectAllClose(c, At("out.lstm_c"), 1e-5, 1e-6, "lstm cell");
  auto [h1, c1] = lstm(seq, h0, At("in.c0"));
  ExpectAllClose(h1, At("out.lstm_h0_h"), 1e-5, 1e-6, "lstm hidden from h0");
  ExpectAllClose(c1, At("out.lstm_h0_c"), 1e-5, 1e-6, "lstm cell from c0");
}

TEST_F(NnMlxTest, UpsamplingIsMlxs) {
  const Array x = At("in.upsample");
  auto expect = [&](nn::Upsample layer, const std::string& name) {
    ExpectAllClose(layer(x), At("upsample." + name), 1e-5, 1e-6, name);
  };
  expect(nn::Upsample(2.0), "nearest_2");
  expect(nn::Upsample({1.5, 0.6}), "nearest_frac");
  expect(nn::Upsample(2.0, "linear"), "linear_2");
  expect(nn::Upsample({1.4, 2.0}, "linear", true), "linear_aligned");
  expect(nn::Upsample(1.5, "cubic"), "cubic_frac");
  expect(nn::Upsample(2.0, "cubic", true), "cubic_aligned");
  expect(nn::Upsample(0.5, "linear", false, true), "linear_antialias");
  expect(nn::Upsample({0.6, 0.5}, "cubic", false, true), "cubic_antialias");
}

TEST_F(NnMlxTest, TheEncoderDecoderTransformerIsMlxs) {
  nn::Transformer transformer(16, 4, 2, 1, 24);
  transformer.load_weights(WithPrefix("transformer."));
  transformer.eval();
  const Array tgt_mask = nn::MultiHeadAttention::create_additive_causal_mask(4);
  ExpectAllClose(transformer(At("in.src"), At("in.tgt"), std::nullopt, tgt_mask),
                 At("out.transformer"), 1e-4, 1e-5, "transformer");
  // Checkpointed blocks compute the same.
  nn::Transformer checkpointed(16, 4, 2, 1, 24, 0.0, nullptr, true, /*checkpoint=*/true);
  checkpointed.load_weights(WithPrefix("transformer."));
  ExpectAllClose(checkpointed(At("in.src"), At("in.tgt"), std::nullopt, tgt_mask),
                 At("out.transformer"), 1e-4, 1e-5, "checkpointed transformer");
}

TEST_F(NnMlxTest, TransposedAnd3dConvolutionsPoolingAndInstanceNormAreMlxs) {
  nn::ConvTranspose1d tconv1(3, 4, 3, 2, 1, 1, 1);
  tconv1.load_weights(WithPrefix("tconv1."));
  ExpectAllClose(tconv1(At("in.tconv1")), At("out.tconv1"), 1e-5, 1e-6, "conv_transpose1d");
  nn::ConvTranspose2d tconv2(3, 2, {3, 2}, {2, 1}, {1, 0}, {1, 2});
  tconv2.load_weights(WithPrefix("tconv2."));
  ExpectAllClose(tconv2(At("in.tconv2")), At("out.tconv2"), 1e-5, 1e-6, "conv_transpose2d");
  nn::Conv3d conv3(2, 4, {2, 3, 2}, {1, 2, 1}, {1, 1, 1});
  conv3.load_weights(WithPrefix("conv3."));
  ExpectAllClose(conv3(At("in.conv3")), At("out.conv3"), 1e-5, 1e-6, "conv3d");
  nn::ConvTranspose3d tconv3(2, 3, {2, 2, 3}, {2, 1, 1}, {0, 1, 1});
  tconv3.load_weights(WithPrefix("tconv3."));
  ExpectAllClose(tconv3(At("in.conv3")), At("out.tconv3"), 1e-5, 1e-6, "conv_transpose3d");
  ExpectAllClose(nn::MaxPool3d(2, 1, 1)(At("in.conv3")), At("out.maxpool3"), 0, 0, "max_pool3d");
  ExpectAllClose(nn::AvgPool3d(2)(At("in.conv3")), At("out.avgpool3"), 1e-6, 1e-7, "avg_pool3d");
  nn::InstanceNorm inorm(3, 1e-5f, true);
  inorm.load_weights(WithPrefix("inorm."));
  ExpectAllClose(inorm(At("in.tconv2")), At("out.inorm"), 1e-4, 1e-5, "instance norm");
}

TEST_F(NnMlxTest, PositionalEncodingsAlibiAndBilinearAreMlxs) {
  const Array positions = At("in.positions");
  ExpectAllClose(nn::SinusoidalPositionalEncoding(8)(positions), At("out.sinusoidal"), 1e-5, 1e-6,
                 "sinusoidal");
  ExpectAllClose(nn::SinusoidalPositionalEncoding(6, 0.01, 2, 1.0, true, true)(positions),
                 At("out.sinusoidal_cos"), 1e-5, 1e-6, "sinusoidal, cosines first");
  ExpectAllClose(nn::ALiBi()(At("in.scores")), At("out.alibi"), 1e-6, 1e-6, "alibi");
  ExpectAllClose(nn::ALiBi()(At("in.scores"), 2, At("in.alibi_mask")), At("out.alibi_offset"), 1e-6,
                 1e-6, "alibi with offset and mask");
  nn::Bilinear bilinear(3, 4, 2);
  bilinear.load_weights(WithPrefix("bilinear."));
  ExpectAllClose(bilinear(At("in.x1"), At("in.x2")), At("out.bilinear"), 1e-5, 1e-6, "bilinear");
}

TEST_F(NnMlxTest, ActivationsAreMlxs) {
  const Array x = At("in.act");
  auto expect = [&](const Array& got, const std::string& name) {
    ExpectAllClose(got, At("act." + name), 1e-5, 1e-6, name);
  };
  expect(nn::relu2(x), "relu2");
  expect(nn::relu6(x), "relu6");
  expect(nn::leaky_relu(x, 0.2), "leaky_relu");
  expect(nn::log_softmax(x), "log_softmax");
  expect(nn::elu(x, 0.5), "elu");
  expect(nn::selu(x), "selu");
  expect(nn::celu(x, 2.0), "celu");
  expect(nn::softsign(x), "softsign");
  expect(nn::softshrink(x), "softshrink");
  expect(nn::hard_shrink(x), "hard_shrink");
  expect(nn::hard_tanh(x, -2, 1.5), "hard_tanh");
  expect(nn::hardswish(x), "hardswish");
  expect(nn::log_sigmoid(x), "log_sigmoid");
  expect(nn::mish(x), "mish");
  expect(nn::gelu_approx(x), "gelu_approx");
  expect(nn::gelu_fast_approx(x), "gelu_fast_approx");
  expect(nn::glu(x), "glu");
  EXPECT_EQ(nn::step(x).dtype(), At("act.step").dtype());
  expect(nn::step(x, 0.5), "step");
  expect(nn::softmin(x), "softmin");
  expect(nn::PReLU(8, 0.1)(x), "prelu");
  expect(nn::GELU("tanh")(x), "gelu_tanh");
}

TEST_F(NnMlxTest, LossesAreMlxs) {
  namespace l = nn::losses;
  const Array logits = At("loss.in.logits");
  const Array classes = At("loss.in.classes");
  const Array probabilities = At("loss.in.probabilities");
  const Array predictions = At("loss.in.predictions");
  const Array truth = At("loss.in.truth");
  const Array binary = At("loss.in.binary");
  const Array weights = At("loss.in.weights");
  auto expect = [&](const Array& got, const char* name) {
    ExpectAllClose(got, At(std::string("loss.") + name), 1e-5, 1e-6, name);
  };
  expect(l::cross_entropy(logits, classes), "cross_entropy");
  expect(l::cross_entropy(logits, probabilities), "cross_entropy_probs");
  expect(l::cross_entropy(logits, classes, weights, -1, 0.1, losses::kMean),
         "cross_entropy_smoothed_mean");
  expect(l::binary_cross_entropy(predictions * 4, binary), "binary_cross_entropy");
  expect(
      l::binary_cross_entropy(sigmoid(predictions * 4), binary, std::nullopt, false, losses::kNone),
      "binary_cross_entropy_probs_none");
  expect(l::l1_loss(predictions, truth), "l1");
  expect(l::mse_loss(predictions, truth, losses::kSum), "mse_sum");
  expect(l::nll_loss(log(probabilities), classes), "nll");
  expect(l::kl_div_loss(log(probabilities), logits - logsumexp(logits, -1, true)), "kl_div");
  expect(l::smooth_l1_loss(predictions, truth, 0.5), "smooth_l1");
  expect(l::huber_loss(predictions, truth, 0.5), "huber");
  expect(l::hinge_loss(predictions, binary * 2 - 1), "hinge");
  expect(l::log_cosh_loss(predictions, truth), "log_cosh");
  expect(l::cosine_similarity_loss(predictions, truth), "cosine_similarity");
  expect(l::gaussian_nll_loss(predictions, truth, abs(truth) + 0.1), "gaussian_nll");
}

}  // namespace
}  // namespace ferry
