// SGD, Adam and AdamW against updates computed by hand (in double, element by element),
// over several steps so the state's recurrence is checked, and the state's life on the
// device: one execute per step, state resident after eval.

#include <cmath>
#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

const std::vector<double> kParams = {1.0, -2.0, 0.5, 3.0};
// A different gradient each step.
const std::vector<std::vector<double>> kGrads = {
    {0.5, -1.0, 0.25, 2.0}, {0.1, 0.3, -0.7, 1.0}, {-0.4, 0.2, 0.9, -1.5}};

// Runs `optimizer` over kGrads from kParams (float32 (2, 2) arrays), evaluating parameters
// and state together each step, and returns the parameters after each step.
std::vector<std::vector<float>> Train(optimizers::Optimizer& optimizer) {
  std::vector<Array> params = {astype(from_host(kParams, {2, 2}), float32)};
  std::vector<std::vector<float>> history;
  for (const std::vector<double>& g : kGrads) {
    params = optimizer.update(params, {astype(from_host(g, {2, 2}), float32)});
    std::vector<Array> step = params;
    for (const Array& s : optimizer.state()) step.push_back(s);
    eval(step);
    history.push_back(params[0].to_vector<float>());
  }
  return history;
}

void ExpectHistory(const std::vector<std::vector<float>>& actual,
                   const std::vector<std::vector<double>>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t step = 0; step < actual.size(); ++step) {
    std::vector<double> widened(actual[step].begin(), actual[step].end());
    EXPECT_THAT(widened, Pointwise(DoubleNear(2e-6), expected[step])) << "step " << step + 1;
  }
}

TEST(OptimizersTest, PlainSgd) {
  optimizers::SGD sgd(0.1);
  std::vector<std::vector<double>> expected;
  std::vector<double> p = kParams;
  for (const auto& g : kGrads) {
    for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.1 * g[i];
    expected.push_back(p);
  }
  ExpectHistory(Train(sgd), expected);
  EXPECT_TRUE(sgd.state().empty());
}

TEST(OptimizersTest, SgdWithMomentumWeightDecayAndDampening) {
  const double lr = 0.05, mu = 0.9, wd = 0.01, damp = 0.2;
  optimizers::SGD sgd(lr, mu, wd, damp);
  std::vector<std::vector<double>> expected;
  std::vector<double> p = kParams, v(4, 0.0);
  for (const auto& g : kGrads) {
    for (size_t i = 0; i < p.size(); ++i) {
      const double gi = g[i] + wd * p[i];
      v[i] = mu * v[i] + (1 - damp) * gi;
      p[i] -= lr * v[i];
    }
    expected.push_back(p);
  }
  ExpectHistory(Train(sgd), expected);
  EXPECT_EQ(sgd.state().size(), 1u);
}

TEST(OptimizersTest, NesterovSgd) {
  const double lr = 0.1, mu = 0.5;
  optimizers::SGD sgd(lr, mu, 0, 0, /*nesterov=*/true);
  std::vector<std::vector<double>> expected;
  std::vector<double> p = kParams, v(4, 0.0);
  for (const auto& g : kGrads) {
    for (size_t i = 0; i < p.size(); ++i) {
      v[i] = mu * v[i] + g[i];
      p[i] -= lr * (g[i] + mu * v[i]);
    }
    expected.push_back(p);
  }
  ExpectHistory(Train(sgd), expected);
}

// Adam by hand; AdamW when wd > 0.
std::vector<std::vector<double>> AdamByHand(double lr, double b1, double b2, double eps,
                                            bool bias_correction, double wd) {
  std::vector<std::vector<double>> expected;
  std::vector<double> p = kParams, m(4, 0.0), v(4, 0.0);
  int t = 0;
  for (const auto& g : kGrads) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      if (bias_correction) {
        const double m_hat = m[i] / (1 - std::pow(b1, t));
        const double v_hat = v[i] / (1 - std::pow(b2, t));
        // MLX's form: eps is added to sqrt(v_hat) (PyTorch's places it the same way).
        p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
      } else {
        p[i] -= lr * m[i] / (std::sqrt(v[i]) + eps);
      }
    }
    expected.push_back(p);
  }
  return expected;
}

