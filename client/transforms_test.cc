// MLX's transforms besides vjp and grad: jvp, custom_vjp, checkpoint (client/autodiff.h),
// vmap and compile (client/vmap.h).

#include <string>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Values(const Array& a) { return Array(a).to_vector<float>(); }

bool Close(const Array& a, const Array& b, double rtol = 1e-5, double atol = 1e-6) {
  return allclose(a, b, rtol, atol).item<bool>();
}

// Catches fun's ferry::Error and checks its code and message.
template <typename Fn>
void ExpectError(Fn fun, ErrorCode code, const std::string& message) {
  try {
    fun();
    ADD_FAILURE() << "expected an error: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(message));
  }
}

TEST(JvpTest, TangentOfOneFunctionIsItsDerivativeTimesTheTangent) {
  Array x = from_host(std::vector<float>{0.5f, 1, 2}, {3});
  Array t = from_host(std::vector<float>{1, -2, 3}, {3});
  auto [y, dy] = jvp([](const Array& v) { return sin(v) * v; }, x, t);
  EXPECT_TRUE(Close(y, sin(x) * x));
  EXPECT_TRUE(Close(dy, (cos(x) * x + sin(x)) * t));
}

TEST(JvpTest, ProductRuleOfMatmul) {
  Array a = random::normal({3, 4}, float32, 0, 1, random::key(1));
  Array b = random::normal({4, 2}, float32, 0, 1, random::key(2));
  Array ta = random::normal({3, 4}, float32, 0, 1, random::key(3));
  Array tb = random::normal({4, 2}, float32, 0, 1, random::key(4));
  auto [outputs, tangents] =
      jvp([](const std::vector<Array>& p) { return std::vector<Array>{matmul(p[0], p[1])}; },
          {a, b}, {ta, tb});
  EXPECT_TRUE(Close(tangents[0], matmul(ta, b) + matmul(a, tb), 1e-5, 1e-5));
}

