// Every vector-Jacobian product rule against central finite differences, in float64 on the
// local device, on random inputs (with broadcasting where the op broadcasts).
//
// For f and a random cotangent c, the vjp gives the gradient of L(x) = sum(f(x) * c); each
// element of it is compared with (L(x + h e_j) - L(x - h e_j)) / 2h, h = 1e-5, within
// 1e-6 * (1 + |finite difference|). Kinks (abs, relu, max, maximum, remainder, sort order)
// are never within h of the random inputs.

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "core/shape.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using Fn = std::function<Array(const std::vector<Array>&)>;

struct Input {
  Shape shape;
  double low = -2;
  double high = 2;
  std::vector<double> values = {};  // these instead of random ones (zeros, ties apart)
};

int64_t Count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<double> Uniform(std::mt19937& rng, int64_t n, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> values(n);
  for (double& v : values) v = dist(rng);
  return values;
}

// sum(f(x) * c), computed on the host from f's values.
double Objective(const Fn& f, const std::vector<Input>& inputs,
                 const std::vector<std::vector<double>>& values, const std::vector<double>& c) {
  std::vector<Array> arrays;
  for (size_t i = 0; i < inputs.size(); ++i)
    arrays.push_back(from_host(values[i], inputs[i].shape));
  std::vector<double> y = f(arrays).to_vector<double>();
  double total = 0;
  for (size_t k = 0; k < y.size(); ++k) total += y[k] * c[k];
  return total;
}

void ExpectVjpMatchesFiniteDifferences(const std::string& name, const Fn& f,
                                       const std::vector<Input>& inputs, uint32_t seed = 7) {
  SCOPED_TRACE(name);
  std::mt19937 rng(seed);
  std::vector<std::vector<double>> values;
  std::vector<Array> primals;
  for (const Input& input : inputs) {
    values.push_back(input.values.empty() ? Uniform(rng, Count(input.shape), input.low, input.high)
                                          : input.values);
    primals.push_back(from_host(values.back(), input.shape));
  }
  const Array probe = f(primals);
  ASSERT_EQ(probe.dtype(), float64);
  const std::vector<double> c = Uniform(rng, probe.size(), -1, 1);
  auto [outputs, grads] = vjp([&](const std::vector<Array>& x) { return std::vector<Array>{f(x)}; },
                              primals, {from_host(c, probe.shape())});
  eval(grads);

  constexpr double h = 1e-5;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(grads[i].shape(), inputs[i].shape) << "input " << i;
    ASSERT_EQ(grads[i].dtype(), float64) << "input " << i;
    const std::vector<double> analytic = grads[i].to_vector<double>();
    for (size_t j = 0; j < values[i].size(); ++j) {
      std::vector<std::vector<double>> plus = values, minus = values;
      plus[i][j] += h;
      minus[i][j] -= h;
      const double numeric =
          (Objective(f, inputs, plus, c) - Objective(f, inputs, minus, c)) / (2 * h);
      EXPECT_NEAR(analytic[j], numeric, 1e-6 * (1 + std::abs(numeric)))
          << "input " << i << ", element " << j;
    }
  }
}

TEST(VjpRulesTest, Unary) {
  const std::vector<Input> any = {{{2, 3}}};
  const std::vector<Input> positive = {{{2, 3}, 0.2, 3}};
  auto unary = [](Array (*op)(const Array&)) {
    return [op](const std::vector<Array>& x) { return op(x[0]); };
  };
  ExpectVjpMatchesFiniteDifferences("neg", unary(negative), any);
  ExpectVjpMatchesFiniteDifferences("abs", unary(abs), any);
  ExpectVjpMatchesFiniteDifferences("exp", unary(exp), any);
  ExpectVjpMatchesFiniteDifferences("log", unary(log), positive);
  ExpectVjpMatchesFiniteDifferences("sqrt", unary(sqrt), positive);
  ExpectVjpMatchesFiniteDifferences("rsqrt", unary(rsqrt), positive);
  ExpectVjpMatchesFiniteDifferences("sin", unary(sin), any);
  ExpectVjpMatchesFiniteDifferences("cos", unary(cos), any);
  ExpectVjpMatchesFiniteDifferences("tanh", unary(tanh), any);
  ExpectVjpMatchesFiniteDifferences("sigmoid", unary(sigmoid), any);
  ExpectVjpMatchesFiniteDifferences("relu", unary(relu), any);
  ExpectVjpMatchesFiniteDifferences("gelu", unary(gelu), any);
  ExpectVjpMatchesFiniteDifferences("erf", unary(erf), any);
}