TEST(OptimizersTest, Adam) {
  optimizers::Adam adam(0.01, {0.8, 0.95}, 1e-6);
  ExpectHistory(Train(adam), AdamByHand(0.01, 0.8, 0.95, 1e-6, false, 0));
  EXPECT_EQ(adam.state().size(), 2u);  // m and v
}

TEST(OptimizersTest, AdamWithBiasCorrection) {
  optimizers::Adam adam(0.01, {0.8, 0.95}, 1e-6, /*bias_correction=*/true);
  ExpectHistory(Train(adam), AdamByHand(0.01, 0.8, 0.95, 1e-6, true, 0));
  const std::vector<Array> state = adam.state();
  ASSERT_EQ(state.size(), 3u);  // m, v, and the step count on the device
  EXPECT_FLOAT_EQ(Array(state[2]).item<float>(), 3);
}

TEST(OptimizersTest, AdamW) {
  optimizers::AdamW adamw(0.01, {0.9, 0.999}, 1e-8, /*weight_decay=*/0.1);
  ExpectHistory(Train(adamw), AdamByHand(0.01, 0.9, 0.999, 1e-8, false, 0.1));
}

TEST(OptimizersTest, ChangingTheLearningRateKeepsTheGraph) {
  optimizers::SGD sgd(0.5);
  std::vector<Array> params = {from_host(std::vector<float>{1, 2}, {2})};
  params = sgd.update(params, {ones({2})});
  EXPECT_THAT(params[0].to_vector<float>(), ElementsAre(0.5, 1.5));
  sgd.set_learning_rate(0.25);
  EXPECT_EQ(sgd.learning_rate(), 0.25);
  params = sgd.update(params, {ones({2})});
  EXPECT_THAT(params[0].to_vector<float>(), ElementsAre(0.25, 1.25));
  // float64 parameters get the rate in float64, not a float32 rounding of it.
  optimizers::SGD precise(0.1);
  Array p = precise.update({from_host(std::vector<double>{1}, {1})}, {ones({1}, float64)})[0];
  EXPECT_EQ(p.to_vector<double>()[0], 1 - 0.1);
}

TEST(OptimizersTest, KeepsTheParameterDtype) {
  optimizers::Adam adam(0.1, {0.9, 0.999}, 1e-8, true);
  Array p = astype(from_host(kParams, {4}), float16);
  std::vector<Array> next = adam.update({p}, {ones({4}, float16)});
  EXPECT_EQ(next[0].dtype(), float16);
  for (const Array& s : adam.state()) EXPECT_TRUE(s.dtype() == float16 || s.shape().empty());
}

TEST(OptimizersTest, StateIsResidentAndEachStepIsOneExecute) {
  Device device = local();
  optimizers::Adam adam(0.01, {0.9, 0.999}, 1e-8, true);
  std::vector<Array> params = {ones({3}), zeros({2, 2})};
  for (int step = 0; step < 3; ++step) {
    auto [loss, grads] = value_and_grad(
        [](const std::vector<Array>& p) { return sum(p[0] * p[0]) + sum(exp(p[1])); },
        std::vector<int>{0, 1})(params);
    params = adam.update(params, grads);
    std::vector<Array> all = params;
    all.push_back(loss);
    for (const Array& s : adam.state()) all.push_back(s);
    const int64_t before = device.stats().executes;
    eval(all);
    EXPECT_EQ(device.stats().executes, before + 1) << "step " << step;
    for (const Array& s : adam.state()) EXPECT_TRUE(s.is_available());
  }
}

TEST(OptimizersTest, MismatchesThrowNamingTheOptimizer) {
  optimizers::SGD sgd(0.1, 0.9);
  try {
    sgd.update({ones({2})}, {ones({3})});
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("[SGD] gradient 0 has shape (3,) but parameter 0 has shape (2,)"));
  }
  EXPECT_THROW(sgd.update({ones({2})}, {}), Error);
  sgd.update({ones({2})}, {ones({2})});
  EXPECT_THROW(sgd.update({ones({2}), ones({2})}, {ones({2}), ones({2})}), Error);
  EXPECT_THROW(optimizers::Adam(0.1).update({ones({2}, int32)}, {ones({2}, int32)}), Error);
}

}  // namespace
}  // namespace ferry
