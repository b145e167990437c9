// vjp, grad and value_and_grad: what they return, their errors, and that the backward graph
// is lazy (nothing runs until eval, and then in one execute).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/array_node.h"
#include "client/ferry.h"
#include "client/vjp/registry.h"
#include "core/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Ops declared in core that have no vjp rule, each with its reason. Every other op has a
// rule, the non-differentiable ones (comparisons, rounding, bitwise, arg*, random) one of
// no gradient, as in MLX. An op added to core without a rule makes this test fail until
// its rule is written (client/vjp/<family>.cc) or the op is listed here, with the reason.
const std::vector<std::string> kOpsWithoutVjpYet = {
    "eig",              // MLX has none either ("[Primitive::vjp] Not implemented for Eig.")
    "gated_delta_vjp",  // gated_delta's backward: no second derivatives of the recurrence
    "scatter_prod",     // MLX has no vjp for it either ("[scatter] VJP not implemented ...")
    "send",             // its gradient comes from the receiving rank, whose graph holds no
                        // edge back: send the cotangent back with send/recv (pipeline stages)
};

std::vector<float> Values(const Array& a) { return Array(a).to_vector<float>(); }

TEST(AutodiffTest, EveryCoreOpHasAVjpRuleOrIsListed) {
  const std::vector<std::string> ops = core::OpNames();
  for (const std::string& op : ops) {
    if (core::FindOp(op)->max_inputs == 0) continue;  // leaves have nothing to differentiate
    const bool listed = std::find(kOpsWithoutVjpYet.begin(), kOpsWithoutVjpYet.end(), op) !=
                        kOpsWithoutVjpYet.end();
    if (listed) {
      EXPECT_EQ(detail::FindVjp(op), nullptr)
          << "'" << op << "' has a vjp rule now: take it out of kOpsWithoutVjpYet";
    } else {
      EXPECT_NE(detail::FindVjp(op), nullptr)
          << "core op '" << op << "' has no vjp rule: add one in client/vjp/ (or, with a "
          << "reason, list it in kOpsWithoutVjpYet)";
    }
  }
  for (const std::string& op : kOpsWithoutVjpYet) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << "'" << op << "' is no op";
  }
  EXPECT_EQ(detail::OpsWithoutVjp(), kOpsWithoutVjpYet);
}

TEST(AutodiffTest, Float16GradientsStayFloat16) {
  Array x = astype(from_host(std::vector<float>{1, 2}, {2}), float16);
  Array g = grad([](const Array& v) { return sum(v * v); })(x);
  EXPECT_EQ(g.dtype(), float16);
  std::vector<float> values;
  for (float16_t v : g.to_vector<float16_t>()) values.push_back(static_cast<float>(v));
  EXPECT_THAT(values, ElementsAre(2, 4));
}

TEST(AutodiffTest, GradOfOneArray) {
  auto df = grad([](const Array& x) { return sum(x * x * x); });
  Array g = df(from_host(std::vector<float>{1, -2, 3}, {3}));
  EXPECT_EQ(g.dtype(), float32);
  EXPECT_THAT(Values(g), ElementsAre(3, 12, 27));
}

TEST(AutodiffTest, ValueAndGradOfOneArray) {
  auto [value, g] = value_and_grad([](const Array& x) { return mean(x * x); })(
      from_host(std::vector<float>{1, 2, 3, 4}, {2, 2}));
  EXPECT_FLOAT_EQ(value.item<float>(), 7.5f);
  EXPECT_EQ(g.shape(), Shape({2, 2}));
  EXPECT_THAT(Values(g), ElementsAre(0.5, 1, 1.5, 2));
}

TEST(AutodiffTest, ArgnumsPickTheArguments) {
  auto f = [](const std::vector<Array>& p) { return sum(p[0] * p[1] + p[2]); };
  const std::vector<Array> args = {from_host(std::vector<float>{1, 2}, {2}),
                                   from_host(std::vector<float>{3, 4}, {2}),
                                   from_host(std::vector<float>{5, 6}, {2})};
  std::vector<Array> g = grad(f, std::vector<int>{2, 0})(args);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_THAT(Values(g[0]), ElementsAre(1, 1));
  EXPECT_THAT(Values(g[1]), ElementsAre(3, 4));
  EXPECT_THAT(Values(grad(f, 1)(args)), ElementsAre(1, 2));
  auto [loss, grads] = value_and_grad(f, 0)(args);
  EXPECT_FLOAT_EQ(loss.item<float>(), 3 + 8 + 11);
  EXPECT_THAT(Values(grads[0]), ElementsAre(3, 4));
}

