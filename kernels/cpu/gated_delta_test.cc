// gated_delta against the recurrence as mlx-lm's _gated_delta_step_ops writes it, computed
// here in double from the inputs as stored (already rounded to their dtype). The kernel keeps
// the state in float32 and sums Dk <= 16 products per step over T <= 6 steps: tolerance 2e-5
// of max(1, |want|).

#include <cmath>
#include <random>

#include "core/gated_delta_layout.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

struct Case {
  int64_t b, t, hk, hv, dk, dv;
  bool vector_gate = false;
  bool masked = false;
  DType dtype = DType::kFloat32;  // q, k, v, beta; g and the state stay float32
};

core::HostTensor Uniform(DType dtype, const core::Shape& shape, double lo, double hi,
                         std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(lo, hi);
  std::vector<double> values(static_cast<size_t>(core::NumElements(shape)));
  for (double& v : values) v = uniform(rng);
  return MakeHost(dtype, shape, values);
}

// q, k, v, g, beta, state[, mask], with magnitudes a Qwen3-Next layer sees: unit-norm-ish
// keys, decays in (0.5, 1), beta in (0, 1).
std::vector<core::HostTensor> Inputs(const Case& c, std::mt19937_64& rng) {
  const double key = 1 / std::sqrt(static_cast<double>(c.dk));
  std::vector<core::HostTensor> in = {
      Uniform(c.dtype, {c.b, c.t, c.hk, c.dk}, -key, key, rng),
      Uniform(c.dtype, {c.b, c.t, c.hk, c.dk}, -key, key, rng),
      Uniform(c.dtype, {c.b, c.t, c.hv, c.dv}, -1, 1, rng),
      c.vector_gate ? Uniform(DType::kFloat32, {c.b, c.t, c.hv, c.dk}, 0.5, 1, rng)
                    : Uniform(DType::kFloat32, {c.b, c.t, c.hv}, 0.5, 1, rng),
      Uniform(c.dtype, {c.b, c.t, c.hv}, 0, 1, rng),
      Uniform(DType::kFloat32, {c.b, c.hv, c.dv, c.dk}, -1, 1, rng),
  };
  if (c.masked) {
    std::vector<double> mask;
    for (int64_t i = 0; i < c.b * c.t; ++i) mask.push_back(i % 3 != 1);
    in.push_back(MakeHost(DType::kBool, {c.b, c.t}, mask));
  }
  return in;
}

// The packed result (core/gated_delta_layout.h) of mlx-lm's loop over t of
// _gated_delta_step_ops, q and k repeated to the value heads.
std::vector<double> Reference(const Case& c, const std::vector<core::HostTensor>& in) {
  const std::vector<double> q = Values(in[0]), k = Values(in[1]), v = Values(in[2]),
                            g = Values(in[3]), beta = Values(in[4]);
  std::vector<double> state = Values(in[5]);
  const std::vector<double> mask = c.masked ? Values(in[6]) : std::vector<double>();
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(in[0].type.shape, in[2].type.shape, in[3].type.shape);
  std::vector<double> out(static_cast<size_t>(d.b * d.RowSize()));
  for (int64_t b = 0; b < d.b; ++b) {
    for (int64_t t = 0; t < d.t; ++t) {
      const int64_t bt = b * d.t + t;
      const std::vector<double> old = state;
      for (int64_t h = 0; h < d.hv; ++h) {
        const int64_t hq = h / (d.hv / d.hk);
        for (int64_t i = 0; i < d.dv; ++i) {
          double* s = &state[((b * d.hv + h) * d.dv + i) * d.dk];
          const double* kt = &k[(bt * d.hk + hq) * d.dk];
          const double* qt = &q[(bt * d.hk + hq) * d.dk];
          double kv = 0;
          for (int64_t j = 0; j < d.dk; ++j) {
            s[j] *= g[(bt * d.hv + h) * (d.vector_gate ? d.dk : 1) + (d.vector_gate ? j : 0)];
            kv += s[j] * kt[j];
          }
          const double delta = (v[(bt * d.hv + h) * d.dv + i] - kv) * beta[bt * d.hv + h];
          double y = 0;
          for (int64_t j = 0; j < d.dk; ++j) {
            s[j] += kt[j] * delta;
            y += s[j] * qt[j];
          }
          out[b * d.RowSize() + (t * d.hv + h) * d.dv + i] = y;
        }
      }
      if (c.masked && mask[bt] == 0) {  // where(mask, state, old_state), batch row b only
        const int64_t n = d.StateSize();
        std::copy(old.begin() + b * n, old.begin() + (b + 1) * n, state.begin() + b * n);
      }
    }
    for (int64_t e = 0; e < d.StateSize(); ++e) {
      out[b * d.RowSize() + d.YSize() + e] = state[b * d.StateSize() + e];
    }
  }
  return out;
}

void ExpectMatchesReference(const Case& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<core::HostTensor> in = Inputs(c, rng);
  absl::StatusOr<core::HostTensor> got = RunOp("gated_delta", in);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->type.dtype, DType::kFloat32);
  const std::vector<double> g = Values(*got), want = Reference(c, in);
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want[i], 2e-5 * std::max(1.0, std::abs(want[i]))) << "element " << i;
  }
}

TEST(GatedDelta, ScalarGateOverSeveralSteps) { ExpectMatchesReference({2, 5, 3, 3, 8, 6}, 1); }

TEST(GatedDelta, GroupedQueryHeadsServeSeveralValueHeads) {
  ExpectMatchesReference({2, 4, 2, 6, 16, 4}, 2);
}

TEST(GatedDelta, VectorGate) { ExpectMatchesReference({1, 6, 1, 2, 8, 5, true}, 3); }

TEST(GatedDelta, MaskedStepsKeepTheState) {
  ExpectMatchesReference({3, 5, 1, 2, 8, 4, false, true}, 4);
  ExpectMatchesReference({2, 4, 2, 4, 8, 3, true, true}, 5);
}

TEST(GatedDelta, OneStepDecode) { ExpectMatchesReference({4, 1, 2, 4, 16, 8}, 6); }

TEST(GatedDelta, SixteenBitInputsComputeInFloat32) {
  ExpectMatchesReference({2, 3, 1, 2, 8, 4, false, false, DType::kBFloat16}, 7);
  ExpectMatchesReference({2, 3, 2, 2, 8, 4, true, true, DType::kFloat16}, 8);
}

TEST(GatedDelta, AllStepsMaskedReturnTheStateBitForBit) {
  std::mt19937_64 rng(9);
  const Case c{2, 3, 1, 2, 4, 3, false, true};
  std::vector<core::HostTensor> in = Inputs(c, rng);
  in[6] = MakeHost(DType::kBool, {2, 3}, std::vector<double>(6, 0));
  absl::StatusOr<core::HostTensor> got = RunOp("gated_delta", in);
  ASSERT_TRUE(got.ok()) << got.status();
  const std::vector<double> out = Values(*got), state = Values(in[5]);
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(in[0].type.shape, in[2].type.shape, in[3].type.shape);
  for (int64_t b = 0; b < d.b; ++b) {
    for (int64_t e = 0; e < d.StateSize(); ++e) {
      ASSERT_EQ(out[b * d.RowSize() + d.YSize() + e], state[b * d.StateSize() + e]);
    }
  }
}

TEST(GatedDelta, NoStepsGiveTheStateAndEmptyBatchesNothing) {
  ExpectMatchesReference({2, 0, 1, 2, 4, 3}, 10);
  ExpectMatchesReference({0, 3, 1, 2, 4, 3, false, true}, 11);
}

}  // namespace
}  // namespace ferry::kernels::cpu
