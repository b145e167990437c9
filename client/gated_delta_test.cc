// fast::gated_delta_update (one gated_delta op, run by the local device's CPU kernel) against
// the recurrence composed of ferry's ops step by step, as mlx-lm's _gated_delta_step_ops
// writes it, and against mlx-lm's gated_delta_ops itself (testdata/gated_delta_mlx.py wrote
// the file). Tolerances: float32 results within 1e-5 + 1e-5 |want| (the same float32
// arithmetic, summed in another order); bfloat16 y within one bfloat16 ulp (2^-8 relative).

#include <cmath>
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

using testing::BuildError;
using testing::ExpectAllClose;
using ::testing::HasSubstr;

// Step t of every (B, T, ...) array: (B, ...).
Array Step(const Array& a, int64_t t) { return take(a, t, 1); }

// mlx-lm's gated_delta_ops: q and k repeated to the value heads, then one step at a time.
std::pair<Array, Array> Composed(Array q, Array k, const Array& v, const Array& g,
                                 const Array& beta, Array state,
                                 const std::optional<Array>& mask = std::nullopt) {
  const int64_t t_len = q.shape()[1], repeats = v.shape()[2] / q.shape()[2];
  if (repeats > 1) {
    q = repeat(q, repeats, 2);
    k = repeat(k, repeats, 2);
  }
  const Dtype y_dtype = q.dtype();
  std::vector<Array> ys;
  for (int64_t t = 0; t < t_len; ++t) {
    const Array qt = astype(Step(q, t), float32), kt = astype(Step(k, t), float32);
    const Array gt = astype(Step(g, t), float32);
    const Array decay = g.ndim() == 3 ? expand_dims(gt, {-1, -2}) : expand_dims(gt, -2);
    const Array old = state;
    Array s = astype(state, float32) * decay;
    const Array kv = sum(s * expand_dims(kt, -2), -1);
    const Array delta =
        (astype(Step(v, t), float32) - kv) * expand_dims(astype(Step(beta, t), float32), -1);
    s = s + expand_dims(kt, -2) * expand_dims(delta, -1);
    ys.push_back(astype(sum(s * expand_dims(qt, -2), -1), y_dtype));
    s = astype(s, state.dtype());
    state = mask ? where(reshape(Step(*mask, t), {q.shape()[0], 1, 1, 1}), s, old) : s;
  }
  return {stack(ys, 1), state};
}

struct Inputs {
  Array q, k, v, g, beta, state;
};

// Unit-scale keys and queries (as normalize_qk leaves them), decays in (0.5, 1), beta in
// (0, 1): what a Qwen3-Next layer feeds the recurrence.
Inputs RandomInputs(int64_t b, int64_t t, int64_t hk, int64_t hv, int64_t dk, int64_t dv,
                    bool vector_gate, uint64_t seed, Dtype dtype = float32) {
  random::Generator keys(seed);
  const double scale = 1 / std::sqrt(static_cast<double>(dk));
  auto u = [&](const Shape& shape, Dtype d, double lo, double hi) {
    return astype(random::uniform(shape, float32, lo, hi, keys.next_key()), d);
  };
  return {u({b, t, hk, dk}, dtype, -scale, scale),
          u({b, t, hk, dk}, dtype, -scale, scale),
          u({b, t, hv, dv}, dtype, -1, 1),
          vector_gate ? u({b, t, hv, dk}, float32, 0.5, 1) : u({b, t, hv}, float32, 0.5, 1),
          u({b, t, hv}, dtype, 0, 1),
          u({b, hv, dv, dk}, float32, -1, 1)};
}

void ExpectAsComposed(const Inputs& in, const std::optional<Array>& mask, const std::string& what) {
  auto [y, state] = fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta, in.state, mask);
  auto [want_y, want_state] = Composed(in.q, in.k, in.v, in.g, in.beta, in.state, mask);
  EXPECT_EQ(y.dtype(), in.q.dtype()) << what;
  EXPECT_EQ(state.dtype(), float32) << what;
  const double y_tolerance = in.q.dtype() == float32 ? 1e-5 : 1.0 / 256;
  ExpectAllClose(y, want_y, y_tolerance, y_tolerance, what + " y");
  ExpectAllClose(state, want_state, 1e-5, 1e-5, what + " state");
}

TEST(GatedDeltaTest, PrefillWithGroupedHeadsMatchesTheComposedSteps) {
  ExpectAsComposed(RandomInputs(2, 7, 2, 4, 16, 8, false, 1), std::nullopt, "scalar gate");
  ExpectAsComposed(RandomInputs(2, 5, 1, 3, 8, 4, true, 2), std::nullopt, "vector gate");
}

TEST(GatedDeltaTest, OneDecodeStepMatchesTheComposedStep) {
  ExpectAsComposed(RandomInputs(3, 1, 2, 2, 32, 16, false, 3), std::nullopt, "decode");
}

TEST(GatedDeltaTest, MaskedStepsKeepTheStateAsComposed) {
  const Array mask = from_host(
      std::vector<bool>{true, false, true, true, false, false, true, false, true, true}, {2, 5});
  ExpectAsComposed(RandomInputs(2, 5, 1, 2, 8, 4, false, 4), mask, "bool mask");
  // Any dtype masks as "not zero", as where does.
  ExpectAsComposed(RandomInputs(2, 5, 2, 4, 8, 4, true, 5), astype(mask, int32), "int mask");
}