TEST(AutodiffTest, BracedArgnums) {
  auto f = [](const std::vector<Array>& p) { return sum(p[0] * p[1]); };
  const std::vector<Array> args = {full({2}, 2.0), full({2}, 5.0)};
  auto [loss, grads] = value_and_grad(f, {0, 1})(args);
  EXPECT_FLOAT_EQ(loss.item<float>(), 20);
  EXPECT_THAT(Values(grad(f, {1, 0})(args)[0]), ElementsAre(2, 2));
}

TEST(AutodiffTest, GradOfGrad) {
  // d/dx sum(3 x^2) is 6x: the first gradient is not a scalar, so differentiate its sum.
  auto second = grad(
      [](const Array& x) { return sum(grad([](const Array& y) { return sum(y * y * y); })(x)); });
  EXPECT_THAT(Values(second(from_host(std::vector<float>{1, -2}, {2}))), ElementsAre(6, -12));
  auto scalar = grad(grad([](const Array& x) { return sin(x) * x; }));
  // (x sin x)'' = 2 cos x - x sin x
  EXPECT_NEAR(scalar(full({}, 0.5)).item<float>(), 2 * std::cos(0.5) - 0.5 * std::sin(0.5), 1e-6);
}

TEST(AutodiffTest, AuxiliaryOutputsRideAlong) {
  auto f = [](const std::vector<Array>& p) {
    return std::vector<Array>{sum(p[0] * 2.0f), max(p[0])};
  };
  auto [outputs, grads] = value_and_grad(f)({from_host(std::vector<float>{1, 5, 2}, {3})});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_FLOAT_EQ(outputs[0].item<float>(), 16);
  EXPECT_FLOAT_EQ(outputs[1].item<float>(), 5);  // not differentiated
  EXPECT_THAT(Values(grads[0]), ElementsAre(2, 2, 2));
}

TEST(AutodiffTest, UnusedArgumentsGetZerosOfTheirTypeAndShape) {
  auto f = [](const std::vector<Array>& p) { return sum(p[0]); };
  std::vector<Array> g =
      grad(f, std::vector<int>{0, 1})({ones({2}), from_host(std::vector<double>{1, 2, 3}, {3})});
  EXPECT_EQ(g[1].dtype(), float64);
  EXPECT_THAT(g[1].to_vector<double>(), ElementsAre(0, 0, 0));
}

TEST(AutodiffTest, TheSameArrayTwiceGetsTwoGradients) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  auto f = [](const std::vector<Array>& p) { return sum(p[0] * 3.0f + p[1] * p[1]); };
  std::vector<Array> g = grad(f, std::vector<int>{0, 1})({x, x});
  EXPECT_THAT(Values(g[0]), ElementsAre(3, 3));
  EXPECT_THAT(Values(g[1]), ElementsAre(2, 4));
  Array lazy = x * 1.0f;  // unevaluated: passed twice as well
  g = grad(f, std::vector<int>{0, 1})({lazy, lazy});
  EXPECT_THAT(Values(g[0]), ElementsAre(3, 3));
  EXPECT_THAT(Values(g[1]), ElementsAre(2, 4));
}

TEST(AutodiffTest, LazyArgumentsAreLeaves) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array y = x * x;  // the gradient with respect to y does not flow on into x
  auto f = [](const std::vector<Array>& p) { return sum(p[0] * 5.0f); };
  EXPECT_THAT(Values(grad(f)({y})), ElementsAre(5, 5));
}