// J t against the Jacobian built row by row from vjp (one basis cotangent per output
// element), for a function of several ops, two inputs and two outputs.
TEST(JvpTest, AgreesWithTheJacobianThatVjpBuilds) {
  auto f = [](const std::vector<Array>& p) {
    Array s = softmax(p[0] * p[1], -1);
    return std::vector<Array>{reshape(transpose(s), {6}), sum(exp(p[0]) * log1p(square(p[1])))};
  };
  Array x = random::normal({2, 3}, float32, 0, 1, random::key(5));
  Array y = random::normal({2, 3}, float32, 0, 1, random::key(6));
  Array tx = random::normal({2, 3}, float32, 0, 1, random::key(7));
  Array ty = random::normal({2, 3}, float32, 0, 1, random::key(8));
  auto [outputs, tangents] = jvp(f, {x, y}, {tx, ty});
  std::vector<float> want;
  for (int64_t row = 0; row < 7; ++row) {  // 6 elements of the first output, 1 of the second
    std::vector<float> basis(6, 0.0f);
    if (row < 6) basis[row] = 1;
    Array c0 = from_host(basis, {6});
    Array c1 = full({}, row == 6 ? 1.0f : 0.0f);
    auto [unused, cotangents] = vjp(f, {x, y}, {c0, c1});
    want.push_back(sum(cotangents[0] * tx + cotangents[1] * ty).item<float>());
  }
  std::vector<float> got = Values(tangents[0]);
  got.push_back(tangents[1].item<float>());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

TEST(JvpTest, IntegerOutputsAndUnusedInputsGetZeros) {
  Array x = from_host(std::vector<float>{1.5f, -2}, {2});
  auto [outputs, tangents] = jvp(
      [](const std::vector<Array>& p) {
        return std::vector<Array>{astype(p[0], int32), p[0] * 2.0f};
      },
      {x, ones({3})}, {ones({2}), ones({3})});
  EXPECT_EQ(tangents[0].dtype(), int32);
  EXPECT_THAT(tangents[0].to_vector<int32_t>(), ElementsAre(0, 0));
  EXPECT_THAT(Values(tangents[1]), ElementsAre(2, 2));
}

TEST(JvpTest, BadCallsThrowNamingJvp) {
  auto identity = [](const std::vector<Array>& p) { return p; };
  ExpectError([&] { jvp(identity, {ones({2})}, {}); }, ErrorCode::kInvalidArgument,
              "[jvp] got 0 tangents for 1 primals");
  ExpectError([&] { jvp(identity, {ones({2})}, {ones({3})}); }, ErrorCode::kInvalidArgument,
              "[jvp] tangent 0 has shape (3,) but primal 0 has shape (2,)");
  Array z = astype(ones({2}), complex64);
  ExpectError([&] { jvp(identity, {z}, {z}); }, ErrorCode::kUnimplemented,
              "[jvp] complex primals and outputs are not supported yet");
}

// A straight-through estimator: round's own gradient is zero, the custom one passes the
// cotangent through.
TEST(CustomVjpTest, ReplacesTheGradientOfTheFunctionItWraps) {
  auto rounded =
      custom_vjp([](const std::vector<Array>& p) { return std::vector<Array>{round(p[0])}; },
                 [](const std::vector<Array>&, const std::vector<Array>& cotangents,
                    const std::vector<Array>&) { return cotangents; });
  Array x = from_host(std::vector<float>{0.4f, 1.6f, -2.2f}, {3});
  auto [value, grads] =
      value_and_grad([&](const std::vector<Array>& p) { return sum(rounded(p)[0] * 3.0f); })({x});
  EXPECT_THAT(Values(rounded({x})[0]), ElementsAre(0, 2, -2));
  EXPECT_EQ(value.item<float>(), 0.0f);
  EXPECT_THAT(Values(grads[0]), ElementsAre(3, 3, 3));
}

// Two outputs and two primals; the rule is twice the true gradient, so its answer (not the
// ops') is what comes back, each output's cotangent taken in turn.
TEST(CustomVjpTest, SeveralOutputsAddTheirContributions) {
  auto f = custom_vjp(
      [](const std::vector<Array>& p) {
        return std::vector<Array>{p[0] * p[1], p[0] + p[1]};
      },
      [](const std::vector<Array>& p, const std::vector<Array>& c, const std::vector<Array>& out) {
        EXPECT_EQ(out.size(), 2u);
        return std::vector<Array>{2.0f * (c[0] * p[1] + c[1]), 2.0f * (c[0] * p[0] + c[1])};
      });
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array y = from_host(std::vector<float>{3, 5}, {2});
  auto [outputs, cotangents] = vjp(f, {x, y}, {ones({2}), full({2}, 10.0f)});
  EXPECT_THAT(Values(outputs[0]), ElementsAre(3, 10));
  EXPECT_THAT(Values(cotangents[0]), ElementsAre(26, 30));  // 2 (y + 10)
  EXPECT_THAT(Values(cotangents[1]), ElementsAre(22, 24));  // 2 (x + 10)
}

TEST(CustomVjpTest, ARuleAnsweringWronglyThrowsNamingCustomVjp) {
  auto wrong_count = custom_vjp([](const std::vector<Array>& p) { return p; },
                                [](const std::vector<Array>&, const std::vector<Array>&,
                                   const std::vector<Array>&) { return std::vector<Array>{}; });
  ExpectError(
      [&] {
        grad([&](const std::vector<Array>& p) { return sum(wrong_count(p)[0]); })({ones({2})});
      },
      ErrorCode::kInvalidArgument,
      "[custom_vjp] the vjp function returned 0 cotangents for 1 primals");
  auto wrong_shape =
      custom_vjp([](const std::vector<Array>& p) { return p; },
                 [](const std::vector<Array>&, const std::vector<Array>&,
                    const std::vector<Array>&) { return std::vector<Array>{ones({3})}; });
  ExpectError(
      [&] {
        grad([&](const std::vector<Array>& p) { return sum(wrong_shape(p)[0]); })({ones({2})});
      },
      ErrorCode::kInvalidArgument,
      "[custom_vjp] the vjp function gave primal 0 a cotangent of shape (3,) for a "
      "primal of shape (2,)");
}

// checkpoint: the same values and gradients, with fun run again to build the backward pass.
TEST(CheckpointTest, RecomputesTheFunctionForTheBackwardPass) {
  int calls = 0;
  auto layer = [&calls](const std::vector<Array>& p) {
    ++calls;
    return std::vector<Array>{tanh(matmul(p[0], p[1]))};
  };
  Array x = random::normal({4, 3}, float32, 0, 1, random::key(10));
  Array w = random::normal({3, 5}, float32, 0, 1, random::key(11));
  auto loss = [](const std::function<std::vector<Array>(const std::vector<Array>&)>& f) {
    return [f](const std::vector<Array>& p) { return sum(square(f(p)[0])); };
  };
  auto [plain_value, plain_grads] = value_and_grad(loss(layer), {0, 1})({x, w});
  EXPECT_EQ(calls, 1);
  auto [value, grads] = value_and_grad(loss(checkpoint(layer)), {0, 1})({x, w});
  EXPECT_EQ(calls, 3);  // forward, and again for the backward pass
  EXPECT_TRUE(Close(value, plain_value));
  EXPECT_TRUE(Close(grads[0], plain_grads[0]));
  EXPECT_TRUE(Close(grads[1], plain_grads[1]));
}

// depends: the inputs' values, and every dependency computed first (so one that fails
// fails the eval).
TEST(DependsTest, GivesTheInputsAndComputesTheDependencies) {
  Array x = from_host(std::vector<float>{1, 2, 3}, {3});
  Array fine = exp(x);
  std::vector<Array> out = depends({x * 2.0f, x}, {fine, sum(x)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(Values(out[0]), ElementsAre(2, 4, 6));
  EXPECT_THAT(Values(out[1]), ElementsAre(1, 2, 3));
  Array failing = take(x, from_host(std::vector<int32_t>{7}, {1}), 0);  // out of range
  EXPECT_THROW(Values(depends({x}, {failing})[0]), Error);
  // Gradients reach the inputs, none the dependencies.
  auto grads =
      grad([](const std::vector<Array>& p) { return sum(depends({p[0] * p[0]}, {p[1]})[0]); },
           {0, 1})({x, ones({2})});
  EXPECT_THAT(Values(grads[0]), ElementsAre(2, 4, 6));
  EXPECT_THAT(Values(grads[1]), ElementsAre(0, 0));
}

TEST(VmapTest, MapsOverTheFirstAxisByDefault) {
  Array x = reshape(arange(6.0), {2, 3});
  Array y = vmap([](const Array& row) { return sum(row * row); })(x);
  EXPECT_THAT(Values(y), ElementsAre(5, 50));
}

TEST(VmapTest, UnmappedInputsAndOtherAxes) {
  Array a = reshape(arange(6.0), {2, 3});
  Array b = from_host(std::vector<float>{1, 10}, {2});
  // Columns of a (axis 1) against b whole: a^T b.
  Array y = vmap([](const Array& column, const Array& v) { return sum(column * v); }, 1, -1)(a, b);
  EXPECT_THAT(Values(y), ElementsAre(30, 41, 52));
  // Each row scaled by its own entry of b, results stacked as columns.
  Array z = vmap([](const std::vector<Array>& p) { return std::vector<Array>{p[0] * p[1]}; },
                 {0, 0}, {1})({a, b})[0];
  EXPECT_EQ(z.shape(), (Shape{3, 2}));
  EXPECT_THAT(Values(z), ElementsAre(0, 30, 1, 40, 2, 50));
}

// One call of fun, traced on the first example and rebuilt for the batch, when every op has
// a batching rule; each example's result as fun gives it alone.
TEST(VmapTest, OpsWithRulesAreBatchedFromOneTrace) {
  int calls = 0;
  Array w = random::normal({4, 3}, float32, 0, 1, random::key(20));
  auto f = [&](const std::vector<Array>& p) {
    ++calls;
    Array h = softmax(matmul(p[0], w), -1);                              // (2, 3)
    Array t = transpose(concatenate({h, slice(h, {0, 0}, {2, 1})}, 1));  // (4, 2)
    Array r = reshape(cumsum(t, 0), {8}) * p[1];                         // p[1] unmapped scalar
    Array mask = greater(r, 0.1f);
    Array picked = where(mask, astype(r, float32), broadcast_to(sum(h), {8}));
    return std::vector<Array>{depends({picked}, {max(h, 0)})[0], sum(square(h), {0})};
  };
  Array xs = random::normal({5, 2, 4}, float32, 0, 1, random::key(21));
  Array scale = full({}, 1.5f);
  std::vector<Array> batched = vmap(f, {0, -1}, {0, 1})({xs, scale});
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(batched[0].shape(), (Shape{5, 8}));
  ASSERT_EQ(batched[1].shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < 5; ++i) {
    std::vector<Array> one = f({take(xs, i, 0), scale});
    EXPECT_TRUE(Close(take(batched[0], i, 0), one[0])) << i;
    EXPECT_TRUE(Close(take(batched[1], i, 1), one[1])) << i;
  }
}

// Lookups of batched indices in an unmapped table (an embedding): one trace.
TEST(VmapTest, IndicesIntoAnUnmappedTableAreBatched) {
  int calls = 0;
  Array table = reshape(arange(12.0), {6, 2});
  auto embed = [&](const Array& ids) {
    ++calls;
    return sum(take(table, ids, 0), 0);
  };
  Array ids = from_host(std::vector<int32_t>{0, 1, 5, 5, 2, 3}, {3, 2});
  Array y = vmap(embed)(ids);
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(Values(y), ElementsAre(2, 4, 20, 22, 10, 12));
}

// A quantized layer on a batch of inputs: the batch joins x's rows, one trace.
TEST(VmapTest, QuantizedLayerBatchesItsInput) {
  int calls = 0;
  auto [wq, scales, biases] = quantize(random::normal({8, 64}, float32, 0, 1, random::key(22)));
  auto layer = [&calls, &wq = wq, &scales = scales, &biases = biases](const Array& x) {
    ++calls;
    return quantized_matmul(x, wq, scales, biases);
  };
  Array xs = random::normal({6, 3, 64}, float32, 0, 1, random::key(23));
  Array y = vmap(layer, 0, 0)(xs);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(Close(y, layer(xs)));
}

// A mixture of experts' products on a batch of inputs (the experts picked alike): the batch
// joins the rows of x's matrices, one trace.
TEST(VmapTest, GatherProductsBatchTheirInput) {
  int calls = 0;
  const Array w = random::normal({4, 64, 8}, float32, 0, 1, random::key(24));
  auto [wq, scales, biases] = quantize(swapaxes(w, -1, -2));
  const Array experts = from_host(std::vector<int32_t>{3, 0, 0, 2}, {2, 2});
  auto layer = [&, &wq = wq, &scales = scales, &biases = biases](const Array& x) {
    ++calls;
    return gather_mm(x, w, std::nullopt, experts) +
           gather_qmm(x, wq, scales, biases, std::nullopt, experts);
  };
  Array xs = random::normal({5, 2, 1, 3, 64}, float32, 0, 1, random::key(25));
  Array y = vmap(layer, 0, 0)(xs);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(y.shape(), (Shape{5, 2, 2, 3, 8}));
  for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(Close(take(y, i, 0), layer(take(xs, i, 0)))) << i;
}

// An op without a batching rule (view) makes vmap call fun once per example.
TEST(VmapTest, AnOpWithoutARuleUnrolls) {
  int calls = 0;
  Array xs = reshape(arange(6.0), {3, 2});
  Array y = vmap([&](const Array& row) {
    ++calls;
    return astype(view(row, int32), float32) * 0.0f + row;
  })(xs);
  EXPECT_EQ(calls, 3);
  EXPECT_THAT(Values(y), ElementsAre(0, 1, 2, 3, 4, 5));
}

// Per-example gradients: grad inside vmap, one gradient per row, from one trace.
TEST(VmapTest, PerExampleGradients) {
  int calls = 0;
  Array w = from_host(std::vector<float>{1, 2}, {2});
  Array xs = from_host(std::vector<float>{1, 0, 0, 3, 2, 2}, {3, 2});
  auto per_example = vmap(
      [&](const std::vector<Array>& p) {
        ++calls;
        auto g = grad([&](const std::vector<Array>& q) { return square(sum(q[0] * p[0])); });
        return std::vector<Array>{g({w})};
      },
      {0});
  Array grads = per_example({xs})[0];
  // d/dw (w . x)^2 = 2 (w . x) x
  EXPECT_THAT(Values(grads), ElementsAre(2, 0, 0, 36, 24, 24));
  EXPECT_EQ(calls, 1);
}

TEST(VmapTest, BadAxesThrowNamingVmap) {
  auto f = [](const std::vector<Array>& p) { return p; };
  ExpectError(
      [&] {
        vmap(f, {0})({ones({2}), ones({2})});
      },
      ErrorCode::kInvalidArgument, "[vmap] got 1 in_axes for 2 inputs");
  ExpectError(
      [&] {
        vmap(f, {0, 0})({ones({2}), ones({3})});
      },
      ErrorCode::kInvalidArgument,
      "[vmap] input 1 has 3 entries on its mapped axis 0 where the inputs before it "
      "have 2");
  ExpectError([&] { vmap(f, {-1})({ones({2})}); }, ErrorCode::kInvalidArgument,
              "[vmap] no input is mapped");
  ExpectError([&] { vmap(f, {1})({ones({2})}); }, ErrorCode::kInvalidArgument,
              "[vmap] in_axes[0] is 1 but input 0 has 1 dimensions");
  ExpectError(
      [&] {
        vmap(f, {0}, {2})({ones({2, 3})});
      },
      ErrorCode::kInvalidArgument,
      "[vmap] out_axes[0] is 2 but output 0 has 1 dimensions before mapping");
  ExpectError(
      [&] {
        vmap(f)({ones({0, 3})});
      },
      ErrorCode::kInvalidArgument, "[vmap] the mapped axis is empty");
}

TEST(CompileTest, IsTheFunctionItself) {
  auto f = [](const Array& x) { return exp(x) * 2.0f; };
  Array x = from_host(std::vector<float>{0, 1}, {2});
  EXPECT_TRUE(Close(compile(f)(x), f(x)));
}

}  // namespace
}  // namespace ferry