TEST(VjpRulesTest, BinaryWithBroadcasting) {
  ExpectVjpMatchesFiniteDifferences("add", [](const std::vector<Array>& x) { return x[0] + x[1]; },
                                    {{{2, 3}}, {{3}}});
  ExpectVjpMatchesFiniteDifferences("sub", [](const std::vector<Array>& x) { return x[0] - x[1]; },
                                    {{{2, 1, 3}}, {{4, 1}}});
  ExpectVjpMatchesFiniteDifferences("mul", [](const std::vector<Array>& x) { return x[0] * x[1]; },
                                    {{{3, 1}}, {{1, 4}}});
  ExpectVjpMatchesFiniteDifferences("div", [](const std::vector<Array>& x) { return x[0] / x[1]; },
                                    {{{2, 3}}, {{3}, 0.5, 2}});
  ExpectVjpMatchesFiniteDifferences("pow",
                                    [](const std::vector<Array>& x) { return power(x[0], x[1]); },
                                    {{{2, 3}, 0.5, 2}, {{3}, -1, 2}});
  ExpectVjpMatchesFiniteDifferences("maximum",
                                    [](const std::vector<Array>& x) { return maximum(x[0], x[1]); },
                                    {{{2, 3}}, {{3}}});
  ExpectVjpMatchesFiniteDifferences("minimum",
                                    [](const std::vector<Array>& x) { return minimum(x[0], x[1]); },
                                    {{{2, 3}}, {{2, 1}}});
  ExpectVjpMatchesFiniteDifferences(
      "numbers", [](const std::vector<Array>& x) { return 2.0 - x[0] * 3.0 / (x[0] + 4.0); },
      {{{4}}});
  ExpectVjpMatchesFiniteDifferences(
      "same array twice", [](const std::vector<Array>& x) { return x[0] * x[0] + x[0]; }, {{{3}}});
}

TEST(VjpRulesTest, Where) {
  const Array cond = from_host(std::vector<bool>{true, false, true, false, false, true}, {2, 3});
  ExpectVjpMatchesFiniteDifferences(
      "where", [&](const std::vector<Array>& x) { return where(cond, x[0], x[1]); },
      {{{3}}, {{2, 3}}});
  ExpectVjpMatchesFiniteDifferences(
      "where on the input", [](const std::vector<Array>& x) { return where(x[0] > 0, x[0], 0.5); },
      {{{2, 3}}});
}

TEST(VjpRulesTest, Reductions) {
  const std::vector<Input> cube = {{{2, 3, 4}}};
  ExpectVjpMatchesFiniteDifferences(
      "sum axis", [](const std::vector<Array>& x) { return sum(x[0], 1); }, cube);
  ExpectVjpMatchesFiniteDifferences(
      "sum keepdims",
      [](const std::vector<Array>& x) {
        return sum(x[0], {0, 2}, true);
      },
      cube);
  ExpectVjpMatchesFiniteDifferences(
      "sum all", [](const std::vector<Array>& x) { return sum(x[0]); }, cube);
  ExpectVjpMatchesFiniteDifferences(
      "mean axes",
      [](const std::vector<Array>& x) {
        return mean(x[0], {0, 2});
      },
      cube);
  ExpectVjpMatchesFiniteDifferences(
      "mean all keepdims", [](const std::vector<Array>& x) { return mean(x[0], true); }, cube);
  ExpectVjpMatchesFiniteDifferences("prod axis",
                                    [](const std::vector<Array>& x) { return prod(x[0], -1); },
                                    {{{3, 4}, 0.5, 1.5}});
  ExpectVjpMatchesFiniteDifferences(
      "max axis", [](const std::vector<Array>& x) { return max(x[0], 0); }, cube);
  ExpectVjpMatchesFiniteDifferences(
      "max keepdims",
      [](const std::vector<Array>& x) {
        return max(x[0], {1, 2}, true);
      },
      cube);
  ExpectVjpMatchesFiniteDifferences(
      "min all", [](const std::vector<Array>& x) { return min(x[0]); }, cube);
}