TEST(AutodiffTest, NoGradientThroughComparisonsIndicesAndIntegers) {
  Array x = from_host(std::vector<float>{1, -2, 3}, {3});
  auto f = [](const Array& v) {
    Array through_int = astype(astype(v * 2.0f, int32), float32);
    Array index = astype(argmax(v), float32);
    Array mask = astype(v > 0, float32);
    return sum(v + through_int + index + mask);
  };
  EXPECT_THAT(Values(grad(f)(x)), ElementsAre(1, 1, 1));
  // An integer argument gets integer zeros.
  auto h = [](const std::vector<Array>& p) { return sum(p[0] * p[1]); };
  std::vector<Array> g = grad(h, std::vector<int>{0, 1})(
      {from_host(std::vector<int32_t>{2, 3}, {2}), from_host(std::vector<float>{1, 1}, {2})});
  EXPECT_EQ(g[0].dtype(), int32);
  EXPECT_THAT(g[0].to_vector<int32_t>(), ElementsAre(0, 0));
  EXPECT_THAT(Values(g[1]), ElementsAre(2, 3));
}

TEST(AutodiffTest, StopGradientIsAConstantToAutodiffAndTheSameValue) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  // d/dx [x * stop(x)] = stop(x) = x, not 2x; the other uses of x still carry gradient.
  auto f = [](const Array& v) { return sum(v * stop_gradient(v) + v); };
  EXPECT_THAT(Values(grad(f)(x)), ElementsAre(2, 3));
  EXPECT_THAT(Values(stop_gradient(x * 3.0f)), ElementsAre(3, 6));
  // Wholly stopped: zeros of the argument's type, as for an unused argument.
  auto g = [](const Array& v) { return sum(stop_gradient(v * v)); };
  EXPECT_THAT(Values(grad(g)(x)), ElementsAre(0, 0));
  // Second order: the stopped factor stays constant there too.
  auto h = [](const Array& v) {
    return sum(grad([](const Array& u) { return sum(u * u * stop_gradient(u)); })(v));
  };
  EXPECT_THAT(Values(grad(h)(x)), ElementsAre(2, 4));  // d/dx 2x * c = 2c
}

TEST(AutodiffTest, AstypeGradientConvertsBack) {
  Array x = from_host(std::vector<double>{1, 2}, {2});
  Array g = grad([](const Array& v) { return sum(astype(v, float32) * 4.0f); })(x);
  EXPECT_EQ(g.dtype(), float64);
  EXPECT_THAT(g.to_vector<double>(), ElementsAre(4, 4));
}

TEST(AutodiffTest, MaxSharesTiesAndProdHandlesZeros) {
  EXPECT_THAT(Values(grad([](const Array& v) { return max(v); })(
                  from_host(std::vector<float>{3, 1, 3, 2}, {4}))),
              ElementsAre(0.5, 0, 0.5, 0));
  auto dprod = grad([](const Array& v) { return prod(v); });
  EXPECT_THAT(Values(dprod(from_host(std::vector<float>{2, 0, 3}, {3}))), ElementsAre(0, 6, 0));
  EXPECT_THAT(Values(dprod(from_host(std::vector<float>{0, 2, 0}, {3}))), ElementsAre(0, 0, 0));
  EXPECT_THAT(Values(dprod(from_host(std::vector<float>{2, 4, 3}, {3}))), ElementsAre(12, 6, 8));
}

TEST(AutodiffTest, VjpWithSeveralOutputs) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  auto [outputs, cotangents] = vjp(
      [](const std::vector<Array>& p) {
        return std::vector<Array>{p[0] * p[1], sum(p[0])};
      },
      {x, from_host(std::vector<float>{3, 4}, {2})},
      {from_host(std::vector<float>{1, 10}, {2}), full({}, 100.0)});
  EXPECT_THAT(Values(outputs[0]), ElementsAre(3, 8));
  EXPECT_THAT(Values(cotangents[0]), ElementsAre(103, 140));
  EXPECT_THAT(Values(cotangents[1]), ElementsAre(1, 20));
  auto [y, dx] = vjp([](const Array& v) { return exp(v * 0.0f); }, x, ones({2}));
  EXPECT_THAT(Values(y), ElementsAre(1, 1));
  EXPECT_THAT(Values(dx), ElementsAre(0, 0));
}