TEST(GatedDeltaTest, SixteenBitInputsComputeInFloat32) {
  ExpectAsComposed(RandomInputs(2, 4, 1, 2, 16, 8, false, 6, bfloat16), std::nullopt, "bf16");
  ExpectAsComposed(RandomInputs(1, 3, 2, 4, 8, 8, true, 7, float16), std::nullopt, "f16");
}

TEST(GatedDeltaTest, StateCarriedAcrossCallsEqualsOneCall) {
  const Inputs in = RandomInputs(2, 6, 1, 2, 16, 8, false, 8);
  auto [y, state] = fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta, in.state);
  auto part = [&](const Array& a, int64_t from, int64_t to) {
    Shape begin(a.ndim(), 0), end = a.shape();
    begin[1] = from;
    end[1] = to;
    return slice(a, begin, end);
  };
  auto [y1, s1] = fast::gated_delta_update(part(in.q, 0, 4), part(in.k, 0, 4), part(in.v, 0, 4),
                                           part(in.g, 0, 4), part(in.beta, 0, 4), in.state);
  auto [y2, s2] = fast::gated_delta_update(part(in.q, 4, 6), part(in.k, 4, 6), part(in.v, 4, 6),
                                           part(in.g, 4, 6), part(in.beta, 4, 6), s1);
  // The same float32 operations in the same order: the same bits.
  ExpectAllClose(concatenate({y1, y2}, 1), y, 0, 0, "y");
  ExpectAllClose(s2, state, 0, 0, "state");
}

TEST(GatedDeltaTest, AbsentStateStartsFromZeros) {
  const Inputs in = RandomInputs(1, 3, 1, 2, 8, 4, false, 9);
  auto [y, state] = fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta);
  auto [want_y, want_state] =
      fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta, zeros({1, 2, 4, 8}));
  ExpectAllClose(y, want_y, 0, 0, "y");
  ExpectAllClose(state, want_state, 0, 0, "state");
}

TEST(GatedDeltaTest, BadShapesThrowWhereTheOpIsBuilt) {
  const Inputs in = RandomInputs(2, 3, 2, 4, 8, 4, false, 10);
  EXPECT_THAT(BuildError([&] {
                fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta, zeros({2, 4, 8, 4}));
              }),
              HasSubstr("[gated_delta] state must be (B, Hv, Dv, Dk) (2, 4, 4, 8), got "
                        "(2, 4, 8, 4)"));
  EXPECT_THAT(BuildError([&] {
                fast::gated_delta_update(in.q, in.k, reshape(in.v, {2, 3, 2, 8}), in.g, in.beta);
              }),
              HasSubstr("[gated_delta] g must be (B, T, Hv) (2, 3, 2)"));
  EXPECT_THAT(BuildError([&] {
                fast::gated_delta_update(in.q, in.k, reshape(in.v, {2, 3, 16}), in.g, in.beta);
              }),
              HasSubstr("[gated_delta] q must be (B, T, Hk, Dk) and v (B, T, Hv, Dv), got "
                        "(2, 3, 2, 8) and (2, 3, 16)"));
  EXPECT_THAT(BuildError([&] {
                fast::gated_delta_update(in.q, in.k, in.v, in.g, in.beta, std::nullopt,
                                         zeros({2, 4}, bool_));
              }),
              HasSubstr("[gated_delta] mask must be bool (B, T) (2, 3), got bool (2, 4)"));
  EXPECT_THAT(BuildError([&] {
                fast::gated_delta_update(astype(in.q, float64), in.k, in.v, in.g, in.beta);
              }),
              HasSubstr("[gated_delta] q must be float32, float16 or bfloat16, got float64"));
}

// ---- mlx-lm's gated_delta_ops (testdata/gated_delta_mlx.py) ----------------------------

class GatedDeltaMlxTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    arrays_ = new std::unordered_map<std::string, Array>(
        load_safetensors(testing::Runfile("client/testdata/gated_delta_mlx.safetensors")).first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static Array At(const std::string& name) { return arrays_->at(name); }
  static bool Has(const std::string& name) { return arrays_->count(name) > 0; }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* GatedDeltaMlxTest::arrays_ = nullptr;

TEST_P(GatedDeltaMlxTest, GivesWhatMlxLmGives) {
  const std::string c = GetParam() + ".";
  const std::optional<Array> mask =
      Has(c + "mask") ? std::optional<Array>(At(c + "mask")) : std::nullopt;
  auto [y, state] = fast::gated_delta_update(At(c + "q"), At(c + "k"), At(c + "v"), At(c + "g"),
                                             At(c + "beta"), At(c + "state"), mask);
  const Array want_y = At(c + "y");
  EXPECT_EQ(y.dtype(), want_y.dtype());
  const double y_tolerance = want_y.dtype() == float32 ? 1e-5 : 1.0 / 128;
  ExpectAllClose(y, want_y, y_tolerance, y_tolerance, c + "y");
  ExpectAllClose(state, At(c + "new_state"), 1e-5, 1e-5, c + "new_state");
}

INSTANTIATE_TEST_SUITE_P(Cases, GatedDeltaMlxTest,
                         ::testing::Values("prefill", "decode", "vector_masked", "bfloat16"));

}  // namespace
}  // namespace ferry