TEST(VjpRulesTest, SoftmaxAndLogsumexp) {
  const std::vector<Input> logits = {{{2, 5}}};
  ExpectVjpMatchesFiniteDifferences(
      "softmax last axis", [](const std::vector<Array>& x) { return softmax(x[0], -1); }, logits);
  ExpectVjpMatchesFiniteDifferences(
      "softmax all", [](const std::vector<Array>& x) { return softmax(x[0]); }, logits);
  ExpectVjpMatchesFiniteDifferences(
      "logsumexp axis", [](const std::vector<Array>& x) { return logsumexp(x[0], 1); }, logits);
  ExpectVjpMatchesFiniteDifferences(
      "logsumexp keepdims",
      [](const std::vector<Array>& x) {
        return logsumexp(x[0], {0, 1}, true);
      },
      logits);
}

TEST(VjpRulesTest, Matmul) {
  auto mm = [](const std::vector<Array>& x) { return matmul(x[0], x[1]); };
  ExpectVjpMatchesFiniteDifferences("matrices", mm, {{{3, 4}}, {{4, 2}}});
  ExpectVjpMatchesFiniteDifferences("batched", mm, {{{2, 3, 4}}, {{2, 4, 5}}});
  ExpectVjpMatchesFiniteDifferences("batch broadcast", mm, {{{2, 1, 3, 4}}, {{3, 4, 2}}});
  ExpectVjpMatchesFiniteDifferences("matrix with batch", mm, {{{3, 4}}, {{2, 4, 2}}});
  ExpectVjpMatchesFiniteDifferences("vector @ matrix", mm, {{{4}}, {{4, 3}}});
  ExpectVjpMatchesFiniteDifferences("batch @ vector", mm, {{{2, 3, 4}}, {{4}}});
  ExpectVjpMatchesFiniteDifferences("vector @ batch", mm, {{{4}}, {{2, 4, 3}}});
  ExpectVjpMatchesFiniteDifferences("dot", mm, {{{4}}, {{4}}});
}

TEST(VjpRulesTest, Layout) {
  ExpectVjpMatchesFiniteDifferences("reshape",
                                    [](const std::vector<Array>& x) {
                                      return reshape(x[0], {3, -1});
                                    },
                                    {{{2, 6}}});
  ExpectVjpMatchesFiniteDifferences("transpose",
                                    [](const std::vector<Array>& x) {
                                      return transpose(x[0], {2, 0, 1});
                                    },
                                    {{{2, 3, 4}}});
  ExpectVjpMatchesFiniteDifferences("broadcast_to",
                                    [](const std::vector<Array>& x) {
                                      return broadcast_to(x[0], {2, 3, 4});
                                    },
                                    {{{3, 1}}});
  ExpectVjpMatchesFiniteDifferences("slice",
                                    [](const std::vector<Array>& x) {
                                      return slice(x[0], {1, 0}, {4, 6});
                                    },
                                    {{{5, 6}}});
  ExpectVjpMatchesFiniteDifferences("slice strided",
                                    [](const std::vector<Array>& x) {
                                      return slice(x[0], {1, 0}, {5, 6}, {3, 2});
                                    },
                                    {{{5, 6}}});
  ExpectVjpMatchesFiniteDifferences(
      "slice reversed", [](const std::vector<Array>& x) { return slice(x[0], {5}, {0}, {-2}); },
      {{{7}}});
  ExpectVjpMatchesFiniteDifferences("slice reversed 2-D",
                                    [](const std::vector<Array>& x) {
                                      return slice(x[0], {-1, 4}, {-7, 0}, {-1, -3});
                                    },
                                    {{{4, 6}}});
  ExpectVjpMatchesFiniteDifferences(
      "slice empty", [](const std::vector<Array>& x) { return sum(slice(x[0], {2}, {2})) + 1.0; },
      {{{3}}});
  ExpectVjpMatchesFiniteDifferences("concatenate",
                                    [](const std::vector<Array>& x) {
                                      return concatenate({x[0], x[1], x[0]}, 1);
                                    },
                                    {{{2, 2}}, {{2, 3}}});
}

TEST(VjpRulesTest, Compositions) {
  // Cross-entropy of a one-layer softmax classifier.
  const Array labels = from_host(std::vector<double>{1, 0, 0, 0, 0, 1, 0, 1, 0}, {3, 3});
  ExpectVjpMatchesFiniteDifferences("cross entropy",
                                    [&](const std::vector<Array>& p) {
                                      Array logits = matmul(p[0], p[1]) + p[2];
                                      return mean(logsumexp(logits, 1) - sum(logits * labels, 1));
                                    },
                                    {{{3, 4}}, {{4, 3}}, {{3}}});
  ExpectVjpMatchesFiniteDifferences(
      "two-layer tanh net",
      [](const std::vector<Array>& p) {
        return sum(tanh(matmul(relu(matmul(p[0], p[1])), p[2])) * sigmoid(p[0]));
      },
      {{{2, 3}}, {{3, 4}}, {{4, 3}}});
}