TEST(AutodiffTest, BadCallsThrowNamingTheCall) {
  Array x = ones({2});
  try {
    grad([](const Array& v) { return v * 2.0f; })(x);
    FAIL() << "a non-scalar loss must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[value_and_grad] the function's first output must be a "
                                    "scalar"));
  }
  auto f = [](const std::vector<Array>& p) { return sum(p[0]); };
  EXPECT_THROW(grad(f, 3)({x}), Error);
  EXPECT_THROW(grad(f, std::vector<int>{})({x}), Error);
  try {
    vjp([](const std::vector<Array>& p) { return p; }, {x}, {ones({3})});
    FAIL() << "a cotangent of the wrong shape must be refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("[vjp] cotangent 0 has shape (3,) but output 0 has shape (2,)"));
  }
}

TEST(AutodiffTest, AnOpWithoutARuleThrowsNamingIt) {
  // A node of an op the registry does not know, built by hand.
  Array x = from_host(std::vector<float>{1, 2}, {2});
  auto f = [](const Array& v) {
    auto node = std::make_shared<detail::ArrayNode>(v.node()->type, v.device());
    node->op = "mystery_op";
    node->inputs.push_back(v.node());
    return sum(Array(node));
  };
  try {
    grad(f)(x);
    FAIL() << "mystery_op has no rule";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_THAT(e.what(), HasSubstr("[vjp] no gradient for op 'mystery_op'"));
  }
}

TEST(AutodiffTest, ScatterProdHasNoGradientAsInMlx) {
  const Array indices = from_host(std::vector<int32_t>{1}, {1});
  auto f = [&](const Array& v) { return sum(scatter_prod(v, {indices}, ones({1, 1}), {0})); };
  try {
    grad(f)(ones({3}));
    FAIL() << "scatter_prod has no rule";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_THAT(e.what(), HasSubstr("[vjp] no gradient for op 'scatter_prod'"));
  }
  // Only a differentiated input needs the rule.
  EXPECT_THAT(Values(grad([&](const Array& v) {
                return sum(scatter_prod(ones({3}), {indices}, ones({1, 1}), {0}) * v);
              })(ones({3}))),
              ElementsAre(1, 1, 1));
}

TEST(AutodiffTest, CumprodThroughZerosAndScatterAddDuplicates) {
  auto dcumprod = grad([](const Array& v) { return sum(cumprod(v)); });
  // d/dx of x0 + x0 x1 + x0 x1 x2 at (2, 0, 3): 1 + 0 + 0, x0 + x0 x2, 0.
  EXPECT_THAT(Values(dcumprod(from_host(std::vector<float>{2, 0, 3}, {3}))), ElementsAre(1, 8, 0));
  EXPECT_THAT(Values(dcumprod(from_host(std::vector<float>{0, 0, 3}, {3}))), ElementsAre(1, 0, 0));
  const Array twice = from_host(std::vector<int32_t>{0, 2, 0}, {3});
  auto updates_grad = grad([&](const Array& u) {
    Array y = scatter_add(zeros({3}), {twice}, reshape(u, {3, 1}), {0});
    return sum(y * from_host(std::vector<float>{10, 20, 30}, {3}));
  });
  EXPECT_THAT(Values(updates_grad(ones({3}))), ElementsAre(10, 30, 10));
}

TEST(AutodiffTest, TheBackwardGraphIsLazyAndEvaluatesInOneExecute) {
  Device device = local();
  Array w = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Array x = from_host(std::vector<float>{1, 0, 0, 1, 1, 1}, {3, 2});
  const int64_t before = device.stats().executes;
  auto [loss, grads] =
      value_and_grad([&](const std::vector<Array>& p) { return sum(tanh(matmul(x, p[0]))); })({w});
  Array updated = w - grads[0] * 0.1f;
  EXPECT_EQ(device.stats().executes, before);
  EXPECT_FALSE(updated.is_available());
  eval({loss, updated});
  EXPECT_EQ(device.stats().executes, before + 1);
  EXPECT_TRUE(loss.is_available());
  EXPECT_TRUE(updated.is_available());
}

}  // namespace
}  // namespace ferry
