// The gradient of fast::gated_delta_update (gated_delta's vjp: one gated_delta_vjp op, run
// by the local device's CPU kernel) against the vjp of the same recurrence composed of
// ferry's ops step by step (as mlx-lm's _gated_delta_step_ops writes it), against central
// differences, and against mx.vjp of mlx-lm's gated_delta_ops (testdata/
// gated_delta_vjp_mlx.py wrote the file). Tolerances: float32 cotangents within 5e-5 +
// 5e-5 |want| (the same float32 arithmetic summed in another order, over up to 30 steps);
// bfloat16 ones within 2^-6 relative (a few bfloat16 ulps: mlx-lm sums the value heads a
// key head serves in bfloat16); central differences in float32 within 2e-3 relative.

#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::ExpectAllClose;

const char* const kNames[] = {"q", "k", "v", "g", "beta", "state"};

Array Step(const Array& a, int64_t t) { return take(a, t, 1); }

// mlx-lm's gated_delta_ops as client/gated_delta_test.cc composes it: q and k repeated to
// the value heads, then one step at a time; float32 throughout.
std::pair<Array, Array> Composed(Array q, Array k, const Array& v, const Array& g,
                                 const Array& beta, Array state, const std::optional<Array>& mask) {
  const int64_t t_len = q.shape()[1], repeats = v.shape()[2] / q.shape()[2];
  if (repeats > 1) {
    q = repeat(q, repeats, 2);
    k = repeat(k, repeats, 2);
  }
  std::vector<Array> ys;
  for (int64_t t = 0; t < t_len; ++t) {
    const Array qt = astype(Step(q, t), float32), kt = astype(Step(k, t), float32);
    const Array gt = astype(Step(g, t), float32);
    const Array decay = g.ndim() == 3 ? expand_dims(gt, {-1, -2}) : expand_dims(gt, -2);
    Array s = state * decay;
    const Array kv = sum(s * expand_dims(kt, -2), -1);
    const Array delta =
        (astype(Step(v, t), float32) - kv) * expand_dims(astype(Step(beta, t), float32), -1);
    s = s + expand_dims(kt, -2) * expand_dims(delta, -1);
    ys.push_back(sum(s * expand_dims(qt, -2), -1));
    state = mask ? where(reshape(Step(*mask, t), {q.shape()[0], 1, 1, 1}), s, state) : s;
  }
  return {stack(ys, 1), state};
}

struct Case {
  std::vector<Array> inputs;  // q, k, v, g, beta, state
  std::optional<Array> mask;
  std::vector<Array> cotangents;  // of y and of the final state
};

// Inputs as a Qwen3-Next layer makes them (unit-scale q and k, decays in (0.5, 1), beta in
// (0, 1)) and cotangents of unit scale.
Case RandomCase(int64_t b, int64_t t, int64_t hk, int64_t hv, int64_t dk, int64_t dv,
                bool vector_gate, uint64_t seed, Dtype dtype = float32) {
  random::Generator keys(seed);
  const double scale = 1 / std::sqrt(static_cast<double>(dk));
  auto u = [&](const Shape& shape, Dtype d, double lo, double hi) {
    return astype(random::uniform(shape, float32, lo, hi, keys.next_key()), d);
  };
  Case c;
  c.inputs = {u({b, t, hk, dk}, dtype, -scale, scale),
              u({b, t, hk, dk}, dtype, -scale, scale),
              u({b, t, hv, dv}, dtype, -1, 1),
              vector_gate ? u({b, t, hv, dk}, float32, 0.5, 1) : u({b, t, hv}, float32, 0.5, 1),
              u({b, t, hv}, dtype, 0, 1),
              u({b, hv, dv, dk}, float32, -1, 1)};
  c.cotangents = {u({b, t, hv, dv}, dtype, -1, 1), u({b, hv, dv, dk}, float32, -1, 1)};
  return c;
}

