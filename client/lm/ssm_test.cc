// Mamba-2's SSD scan (ssm.h) as a specification: segsum's sums between steps, the clipped
// time steps, the scan equal to the recurrence it stands for, whatever the chunking, a state
// carrying a sequence across calls, and a batch's left padding kept out of a row.

#include "client/lm/ssm.h"

#include <cmath>
#include <limits>
#include <vector>

#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::ExpectAllClose;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::pair<float, float> kLimit = {0.001f, 100.0f};

// A scan's inputs: 4 heads of 3 features in 2 groups, a state 5 wide.
struct Inputs {
  Array x, A_log, B, C, D, dt, dt_bias;
};

Inputs Draw(int64_t batch, int64_t length, uint64_t seed) {
  auto normal = [&](const Shape& shape, uint64_t k) {
    return random::normal(shape, float32, 0.0, 1.0, random::key(seed * 16 + k));
  };
  return {normal({batch, length, 4, 3}, 0),
          normal({4}, 1) * 0.5f,
          normal({batch, length, 2, 5}, 2) * 0.5f,
          normal({batch, length, 2, 5}, 3) * 0.5f,
          normal({4}, 4),
          normal({batch, length, 4}, 5),
          normal({4}, 6)};
}

std::pair<Array, Array> Scan(const Inputs& in, const std::optional<Array>& state = std::nullopt,
                             const std::optional<Array>& mask = std::nullopt,
                             int64_t chunk = kSsmChunk) {
  return ssm_attn(in.x, in.A_log, in.B, in.C, in.D, in.dt, in.dt_bias, state, kLimit, mask, chunk);
}

// a's entries [start, stop) along `axis`, the other axes whole.
Array Cut(const Array& a, int axis, int64_t start, int64_t stop) {
  Shape from(a.ndim(), 0), to = a.shape();
  from[axis] = start;
  to[axis] = stop;
  return slice(a, from, to);
}

// Steps [start, stop) of every input that has steps.
Inputs Steps(const Inputs& in, int64_t start, int64_t stop) {
  auto cut = [&](const Array& a) { return Cut(a, 1, start, stop); };
  return {cut(in.x), in.A_log, cut(in.B), cut(in.C), in.D, cut(in.dt), in.dt_bias};
}

// Row r of every input that has rows.
Inputs Row(const Inputs& in, int64_t r) {
  auto cut = [&](const Array& a) { return Cut(a, 0, r, r + 1); };
  return {cut(in.x), in.A_log, cut(in.B), cut(in.C), in.D, cut(in.dt), in.dt_bias};
}

TEST(SsmTest, SegsumSumsTheStepsBetweenTwoPositions) {
  const Array x = reshape(from_host(std::vector<float>{1, 2, 3}, {3}), {1, 1, 3});
  ExpectAllClose(
      segsum(x),
      reshape(from_host(std::vector<float>{0, 0, 0, 2, 0, 0, 5, 3, 0}, {9}), {1, 1, 3, 3}), 0, 0);
  // The first step padded: its row and column read -inf (no decay passes it).
  const Array mask = from_host(std::vector<bool>{false, true, true}, {1, 3});
  ExpectAllClose(
      segsum(x, mask),
      reshape(from_host(std::vector<float>{-kInf, -kInf, -kInf, -kInf, 0, 0, -kInf, 3, 0}, {9}),
              {1, 1, 3, 3}),
      0, 0);
}

TEST(SsmTest, TimeStepsAreSoftplusClippedToTheLimit) {
  const Array dt = from_host(std::vector<float>{-10, 0, 10}, {3});
  ExpectAllClose(compute_dt(dt, zeros({3}), {0.01f, 5.0f}),
                 from_host(std::vector<float>{0.01f, std::log(2.0f), 5.0f}, {3}), 1e-6, 1e-6);
  EXPECT_EQ(compute_dt(astype(dt, float16), zeros({3}), kLimit).dtype(), float32);
}

