// nn::losses: MLX's documented examples, reductions, and shapes that do not match.

#include "client/nn/losses.h"

#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::ferry::testing::BuildError;
using nn::losses::Reduction;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

Array Floats(std::vector<float> values, Shape shape) { return from_host(values, shape); }

TEST(NnLosses, CrossEntropyOfClassIndicesOrProbabilities) {
  const Array logits = Floats({2, -1, -1, 2}, {2, 2});
  EXPECT_THAT(nn::losses::cross_entropy(logits, from_host(std::vector<int32_t>{0, 1}, {2}))
                  .to_vector<float>(),
              ElementsAre(FloatNear(0.0485873f, 1e-6f), FloatNear(0.0485873f, 1e-6f)));
  EXPECT_THAT(nn::losses::cross_entropy(logits, Floats({0.9f, 0.1f, 0.1f, 0.9f}, {2, 2}))
                  .to_vector<float>(),
              ElementsAre(FloatNear(0.348587f, 1e-6f), FloatNear(0.348587f, 1e-6f)));
  // Class indices along axis 0: one loss per column.
  EXPECT_EQ(nn::losses::cross_entropy(ones({5, 3}), zeros({3}, int32), std::nullopt, 0).shape(),
            (Shape{3}));
  EXPECT_THAT(BuildError([&] { nn::losses::cross_entropy(logits, zeros({3}, int32)); }),
              HasSubstr("[cross_entropy] targets shape (3,) does not match logits shape (2, 2)"));
  EXPECT_THAT(BuildError([&] {
                nn::losses::cross_entropy(logits, zeros({2}, int32), std::nullopt, -1, 1.0);
              }),
              HasSubstr("[cross_entropy] label_smoothing must be in [0, 1), got 1."));
  EXPECT_THAT(BuildError([&] { nn::losses::cross_entropy(logits, zeros({2}, int32), ones({3})); }),
              HasSubstr("[cross_entropy] weights shape (3,) does not match the loss's shape (2,)"));
}

TEST(NnLosses, BinaryCrossEntropyOfLogitsOrProbabilities) {
  const Array targets = Floats({0, 0, 1, 1}, {4});
  EXPECT_NEAR(nn::losses::binary_cross_entropy(
                  Floats({0.105361f, 0.223144f, 1.20397f, 0.916291f}, {4}), targets)
                  .item<float>(),
              0.539245, 1e-6);
  EXPECT_NEAR(nn::losses::binary_cross_entropy(Floats({0.1f, 0.1f, 0.4f, 0.4f}, {4}), targets,
                                               std::nullopt, /*with_logits=*/false)
                  .item<float>(),
              0.510826, 1e-6);
  // A probability of exactly 0 or 1 costs at most 100, not infinity.
  EXPECT_THAT(nn::losses::binary_cross_entropy(Floats({0, 1}, {2}), Floats({1, 0}, {2}),
                                               std::nullopt, false, Reduction::kNone)
                  .to_vector<float>(),
              ElementsAre(100, 100));
}

TEST(NnLosses, ReductionsAndTheirDefaults) {
  const Array predictions = Floats({1, 2, 3, 4}, {2, 2});
  const Array targets = Floats({0, 2, 5, 4}, {2, 2});
  EXPECT_FLOAT_EQ(nn::losses::mse_loss(predictions, targets).item<float>(), 5.0f / 4);
  EXPECT_FLOAT_EQ(nn::losses::mse_loss(predictions, targets, Reduction::kSum).item<float>(), 5.0f);
  EXPECT_THAT(nn::losses::l1_loss(predictions, targets, Reduction::kNone).to_vector<float>(),
              ElementsAre(1, 0, 2, 0));
  EXPECT_THAT(
      nn::losses::hinge_loss(Floats({0.5f, -2}, {2}), Floats({1, -1}, {2})).to_vector<float>(),
      ElementsAre(0.5f, 0));
  EXPECT_THAT(nn::losses::margin_ranking_loss(Floats({1, 2}, {2}), Floats({2, 1}, {2}),
                                              Floats({1, 1}, {2}), 0.5)
                  .to_vector<float>(),
              ElementsAre(1.5f, 0));
  EXPECT_THAT(BuildError([&] { nn::losses::mse_loss(predictions, ones({4})); }),
              HasSubstr("[mse_loss] predictions shape (2, 2) does not match targets shape (4,)."));
}

TEST(NnLosses, NllAndKlDivergenceOfLogProbabilities) {
  const Array log_p = log(Floats({0.25f, 0.75f, 0.5f, 0.5f}, {2, 2}));
  EXPECT_THAT(
      nn::losses::nll_loss(log_p, from_host(std::vector<int32_t>{1, 0}, {2})).to_vector<float>(),
      ElementsAre(FloatNear(-std::log(0.75f), 1e-6f), FloatNear(-std::log(0.5f), 1e-6f)));
  EXPECT_THAT(nn::losses::kl_div_loss(log_p, log_p).to_vector<float>(), ElementsAre(0, 0));
  EXPECT_THAT(BuildError([&] { nn::losses::nll_loss(log_p, zeros({2}, int32), 2); }),
              HasSubstr("[nll_loss] axis 2 is out of range for an array of rank 2."));
}

TEST(NnLosses, LossesDifferentiate) {
  // d/dx mean((x - t)^2) = 2 (x - t) / n.
  const Array t = Floats({1, 2}, {2});
  auto g = grad([&](const Array& x) { return nn::losses::mse_loss(x, t); });
  EXPECT_THAT(g(Floats({2, 0}, {2})).to_vector<float>(), ElementsAre(1, -2));
}

}  // namespace
}  // namespace ferry