std::vector<Array> Op(const std::vector<Array>& x, const std::optional<Array>& mask) {
  auto [y, state] = fast::gated_delta_update(x[0], x[1], x[2], x[3], x[4], x[5], mask);
  return {y, state};
}

std::vector<Array> Reference(const std::vector<Array>& x, const std::optional<Array>& mask) {
  auto [y, state] = Composed(x[0], x[1], x[2], x[3], x[4], x[5], mask);
  return {y, state};
}

std::vector<Array> Gradients(const Case& c, bool composed) {
  const std::optional<Array> mask = c.mask;
  auto fun = [&](const std::vector<Array>& x) {
    return composed ? Reference(x, mask) : Op(x, mask);
  };
  return vjp(fun, c.inputs, c.cotangents).second;
}

void ExpectAsComposed(const Case& c, const std::string& what) {
  const std::vector<Array> got = Gradients(c, false);
  const std::vector<Array> want = Gradients(c, true);
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(got[i].dtype(), c.inputs[i].dtype()) << what << " d" << kNames[i];
    ExpectAllClose(got[i], want[i], 5e-5, 5e-5, what + " d" + kNames[i]);
  }
}

TEST(GatedDeltaVjpTest, GroupedHeadsScalarGateMatchTheComposedVjp) {
  // T 7: checkpoints every 3 steps, the last segment one step long.
  ExpectAsComposed(RandomCase(2, 7, 2, 4, 16, 8, false, 1), "Hv = 2 Hk");
}

TEST(GatedDeltaVjpTest, VectorGateMatchesTheComposedVjp) {
  ExpectAsComposed(RandomCase(2, 5, 1, 3, 8, 4, true, 2), "vector gate");
}

TEST(GatedDeltaVjpTest, MaskedStepsPassTheStatesCotangentThrough) {
  // Row 0 left-padded (its first 3 steps masked out), row 1 with a hole in the middle.
  for (bool vector_gate : {false, true}) {
    Case c = RandomCase(2, 10, 1, 2, 8, 6, vector_gate, 3);
    c.mask = from_host(std::vector<bool>{0, 0, 0, 1, 1, 1, 1, 1, 1, 1,  //
                                         1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
                       {2, 10});
    ExpectAsComposed(c, vector_gate ? "masked, vector gate" : "masked");
  }
}

TEST(GatedDeltaVjpTest, OneStepAndStepsPastSeveralCheckpointsMatch) {
  ExpectAsComposed(RandomCase(3, 1, 1, 2, 16, 8, false, 4), "T 1");
  ExpectAsComposed(RandomCase(1, 16, 1, 1, 8, 8, false, 5), "T 16, segments of 4");
  ExpectAsComposed(RandomCase(1, 30, 2, 2, 4, 4, true, 6), "T 30, the last segment 5 long");
}

TEST(GatedDeltaVjpTest, NoStepsHandTheFinalStatesCotangentToTheInitialState) {
  const Case c = RandomCase(2, 0, 1, 2, 4, 3, false, 11);
  const std::vector<Array> got = Gradients(c, false);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i].shape(), c.inputs[i].shape()) << kNames[i];
  ExpectAllClose(got[5], c.cotangents[1], 0, 0, "dstate");
}

TEST(GatedDeltaVjpTest, SixteenBitInputsGetSixteenBitCotangents) {
  const Case c = RandomCase(1, 4, 1, 2, 8, 4, false, 7, bfloat16);
  const std::vector<Array> got = Gradients(c, false);
  // The reference in float32, on the same (bfloat16-valued) inputs.
  Case wide = c;
  for (Array& x : wide.inputs) x = astype(x, float32);
  for (Array& x : wide.cotangents) x = astype(x, float32);
  const std::vector<Array> want = Gradients(wide, true);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(got[i].dtype(), c.inputs[i].dtype()) << kNames[i];
    ExpectAllClose(got[i], want[i], 1.0 / 64, 1.0 / 64, std::string("d") + kNames[i]);
  }
}