// The recurrence the scan computes, a step at a time: per head
//   h = exp(dt A) h + dt x B^T,  y = h C + D x.
TEST(SsmTest, TheScanIsTheRecurrence) {
  const Inputs in = Draw(2, 9, 1);
  const Array dt = compute_dt(in.dt, in.dt_bias, kLimit);
  const Array A = negative(exp(in.A_log));
  Array h = zeros({2, 4, 3, 5});
  std::vector<Array> ys;
  for (int64_t t = 0; t < 9; ++t) {
    const Inputs step = Steps(in, t, t + 1);
    const Array dt_t = reshape(Cut(dt, 1, t, t + 1), {2, 4, 1, 1});
    const Array x_t = reshape(step.x, {2, 4, 3, 1});
    const Array b_t = repeat(reshape(step.B, {2, 2, 1, 5}), 2, 1);  // each group's 2 heads
    const Array c_t = repeat(reshape(step.C, {2, 2, 5, 1}), 2, 1);
    h = exp(dt_t * reshape(A, {1, 4, 1, 1})) * h + dt_t * x_t * b_t;
    ys.push_back(reshape(matmul(h, c_t), {2, 1, 4, 3}) +
                 reshape(step.x, {2, 1, 4, 3}) * reshape(in.D, {1, 1, 4, 1}));
  }
  const auto [y, state] = Scan(in);
  ExpectAllClose(y, concatenate(ys, 1), 1e-4, 1e-5, "y");
  ExpectAllClose(state, h, 1e-4, 1e-5, "state");
}

// Chunks of 256, 4 and 1 give the same outputs and state: the state carries between them.
TEST(SsmTest, TheChunksGiveTheWholeScan) {
  const Inputs in = Draw(2, 10, 2);
  const auto [y, state] = Scan(in);
  for (int64_t chunk : {4, 1}) {
    const auto [chunked_y, chunked_state] = Scan(in, std::nullopt, std::nullopt, chunk);
    ExpectAllClose(chunked_y, y, 1e-4, 1e-5, "y, chunks of " + std::to_string(chunk));
    ExpectAllClose(chunked_state, state, 1e-4, 1e-5, "state, chunks of " + std::to_string(chunk));
  }
}

// A sequence in two calls, the second from the first's state: the outputs of one call.
TEST(SsmTest, AStateCarriesASequenceAcrossCalls) {
  const Inputs in = Draw(1, 10, 3);
  const auto [y, state] = Scan(in);
  const auto [first_y, first_state] = Scan(Steps(in, 0, 6));
  const auto [second_y, second_state] = Scan(Steps(in, 6, 10), first_state, std::nullopt, 3);
  ExpectAllClose(concatenate({first_y, second_y}, 1), y, 1e-4, 1e-5, "y");
  ExpectAllClose(second_state, state, 1e-4, 1e-5, "state");
}

// Row 1 left-padded by 3 steps of other inputs: its real steps' outputs and its state are
// those of them alone, in chunks that hold padding only, some of both, real steps only.
TEST(SsmTest, ABatchsLeftPaddingIsKeptOutOfARow) {
  const Inputs in = Draw(2, 7, 4);
  const Array mask =
      from_host(std::vector<bool>{true, true, true, true, true, true, true,  // row 0: no padding
                                  false, false, false, true, true, true, true},
                {2, 7});
  const auto [y, state] = Scan(in, std::nullopt, mask, 2);
  const auto [alone_y, alone_state] = Scan(Steps(Row(in, 1), 3, 7));
  ExpectAllClose(Cut(Cut(y, 0, 1, 2), 1, 3, 7), alone_y, 1e-4, 1e-5, "padded row's y");
  ExpectAllClose(Cut(state, 0, 1, 2), alone_state, 1e-4, 1e-5, "padded row's state");
  // Row 0 is as it is unmasked.
  const auto [first_y, first_state] = Scan(Row(in, 0));
  ExpectAllClose(Cut(y, 0, 0, 1), first_y, 1e-4, 1e-5, "unpadded row's y");
  ExpectAllClose(Cut(state, 0, 0, 1), first_state, 1e-4, 1e-5, "unpadded row's state");
}

}  // namespace
}  // namespace ferry::lm
