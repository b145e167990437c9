// The optimizers, schedules and clip_grad_norm against MLX 0.32.4's (testdata/optimizers_mlx.py
// wrote the file): three updates of the same parameter from the same gradients.

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "client/ferry.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::ferry::testing::ExpectAllClose;
namespace opt = ::ferry::optimizers;

class OptimizersMlxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const std::string path = (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) +
                             "client/testdata/optimizers_mlx.safetensors";
    arrays_ = new std::unordered_map<std::string, Array>(load_safetensors(path).first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static const Array& At(const std::string& name) { return arrays_->at(name); }

  // p0 after three updates by `optimizer`, compared with MLX's.
  static void ExpectThreeStepsAsMlx(opt::Optimizer& optimizer, const std::string& name) {
    std::vector<Array> params = {At("p0")};
    for (const char* g : {"g1", "g2", "g3"}) params = optimizer.update(params, {At(g)});
    ExpectAllClose(params[0], At(name + ".p3"), 1e-5, 1e-6, name);
    EXPECT_EQ(optimizer.step(), 3);
  }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* OptimizersMlxTest::arrays_ = nullptr;

TEST_F(OptimizersMlxTest, EachOptimizerStepsAsMlxs) {
  opt::SGD sgd(0.1, 0.9, 0.01, 0, /*nesterov=*/true);
  ExpectThreeStepsAsMlx(sgd, "sgd_momentum");
  opt::RMSprop rmsprop(0.01, 0.9);
  ExpectThreeStepsAsMlx(rmsprop, "rmsprop");
  opt::Adagrad adagrad(0.1);
  ExpectThreeStepsAsMlx(adagrad, "adagrad");
  opt::AdaDelta adadelta(1.0, 0.8);
  ExpectThreeStepsAsMlx(adadelta, "adadelta");
  opt::Adam adam(0.01);
  ExpectThreeStepsAsMlx(adam, "adam");
  opt::Adam corrected(0.01, {0.9, 0.999}, 1e-8, /*bias_correction=*/true);
  ExpectThreeStepsAsMlx(corrected, "adam_corrected");
  opt::AdamW adamw(0.01, {0.9, 0.999}, 1e-8, 0.1);
  ExpectThreeStepsAsMlx(adamw, "adamw");
  opt::Adamax adamax(0.02);
  ExpectThreeStepsAsMlx(adamax, "adamax");
  opt::Lion lion(0.01, {0.9, 0.99}, 0.1);
  ExpectThreeStepsAsMlx(lion, "lion");
}

// p (3, 4), v (5,) and w (4, 2, 3) as one model's parameters.
struct ThreeParameters : nn::Module {
  ThreeParameters(const Array& p, const Array& v, const Array& w) {
    register_parameter("p", p);
    register_parameter("v", v);
    register_parameter("w", w);
  }
};

TEST_F(OptimizersMlxTest, AdafactorMuonAndMultiOptimizerStepAsMlxs) {
  auto three_steps = [&](const std::function<void(nn::Module&, const nn::Parameters&)>& update,
                         const std::string& name) {
    ThreeParameters model(At("p0"), At("v0"), At("w0"));
    for (const char* i : {"1", "2", "3"}) {
      update(model, {{"p", At(std::string("g") + i)},
                     {"v", At(std::string("vg") + i)},
                     {"w", At(std::string("wg") + i)}});
    }
    const nn::Parameters after = model.parameters();
    for (size_t k = 0; k < after.size(); ++k) {
      ExpectAllClose(after[k].second, At(name + "." + after[k].first + "3"), 1e-4, 1e-6,
                     name + " " + after[k].first);
    }
  };
  auto with = [&](std::shared_ptr<opt::Optimizer> optimizer) {
    return [optimizer](nn::Module& model, const nn::Parameters& grads) {
      optimizer->update(model, grads);
    };
  };
  three_steps(with(std::make_shared<opt::Adafactor>()), "adafactor");
  opt::AdafactorOptions options;
  options.relative_step = false;
  options.beta_1 = 0.9;
  options.weight_decay = 0.1;
  options.clip_threshold = 0.5;
  three_steps(with(std::make_shared<opt::Adafactor>(0.01, options)), "adafactor_options");
  opt::AdafactorOptions warmup;
  warmup.warmup_init = true;
  warmup.scale_parameter = false;
  three_steps(with(std::make_shared<opt::Adafactor>(0.0, warmup)), "adafactor_warmup");
  three_steps(with(std::make_shared<opt::Muon>(0.02)), "muon");
  three_steps(with(std::make_shared<opt::Muon>(0.02, 0.9, 0.0, false, 3)), "muon_plain");
  std::vector<std::unique_ptr<opt::Optimizer>> pair;
  pair.push_back(std::make_unique<opt::Muon>(0.02));
  pair.push_back(std::make_unique<opt::AdamW>(0.01));
  auto multi = std::make_shared<opt::MultiOptimizer>(
      std::move(pair), std::vector<opt::MultiOptimizer::Filter>{
                           [](const std::string&, const Array& g) { return g.ndim() >= 2; }});
  three_steps(
      [multi](nn::Module& model, const nn::Parameters& grads) { multi->update(model, grads); },
      "multi");
  EXPECT_EQ(multi->state().size(), 4u);  // Muon's v for p and w; AdamW's m and v for v
}

TEST_F(OptimizersMlxTest, ScheduledLearningRatesStepAsMlxs) {
  opt::AdamW cosine(0);
  cosine.set_learning_rate(opt::cosine_decay(0.05, 4, 0.001));
  ExpectThreeStepsAsMlx(cosine, "adamw_cosine");
  opt::SGD warmup(0);
  warmup.set_learning_rate(opt::join_schedules(
      {opt::linear_schedule(0.0, 0.1, 2), opt::exponential_decay(0.1, 0.5)}, {2}));
  ExpectThreeStepsAsMlx(warmup, "sgd_warmup");
}

TEST_F(OptimizersMlxTest, SchedulesAreMlxsAtEveryStep) {
  const std::unordered_map<std::string, opt::Schedule> schedules = {
      {"exponential_decay", opt::exponential_decay(0.1, 0.9)},
      {"step_decay", opt::step_decay(0.1, 0.5, 7)},
      {"cosine_decay", opt::cosine_decay(0.1, 20, 0.01)},
      {"linear_schedule", opt::linear_schedule(0.0, 0.1, 10)},
      {"join_schedules",
       opt::join_schedules({opt::linear_schedule(0.0, 0.1, 5), opt::cosine_decay(0.1, 10),
                            opt::step_decay(0.05, 0.5, 3)},
                           {5, 15})},
  };
  for (const auto& [name, schedule] : schedules) {
    std::vector<float> values;
    for (int64_t step = 0; step < 30; ++step) values.push_back(static_cast<float>(schedule(step)));
    ExpectAllClose(from_host(values, {30}), At("schedule." + name), 1e-6, 1e-7, name);
  }
}

TEST_F(OptimizersMlxTest, ClipGradNormIsMlxs) {
  auto [clipped, norm] = opt::clip_grad_norm({{"a", At("g1")}, {"b", At("g2")}}, 2.0);
  ExpectAllClose(norm, At("clip.norm"), 1e-6, 0, "norm");
  ExpectAllClose(clipped[0].second, At("clip.a"), 1e-6, 1e-7, "a");
  ExpectAllClose(clipped[1].second, At("clip.b"), 1e-6, 1e-7, "b");
  EXPECT_EQ(clipped[1].first, "b");
}

}  // namespace
}  // namespace ferry