TEST(GatedDeltaVjpTest, MatchesCentralDifferences) {
  // <d input, direction> against (L(x + e dir) - L(x - e dir)) / 2e, L the cotangents' inner
  // product with the results, for each input in turn.
  Case c = RandomCase(1, 6, 1, 2, 4, 3, true, 8);
  c.mask = from_host(std::vector<bool>{1, 1, 0, 1, 1, 1}, {1, 6});
  const std::vector<Array> grads = Gradients(c, false);
  random::Generator keys(9);
  const float e = 1e-2f;
  for (int i = 0; i < 6; ++i) {
    const Array dir = random::normal(c.inputs[i].shape(), float32, 0.0, 1.0, keys.next_key());
    auto loss = [&](float sign) {
      std::vector<Array> x = c.inputs;
      x[i] = x[i] + sign * e * dir;
      const std::vector<Array> out = Op(x, c.mask);
      return static_cast<double>(
          (sum(out[0] * c.cotangents[0]) + sum(out[1] * c.cotangents[1])).item<float>());
    };
    const double numeric = (loss(1) - loss(-1)) / (2 * e);
    const double analytic = sum(grads[i] * dir).item<float>();
    EXPECT_NEAR(analytic, numeric, 2e-3 * (1 + std::abs(numeric))) << "d" << kNames[i];
  }
}

TEST(GatedDeltaVjpTest, OnlyTheAskedForCotangentsAndNoneForTheMask) {
  // grad of one input through a masked call: the rule runs, the mask is no primal.
  Case c = RandomCase(1, 3, 1, 1, 4, 4, false, 10);
  const Array mask = from_host(std::vector<bool>{1, 0, 1}, {1, 3});
  const Array dv = grad([&](const Array& v) {
    return sum(fast::gated_delta_update(c.inputs[0], c.inputs[1], v, c.inputs[3], c.inputs[4],
                                        c.inputs[5], mask)
                   .first);
  })(c.inputs[2]);
  const Array want = grad([&](const Array& v) {
    return sum(
        Composed(c.inputs[0], c.inputs[1], v, c.inputs[3], c.inputs[4], c.inputs[5], mask).first);
  })(c.inputs[2]);
  ExpectAllClose(dv, want, 5e-5, 5e-5, "dv");
}

// ---- mx.vjp of mlx-lm's gated_delta_ops (testdata/gated_delta_vjp_mlx.py) ------------------

class GatedDeltaVjpMlxTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    arrays_ = new std::unordered_map<std::string, Array>(
        load_safetensors(testing::Runfile("client/testdata/gated_delta_vjp_mlx.safetensors"))
            .first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static Array At(const std::string& name) { return arrays_->at(name); }
  static bool Has(const std::string& name) { return arrays_->count(name) > 0; }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* GatedDeltaVjpMlxTest::arrays_ = nullptr;

TEST_P(GatedDeltaVjpMlxTest, GivesWhatMlxGives) {
  const std::string c = GetParam() + ".";
  Case in;
  for (const char* name : kNames) in.inputs.push_back(At(c + name));
  if (Has(c + "mask")) in.mask = At(c + "mask");
  in.cotangents = {At(c + "dy"), At(c + "dstate")};
  const std::vector<Array> got = Gradients(in, false);
  for (int i = 0; i < 6; ++i) {
    const Array want = At(c + "grad." + kNames[i]);
    EXPECT_EQ(got[i].dtype(), want.dtype()) << kNames[i];
    const double tolerance = want.dtype() == float32 ? 5e-5 : 1.0 / 64;
    ExpectAllClose(got[i], want, tolerance, tolerance, c + "grad." + kNames[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GatedDeltaVjpMlxTest,
                         ::testing::Values("prefill", "decode", "vector_masked", "bfloat16"));

}  // namespace
}  // namespace ferry