// ---- vjp2: the ops of part A and B ----

TEST(VjpRulesTest, UnaryPartA) {
  auto unary = [](Array (*op)(const Array&)) {
    return [op](const std::vector<Array>& x) { return op(x[0]); };
  };
  ExpectVjpMatchesFiniteDifferences("square", unary(square), {{{2, 3}}});
  ExpectVjpMatchesFiniteDifferences("log1p", unary(log1p), {{{2, 3}, -0.5, 3}});
  ExpectVjpMatchesFiniteDifferences("expm1", unary(expm1), {{{2, 3}}});
  ExpectVjpMatchesFiniteDifferences("log2", unary(log2), {{{2, 3}, 0.2, 3}});
  ExpectVjpMatchesFiniteDifferences("log10", unary(log10), {{{2, 3}, 0.2, 3}});
}

TEST(VjpRulesTest, BinaryPartAWithBroadcasting) {
  ExpectVjpMatchesFiniteDifferences("arctan2",
                                    [](const std::vector<Array>& x) { return arctan2(x[0], x[1]); },
                                    {{{2, 3}}, {{3}}});
  ExpectVjpMatchesFiniteDifferences(
      "logaddexp", [](const std::vector<Array>& x) { return logaddexp(x[0], x[1]); },
      {{{2, 1, 3}}, {{4, 1}}});
  ExpectVjpMatchesFiniteDifferences(
      "remainder", [](const std::vector<Array>& x) { return remainder(x[0], x[1]); },
      {{{2, 3}, -4, 4}, {{3}, 0.5, 2}});
  ExpectVjpMatchesFiniteDifferences(
      "remainder by negatives", [](const std::vector<Array>& x) { return remainder(x[0], x[1]); },
      {{{3, 1}, -4, 4}, {{1, 2}, -2, -0.5}});
}

TEST(VjpRulesTest, Scans) {
  const std::vector<Input> grid = {{{3, 4}}};
  ExpectVjpMatchesFiniteDifferences(
      "cumsum", [](const std::vector<Array>& x) { return cumsum(x[0], 1); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "cumsum reverse exclusive",
      [](const std::vector<Array>& x) { return cumsum(x[0], -2, true, false); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "cumsum flattened", [](const std::vector<Array>& x) { return cumsum(x[0]); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "cumprod", [](const std::vector<Array>& x) { return cumprod(x[0], -1); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "cumprod reverse", [](const std::vector<Array>& x) { return cumprod(x[0], 0, true); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "cumprod exclusive",
      [](const std::vector<Array>& x) { return cumprod(x[0], 1, false, false); }, grid);
  // Zeros: one per row, two in a row, first and last; the product is smooth through them.
  const std::vector<Input> with_zeros = {
      {{4, 4}, 0, 0, {1.5, 0, -2, 0.5, 0, 0, 3, 1.2, 0.7, -1.1, 1.3, 0, 2, 0.5, -0.8, 1.4}}};
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      ExpectVjpMatchesFiniteDifferences(
          "cumprod with zeros",
          [=](const std::vector<Array>& x) { return cumprod(x[0], 1, reverse, inclusive); },
          with_zeros);
      // An exclusive scan starts from the identity, -inf or inf, which gets no gradient.
      auto finite = [](const Array& y) { return where(isinf(y), 0.0, y); };
      ExpectVjpMatchesFiniteDifferences(
          "cummax",
          [=](const std::vector<Array>& x) { return finite(cummax(x[0], 1, reverse, inclusive)); },
          grid);
      ExpectVjpMatchesFiniteDifferences(
          "cummin",
          [=](const std::vector<Array>& x) { return finite(cummin(x[0], -2, reverse, inclusive)); },
          grid);
    }
  }
  ExpectVjpMatchesFiniteDifferences(
      "cummax flattened", [](const std::vector<Array>& x) { return cummax(x[0]); }, grid);
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      // An exclusive scan's first result is -inf, which gets no gradient.
      ExpectVjpMatchesFiniteDifferences(
          "logcumsumexp",
          [=](const std::vector<Array>& x) {
            Array y = logcumsumexp(x[0], 1, reverse, inclusive);
            return where(isinf(y), 0.0, y);
          },
          grid);
    }
  }
  // Large values: exp(x) alone would overflow float32.
  ExpectVjpMatchesFiniteDifferences(
      "logcumsumexp of large values",
      [](const std::vector<Array>& x) { return logcumsumexp(x[0] * 100.0 + 200.0, 0); }, grid);
}

TEST(VjpRulesTest, QuantizedMatmul) {
  // The packed words are constants; x, the scales and the biases vary.
  auto [wq, scales, biases] =
      quantize(random::normal({4, 64}, float32, 0, 1, random::key(8)), 32, 3);
  for (bool transpose : {true, false}) {
    ExpectVjpMatchesFiniteDifferences(
        transpose ? "quantized_matmul" : "quantized_matmul not transposed",
        [wq = wq, transpose](const std::vector<Array>& x) {
          return quantized_matmul(x[0], wq, x[1], x[2], transpose, 32, 3);
        },
        {{{3, transpose ? 64 : 4}}, {{4, 2}, 0.1, 0.5}, {{4, 2}}});
  }
}

TEST(VjpRulesTest, GatherMm) {
  // Repeated and negative indices (a matrix picked twice collects both products), a batch
  // of a's matrices, and sorted single rows on one expert.
  const Array lhs = from_host(std::vector<int32_t>{0, 3, 3, 1, -1, 2}, {3, 2});
  const Array rhs = from_host(std::vector<int32_t>{2, 0, 2, -3, 1, 1}, {3, 2});
  ExpectVjpMatchesFiniteDifferences(
      "gather_mm", [=](const std::vector<Array>& x) { return gather_mm(x[0], x[1], lhs, rhs); },
      {{{2, 2, 3, 4}}, {{3, 4, 5}}});
  const Array sorted = from_host(std::vector<int32_t>{0, 0, 0, 2, 2}, {5});
  ExpectVjpMatchesFiniteDifferences("gather_mm of sorted rows",
                                    [=](const std::vector<Array>& x) {
                                      return gather_mm(x[0], swapaxes(x[1], -1, -2), std::nullopt,
                                                       sorted);
                                    },
                                    {{{5, 1, 4}}, {{3, 6, 4}}});
}

TEST(VjpRulesTest, GatherQmm) {
  // Three experts' packed words are constants; x (a matrix picked twice), the scales and the
  // biases vary.
  auto [wq, scales, biases] =
      quantize(random::normal({3, 4, 64}, float32, 0, 1, random::key(9)), 32, 4);
  const Array lhs = from_host(std::vector<int32_t>{0, 1, 1, 2}, {4});
  const Array rhs = from_host(std::vector<int32_t>{2, 0, 2, -1}, {4});
  for (bool transpose : {true, false}) {
    ExpectVjpMatchesFiniteDifferences(
        transpose ? "gather_qmm" : "gather_qmm not transposed",
        [wq = wq, transpose, lhs, rhs](const std::vector<Array>& x) {
          return gather_qmm(x[0], wq, x[1], x[2], lhs, rhs, transpose, 32, 4);
        },
        {{{3, 2, transpose ? 64 : 4}}, {{3, 4, 2}, 0.1, 0.5}, {{3, 4, 2}}});
  }
}

// Matrices kept well conditioned (a shifted diagonal) so differences of h stay linear.
Array Shifted(const Array& a, double shift) { return a + eye(a.shape().back(), float64) * shift; }

// Each column (the last axis) times the sign of its first element: the vectors of eigh, svd
// and qr up to sign, so the check does not depend on LAPACK's choice staying put.
Array SignFixed(const Array& vectors) {
  Shape stop = vectors.shape();
  stop[stop.size() - 2] = 1;
  return vectors * stop_gradient(sign(slice(vectors, Shape(vectors.ndim(), 0), stop)));
}

TEST(VjpRulesTest, Solves) {
  ExpectVjpMatchesFiniteDifferences(
      "solve", [](const std::vector<Array>& x) { return linalg::solve(Shifted(x[0], 4), x[1]); },
      {{{2, 3, 3}}, {{2, 3, 2}}});
  ExpectVjpMatchesFiniteDifferences(
      "solve with a vector and a broadcast batch",
      [](const std::vector<Array>& x) { return linalg::solve(Shifted(x[0], 4), x[1]); },
      {{{2, 3, 3}}, {{3}}});
  ExpectVjpMatchesFiniteDifferences(
      "solve with one matrix for a batch of right-hand sides",
      [](const std::vector<Array>& x) { return linalg::solve(Shifted(x[0], 4), x[1]); },
      {{{3, 3}}, {{2, 3, 2}}});
  for (bool upper : {false, true}) {
    ExpectVjpMatchesFiniteDifferences(upper ? "solve_triangular upper" : "solve_triangular lower",
                                      [upper](const std::vector<Array>& x) {
                                        return linalg::solve_triangular(Shifted(x[0], 4), x[1],
                                                                        upper);
                                      },
                                      {{{2, 3, 3}}, {{2, 3, 2}}});
  }
  ExpectVjpMatchesFiniteDifferences(
      "inv", [](const std::vector<Array>& x) { return linalg::inv(Shifted(x[0], 4)); }, {{{3, 3}}});
}

TEST(VjpRulesTest, Cholesky) {
  for (bool upper : {false, true}) {
    ExpectVjpMatchesFiniteDifferences(
        upper ? "cholesky upper" : "cholesky lower",
        [upper](const std::vector<Array>& x) { return linalg::cholesky(Shifted(x[0], 8), upper); },
        {{{2, 3, 3}}});
  }
}

TEST(VjpRulesTest, Eigh) {
  for (const char* uplo : {"L", "U"}) {
    ExpectVjpMatchesFiniteDifferences(std::string("eigh values and vectors ") + uplo,
                                      [uplo](const std::vector<Array>& x) {
                                        auto [w, v] = linalg::eigh(x[0], uplo);
                                        return concatenate({expand_dims(w, -2), SignFixed(v)}, -2);
                                      },
                                      {{{2, 4, 4}}});
  }
  ExpectVjpMatchesFiniteDifferences(
      "eigvalsh", [](const std::vector<Array>& x) { return linalg::eigvalsh(x[0]); }, {{{4, 4}}});
}

TEST(VjpRulesTest, Svd) {
  for (const Shape& shape : {Shape{4, 3}, Shape{3, 4}, Shape{2, 3, 3}}) {
    const int64_t k = std::min(shape[shape.size() - 2], shape.back());
    ExpectVjpMatchesFiniteDifferences(
        "svd " + core::ShapeToString(shape),
        [k](const std::vector<Array>& x) {
          std::vector<Array> usv = linalg::svd(x[0]);
          // The first k columns of U and rows of Vt: the rest are any completion.
          Shape u_stop = usv[0].shape(), vt_stop = usv[2].shape();
          u_stop.back() = k;
          vt_stop[vt_stop.size() - 2] = k;
          const Array u = SignFixed(slice(usv[0], Shape(usv[0].ndim(), 0), u_stop));
          const Array v =
              SignFixed(swapaxes(slice(usv[2], Shape(usv[2].ndim(), 0), vt_stop), -1, -2));
          return concatenate({reshape(u, {-1}), reshape(usv[1], {-1}), reshape(v, {-1})}, 0);
        },
        {{shape}});
    ExpectVjpMatchesFiniteDifferences(
        "singular values " + core::ShapeToString(shape),
        [](const std::vector<Array>& x) { return linalg::svd(x[0], false)[0]; }, {{shape}});
  }
  ExpectVjpMatchesFiniteDifferences(
      "nuclear norm", [](const std::vector<Array>& x) { return linalg::norm(x[0], "nuc"); },
      {{{3, 4}}});
}

TEST(VjpRulesTest, Qr) {
  for (const Shape& shape : {Shape{4, 3}, Shape{3, 3}, Shape{2, 3, 5}}) {
    ExpectVjpMatchesFiniteDifferences("qr " + core::ShapeToString(shape),
                                      [](const std::vector<Array>& x) {
                                        auto [q, r] = linalg::qr(x[0]);
                                        return concatenate({reshape(q, {-1}), reshape(r, {-1})}, 0);
                                      },
                                      {{shape}});
  }
}

TEST(VjpRulesTest, LuAndDeterminants) {
  ExpectVjpMatchesFiniteDifferences("lu",
                                    [](const std::vector<Array>& x) {
                                      std::vector<Array> plu = linalg::lu(x[0]);
                                      return concatenate({flatten(plu[1]), flatten(plu[2])});
                                    },
                                    {{{2, 4, 4}}});
  for (const Shape& shape : {Shape{3, 3}, Shape{2, 5, 3}, Shape{3, 5}}) {
    ExpectVjpMatchesFiniteDifferences(
        "lu_factor " + core::ShapeToString(shape),
        [](const std::vector<Array>& x) { return linalg::lu_factor(x[0]).first; }, {{shape}});
  }
  ExpectVjpMatchesFiniteDifferences(
      "det", [](const std::vector<Array>& x) { return linalg::det(x[0]); }, {{{2, 3, 3}}});
  ExpectVjpMatchesFiniteDifferences(
      "slogdet", [](const std::vector<Array>& x) { return linalg::slogdet(x[0]).second; },
      {{{3, 3}}});
}

TEST(VjpRulesTest, SortAndPartition) {
  const std::vector<Input> grid = {{{3, 5}}};
  ExpectVjpMatchesFiniteDifferences(
      "sort last axis", [](const std::vector<Array>& x) { return sort(x[0], -1); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "sort axis 0", [](const std::vector<Array>& x) { return sort(x[0], 0); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "sort flattened", [](const std::vector<Array>& x) { return sort(x[0]); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "partition", [](const std::vector<Array>& x) { return partition(x[0], 2, -1); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "partition axis 0", [](const std::vector<Array>& x) { return partition(x[0], 1, 0); }, grid);
  ExpectVjpMatchesFiniteDifferences(
      "topk", [](const std::vector<Array>& x) { return topk(x[0], 2); }, grid);
}

TEST(VjpRulesTest, GatherAndTake) {
  // Repeated and negative indices: their cotangents add up.
  const Array idx = from_host(std::vector<int32_t>{2, 0, 2, -1}, {2, 2});
  ExpectVjpMatchesFiniteDifferences(
      "take axis 1", [&](const std::vector<Array>& x) { return take(x[0], idx, 1); }, {{{2, 4}}});
  ExpectVjpMatchesFiniteDifferences(
      "take flattened", [&](const std::vector<Array>& x) { return take(x[0], idx); }, {{{2, 3}}});
  const Array rows = from_host(std::vector<int32_t>{1, 0, 1}, {3});
  const Array cols = from_host(std::vector<int32_t>{0, 2, 0}, {3});
  ExpectVjpMatchesFiniteDifferences("gather slices",
                                    [&](const std::vector<Array>& x) {
                                      return gather(x[0], {rows, cols}, {0, 2}, {1, 2, 2});
                                    },
                                    {{{2, 3, 4}}});
  const Array along = from_host(std::vector<int32_t>{1, 1, 0, 2, 0, 0}, {2, 3});
  ExpectVjpMatchesFiniteDifferences(
      "take_along_axis",
      [&](const std::vector<Array>& x) { return take_along_axis(x[0], along, -1); }, {{{2, 3}}});
}

TEST(VjpRulesTest, Scatters) {
  const Array distinct = from_host(std::vector<int32_t>{3, 0, 1}, {3});
  const Array repeated = from_host(std::vector<int32_t>{1, 3, 1, 1}, {4});
  ExpectVjpMatchesFiniteDifferences(
      "scatter", [&](const std::vector<Array>& x) { return scatter(x[0], {distinct}, x[1], {0}); },
      {{{5, 2}}, {{3, 1, 2}}});
  ExpectVjpMatchesFiniteDifferences(
      "scatter_add with duplicates",
      [&](const std::vector<Array>& x) { return scatter_add(x[0], {repeated}, x[1], {1}); },
      {{{2, 4}}, {{4, 2, 1}}});
  ExpectVjpMatchesFiniteDifferences("scatter_add of a product",
                                    [&](const std::vector<Array>& x) {
                                      return scatter_add(x[0] * x[0], {repeated}, x[1] * x[1], {0});
                                    },
                                    {{{4, 3}}, {{4, 1, 3}}});
  ExpectVjpMatchesFiniteDifferences(
      "scatter_max",
      [&](const std::vector<Array>& x) { return scatter_max(x[0], {distinct}, x[1], {0}); },
      {{{5, 2}}, {{3, 1, 2}}});
  ExpectVjpMatchesFiniteDifferences(
      "scatter_min with duplicates",
      [&](const std::vector<Array>& x) { return scatter_min(x[0], {repeated}, x[1], {0}); },
      {{{4, 2}}, {{4, 1, 2}}});
  const Array along = from_host(std::vector<int32_t>{2, 0, 1, 2}, {2, 2});
  ExpectVjpMatchesFiniteDifferences(
      "put_along_axis",
      [&](const std::vector<Array>& x) { return put_along_axis(x[0], along, x[1], 1); },
      {{{2, 3}}, {{2, 2}}});
}

TEST(VjpRulesTest, SliceUpdate) {
  ExpectVjpMatchesFiniteDifferences("slice_update",
                                    [](const std::vector<Array>& x) {
                                      return slice_update(x[0], x[1], {1, 0}, {3, 4});
                                    },
                                    {{{4, 4}}, {{2, 4}}});
  ExpectVjpMatchesFiniteDifferences("slice_update strided and broadcast",
                                    [](const std::vector<Array>& x) {
                                      return slice_update(x[0], x[1], {0, -1}, {5, -6}, {2, -2});
                                    },
                                    {{{5, 5}}, {{3}}});
}

TEST(VjpRulesTest, Convolution) {
  auto conv1 = [](int stride, int padding, int dilation, int groups) {
    return [=](const std::vector<Array>& x) {
      return conv1d(x[0], x[1], stride, padding, dilation, groups);
    };
  };
  ExpectVjpMatchesFiniteDifferences("conv1d", conv1(1, 0, 1, 1), {{{2, 6, 3}}, {{4, 3, 3}}});
  ExpectVjpMatchesFiniteDifferences("conv1d stride padding", conv1(2, 1, 1, 1),
                                    {{{2, 7, 2}}, {{3, 3, 2}}});
  ExpectVjpMatchesFiniteDifferences("conv1d dilation", conv1(1, 2, 2, 1),
                                    {{{1, 6, 2}}, {{2, 3, 2}}});
  ExpectVjpMatchesFiniteDifferences("conv1d groups", conv1(1, 1, 1, 2), {{{2, 5, 4}}, {{6, 2, 2}}});
  ExpectVjpMatchesFiniteDifferences("conv1d depthwise stride dilation", conv1(3, 2, 2, 3),
                                    {{{1, 9, 3}}, {{3, 2, 1}}});
  ExpectVjpMatchesFiniteDifferences("conv2d",
                                    [](const std::vector<Array>& x) {
                                      return conv2d(x[0], x[1], {2, 1}, {1, 2}, {1, 2}, 2);
                                    },
                                    {{{2, 5, 4, 2}}, {{4, 3, 2, 1}}});
  // Padding wider than the kernel: outputs that see only padding; unequal sides.
  ExpectVjpMatchesFiniteDifferences(
      "conv_general padding beyond the kernel",
      [](const std::vector<Array>& x) {
        return conv_general(x[0], x[1], {2, 1}, {3, 0}, {1, 4}, {1, 1});
      },
      {{{1, 4, 3, 2}}, {{2, 2, 2, 2}}});
  ExpectVjpMatchesFiniteDifferences(
      "conv3d",
      [](const std::vector<Array>& x) {
        return conv_general(x[0], x[1], {1, 2, 1}, {1, 0, 0}, {0, 1, 0}, {1, 1, 2});
      },
      {{{1, 3, 4, 5, 2}}, {{2, 2, 2, 2, 2}}});
}

TEST(VjpRulesTest, NonDifferentiableOpsGiveZeroGradients) {
  const Array x = from_host(std::vector<double>{0.3, -1.7, 2.6, -0.2, 1.1, 4.5}, {2, 3});
  const std::vector<std::function<Array(const Array&)>> flat = {
      [](const Array& v) { return floor(v); },
      [](const Array& v) { return ceil(v); },
      [](const Array& v) { return round(v); },
      [](const Array& v) { return sign(v); },
      [](const Array& v) { return floor_divide(v, 0.7); },
      [](const Array& v) { return astype(isnan(v) || isinf(v) || logical_not(v > 0), float64); },
      [](const Array& v) { return astype(not_equal(v, 1.1) && less_equal(v, 2.0), float64); },
      [](const Array& v) { return astype(greater_equal(v, 0.0), float64); },
      [](const Array& v) { return astype(argsort(v, -1), float64); },
      [](const Array& v) { return astype(argpartition(v, 1, 0), float64); },
      [](const Array& v) {
        return broadcast_to(astype(all(v > 0, 1, true) || any(v > 4, 0, true), float64), {2, 3});
      },
      [](const Array& v) {
        Array bits = astype(v * 10.0, int32);
        return astype(bitwise_xor(bitwise_and(bits, 6), bitwise_or(bits, 1)) + left_shift(bits, 1) +
                          right_shift(bits, 1) + bitwise_invert(bits),
                      float64);
      },
  };
  for (size_t i = 0; i < flat.size(); ++i) {
    SCOPED_TRACE(i);
    Array g = grad([&](const Array& v) { return sum(flat[i](v) * v); })(x);
    EXPECT_EQ(g.to_vector<double>(), flat[i](x).to_vector<double>());  // only through `* v`
  }
}

}  // namespace
}  // namespace ferry
