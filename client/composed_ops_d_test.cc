// ops.h part D, the rest of MLX's ops.h composed from existing ops: dtypes, edges, errors
// and gradients beyond their NumPy cases (ops_numpy_test.cc).

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Array Floats(const std::vector<float>& values, const Shape& shape) {
  return from_host(values, shape);
}

TEST(LikeTest, ShapeDtypeAndDeviceOfTheModel) {
  Array a = from_host(std::vector<int16_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(zeros_like(a).dtype(), int16);
  EXPECT_THAT(ones_like(a, float16).shape(), ElementsAre(2, 3));
  EXPECT_EQ(ones_like(a, float16).dtype(), float16);
  EXPECT_THAT(full_like(a, -7).to_vector<int16_t>(), ElementsAre(-7, -7, -7, -7, -7, -7));
  EXPECT_EQ(full_like(a, 1).device(), a.device());
  EXPECT_THAT(BuildError([&] { full_like(a, 40000); }), HasSubstr("int16"));
}

TEST(WindowTest, EdgesOfTheLength) {
  EXPECT_EQ(hanning(0).shape(), (Shape{0}));
  EXPECT_THAT(hamming(1).to_vector<float>(), ElementsAre(1));
  EXPECT_THAT(bartlett(3).to_vector<float>(), ElementsAre(0, 1, 0));
}

TEST(ElementwiseDTest, IntegersAreFiniteAndTruncateToThemselves) {
  Array i = from_host(std::vector<int32_t>{-3, 0, 7}, {3});
  EXPECT_THAT(isfinite(i).to_vector<bool>(), ElementsAre(true, true, true));
  EXPECT_THAT(isposinf(i).to_vector<bool>(), ElementsAre(false, false, false));
  EXPECT_EQ(trunc(i).dtype(), int32);
  EXPECT_EQ(degrees(i).dtype(), float32);  // integers compute in float32, as MLX
  EXPECT_EQ(radians(from_host(std::vector<float16_t>{float16_t(180.0f)}, {1})).dtype(), float16);
  EXPECT_THAT(trunc(Floats({-1.5f, 1.5f, -0.25f}, {3})).to_vector<float>(), ElementsAre(-1, 1, 0));
}

TEST(LayoutDTest, AtLeastBroadcastUnstack) {
  Array s = full({}, 2.0);
  EXPECT_EQ(atleast_1d(s).shape(), (Shape{1}));
  EXPECT_EQ(atleast_2d(s).shape(), (Shape{1, 1}));
  EXPECT_EQ(atleast_3d(arange(4, float32)).shape(), (Shape{1, 4, 1}));
  EXPECT_EQ(atleast_2d(zeros({2, 3, 4})).shape(), (Shape{2, 3, 4}));
  const std::vector<Array> both = broadcast_arrays({zeros({3, 1}), ones({4})});
  EXPECT_EQ(both[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(both[1].shape(), (Shape{3, 4}));
  EXPECT_THAT(BuildError([] {
                broadcast_arrays({zeros({3}), zeros({4})});
              }),
              HasSubstr("[broadcast_arrays] shapes (3,) and (4,) cannot be broadcast."));
  const std::vector<Array> rows = unstack(reshape(arange(6, int32), {2, 3}), 1);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(Array(rows[2]).to_vector<int32_t>(), ElementsAre(2, 5));
  EXPECT_THAT(flip(arange(4, int32), -1).to_vector<int32_t>(), ElementsAre(3, 2, 1, 0));
  EXPECT_EQ(flip(zeros({0, 2})).shape(), (Shape{0, 2}));
  EXPECT_THAT(BuildError([] { matrix_transpose(zeros({3})); }), HasSubstr("at least 2 dims"));
}

TEST(ReduceDTest, CountNonzeroMedianNumberOfElements) {
  Array a = from_host(std::vector<int8_t>{0, 1, 2, 3, 0, 0}, {2, 3});
  EXPECT_EQ(count_nonzero(a).dtype(), int32);
  EXPECT_THAT(count_nonzero(a, 1).to_vector<int32_t>(), ElementsAre(2, 1));
  EXPECT_THAT(count_nonzero(a, {0}, true).shape(), ElementsAre(1, 3));
  EXPECT_EQ(median(a).dtype(), float32);
  EXPECT_EQ(median(a).item<float>(), 0.5f);
  EXPECT_THAT(median(a, 1, true).to_vector<float>(), ElementsAre(1, 0));
  EXPECT_EQ(median(a, 1, true).shape(), (Shape{2, 1}));
  Array with_nan = from_host(std::vector<double>{1, kNaN, 3, 1, 2, 3}, {2, 3});
  const std::vector<double> m = median(with_nan, 1).to_vector<double>();
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], 2);
  EXPECT_THAT(BuildError([] { median(zeros({2, 0}), 1); }), HasSubstr("no elements"));
  Array z = zeros({2, 3, 4});
  EXPECT_EQ(number_of_elements(z, {0, 2}, false, float32).item<float>(), 8);
  EXPECT_EQ(number_of_elements(z, {0, 2}, true).item<int32_t>(), 3);
  EXPECT_EQ(trace(from_host(std::vector<int8_t>{100, 1, 1, 100}, {2, 2})).item<int32_t>(), 200);
  EXPECT_EQ(trace(eye(3), 0, 0, 1, float16).dtype(), float16);
}

TEST(IndexingDTest, ScatterAddAxisAccumulatesDuplicates) {
  Array indices = from_host(std::vector<int32_t>{0, 0, 2, 1}, {2, 2});
  Array out = scatter_add_axis(zeros({2, 3}), indices, Floats({1, 2, 3, 4}, {2, 2}), 1);
  EXPECT_THAT(out.to_vector<float>(), ElementsAre(3, 0, 0, 0, 4, 3));
}

TEST(IndexingDTest, MaskedScatterFillsTheTruePlacesInOrder) {
  Array mask = from_host(std::vector<bool>{true, false, true, false, true, false}, {2, 3});
  Array out = masked_scatter(zeros({2, 3}), mask, Floats({7, 8, 9, 10}, {4}));
  EXPECT_THAT(out.to_vector<float>(), ElementsAre(7, 0, 8, 0, 9, 0));
  // A row mask broadcast down the rows.
  Array row = from_host(std::vector<bool>{false, true, true}, {3});
  EXPECT_THAT(masked_scatter(zeros({2, 3}, int32), row, arange(4, int32)).to_vector<int32_t>(),
              ElementsAre(0, 0, 1, 0, 2, 3));
  EXPECT_THAT(BuildError([&] {
                masked_scatter(zeros({2, 3}), ones({2, 3}), ones({6}));
              }),
              HasSubstr("mask must be bool"));
  try {
    masked_scatter(zeros({2, 3}), mask, Floats({7, 8}, {2})).to_vector<float>();
    ADD_FAILURE() << "a src too short was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("out of range"));
  }
}

TEST(IndexingDTest, SliceUpdatesCombineWithTheSlice) {
  Array src = arange(6, float32);
  EXPECT_THAT(slice_update_add(src, 10, {1}, {5}, {2}).to_vector<float>(),
              ElementsAre(0, 11, 2, 13, 4, 5));
  EXPECT_THAT(slice_update_prod(src, Floats({2, 3}, {2}), {4}, {6}).to_vector<float>(),
              ElementsAre(0, 1, 2, 3, 8, 15));
  EXPECT_THAT(slice_update_max(src, 2.5, {0}, {6}).to_vector<float>(),
              ElementsAre(2.5, 2.5, 2.5, 3, 4, 5));
  EXPECT_THAT(slice_update_min(src, 2.5, {0}, {6}).to_vector<float>(),
              ElementsAre(0, 1, 2, 2.5, 2.5, 2.5));
  EXPECT_THAT(BuildError([&] {
                slice_update_add(src, 1, {0, 0}, {1, 1});
              }),
              HasSubstr("[slice_update_add]"));
}

TEST(SearchsortedTest, LeftRightAndNaNLast) {
  Array seq = Floats({1, 2, 2, 3, std::nanf("")}, {5});
  Array v = Floats({2, 0, 5, std::nanf("")}, {2, 2});
  Array left = searchsorted(seq, v);
  EXPECT_EQ(left.dtype(), uint32);
  EXPECT_EQ(left.shape(), (Shape{2, 2}));
  EXPECT_THAT(left.to_vector<uint32_t>(), ElementsAre(1, 0, 4, 4));
  EXPECT_THAT(searchsorted(seq, v, "right").to_vector<uint32_t>(), ElementsAre(3, 0, 4, 5));
  EXPECT_THAT(BuildError([&] { searchsorted(zeros({2, 2}), v); }), HasSubstr("must be 1-D"));
  EXPECT_THAT(BuildError([&] { searchsorted(seq, v, "middle"); }), HasSubstr("side"));
}

TEST(HadamardTest, SylvesterMatrixScaledToBeOrthogonal) {
  Array x = Floats({1, 2, 3, 4}, {1, 4});
  EXPECT_THAT(hadamard_transform(x).to_vector<float>(), ElementsAre(5, -1, -2, 0));
  EXPECT_THAT(hadamard_transform(x, 1.0f).to_vector<float>(), ElementsAre(10, -2, -4, 0));
  // Orthonormal: applying it twice gives x back.
  Array r = random::normal({3, 64}, float32, 0, 1, random::key(4));
  EXPECT_THAT(hadamard_transform(hadamard_transform(r)).to_vector<float>(),
              Pointwise(FloatNear(2e-6), r.to_vector<float>()));
  EXPECT_EQ(hadamard_transform(arange(8, int32)).dtype(), float32);
  EXPECT_EQ(hadamard_transform(ones({8}, bfloat16)).dtype(), bfloat16);
  EXPECT_THAT(BuildError([] { hadamard_transform(ones({2, 12})); }), HasSubstr("power of two"));
}

TEST(GatherMmTest, MatchesMatmulOfThePickedMatrices) {
  Array a = random::normal({3, 2, 4}, float32, 0, 1, random::key(1));
  Array b = random::normal({5, 4, 6}, float32, 0, 1, random::key(2));
  Array lhs = from_host(std::vector<uint32_t>{0, 2, 2}, {3, 1});
  Array rhs = from_host(std::vector<int32_t>{4, 1}, {2});
  Array out = gather_mm(a, b, lhs, rhs);
  ASSERT_EQ(out.shape(), (Shape{3, 2, 2, 6}));
  Array want = matmul(expand_dims(take(a, reshape(lhs, {3}), 0), 1), take(b, rhs, 0));
  EXPECT_THAT(out.to_vector<float>(), Pointwise(FloatNear(1e-5), want.to_vector<float>()));
  // Without indices, the batches broadcast as matmul's.
  Array c = random::normal({2, 1, 2, 4}, float32, 0, 1, random::key(3));
  EXPECT_THAT(gather_mm(c, b).to_vector<float>(),
              Pointwise(FloatNear(1e-5), matmul(c, b).to_vector<float>()));
  EXPECT_THAT(BuildError([&] { gather_mm(a, a); }), HasSubstr("(..., M, K) and (..., K, N)"));
  EXPECT_THAT(BuildError([&] { gather_mm(a, b); }), HasSubstr("do not broadcast"));
  EXPECT_THAT(BuildError([&] { gather_mm(a, b, Floats({0}, {1}), rhs); }),
              HasSubstr("lhs_indices must be integers"));
}

TEST(SegmentedMmTest, EachSegmentOfTheInnerAxis) {
  Array a = reshape(arange(12, float32), {2, 6});
  Array segments = from_host(std::vector<int32_t>{0, 2, 2, 6, 3, 3}, {3, 2});
  Array out = segmented_mm(a, ones({6, 3}), segments);
  ASSERT_EQ(out.shape(), (Shape{3, 2, 3}));  // MLX's example
  EXPECT_THAT(out.to_vector<float>(),
              ElementsAre(1, 1, 1, 13, 13, 13, 14, 14, 14, 38, 38, 38, 0, 0, 0, 0, 0, 0));
  EXPECT_THAT(BuildError([&] {
                segmented_mm(a, ones({6, 3}), ones({3, 2}));
              }),
              HasSubstr("integer segments"));
}

TEST(BlockMaskedMmTest, BoolMasksZeroBlocksAndOthersScale) {
  Array a = random::normal({4, 6}, float32, 0, 1, random::key(7));
  Array b = random::normal({6, 4}, float32, 0, 1, random::key(8));
  // Blocks of 4: a has 1 x 2 blocks, the second masked (its inner columns 4 and 5).
  Array mask_lhs = from_host(std::vector<bool>{true, false}, {1, 2});
  Array kept = slice_update(a, 0.0, {0, 4}, {4, 6});
  Array want = matmul(kept, b);
  EXPECT_THAT(block_masked_mm(a, b, 4, std::nullopt, mask_lhs).to_vector<float>(),
              Pointwise(FloatNear(1e-5), want.to_vector<float>()));
  // An infinity in a masked block stays out.
  Array with_inf = slice_update(a, std::numeric_limits<double>::infinity(), {0, 5}, {1, 6});
  EXPECT_THAT(block_masked_mm(with_inf, b, 4, std::nullopt, mask_lhs).to_vector<float>(),
              Pointwise(FloatNear(1e-5), want.to_vector<float>()));
  Array half = full({1, 1}, 0.5);
  EXPECT_THAT(block_masked_mm(a, b, 4, half).to_vector<float>(),
              Pointwise(FloatNear(1e-5), (matmul(a, b) * 0.5).to_vector<float>()));
  EXPECT_THAT(BuildError([&] {
                block_masked_mm(a, b, 4, std::nullopt, ones({2, 2}, bool_));
              }),
              HasSubstr("mask_lhs must end in (1, 2) blocks of 4"));
}

TEST(GatherQmmTest, MatchesQuantizedMatmulOfThePickedExperts) {
  Array experts = random::normal({3, 8, 64}, float32, 0, 1, random::key(9));
  auto [wq, scales, biases] = quantize(experts, 32, 4);
  Array x = random::normal({2, 1, 64}, float32, 0, 1, random::key(10));
  Array rhs = from_host(std::vector<uint32_t>{2, 0}, {2});
  Array out = gather_qmm(x, wq, scales, biases, std::nullopt, rhs, true, 32, 4);
  ASSERT_EQ(out.shape(), (Shape{2, 1, 8}));
  std::vector<float> want;
  for (int i = 0; i < 2; ++i) {
    const int e = i == 0 ? 2 : 0;
    Array one = quantized_matmul(take(x, i, 0), take(wq, e, 0), take(scales, e, 0),
                                 take(biases, e, 0), true, 32, 4);
    for (float v : one.to_vector<float>()) want.push_back(v);
  }
  EXPECT_THAT(out.to_vector<float>(), Pointwise(FloatNear(1e-4), want));
}

TEST(GatherQmmTest, TakesMlxsFloatingPointModes) {
  Array experts = random::normal({3, 8, 64}, float32, 0, 1, random::key(11));
  std::vector<Array> q = quantize(experts, std::nullopt, std::nullopt, "mxfp4");
  ASSERT_EQ(q.size(), 2u);
  Array x = random::normal({2, 1, 64}, float32, 0, 1, random::key(12));
  Array rhs = from_host(std::vector<uint32_t>{1, 2}, {2});
  Array out = gather_qmm(x, q[0], q[1], std::nullopt, std::nullopt, rhs, true, 32, 4, "mxfp4");
  ASSERT_EQ(out.shape(), (Shape{2, 1, 8}));
  Array w = dequantize(q[0], q[1], std::nullopt, 32, 4, "mxfp4", float32);
  Array want = matmul(x, swapaxes(take(w, rhs, 0), -1, -2));
  EXPECT_THAT(out.to_vector<float>(), Pointwise(FloatNear(1e-4), want.to_vector<float>()));
  EXPECT_THAT(
      BuildError([&] { gather_qmm(x, q[0], q[1], q[1], std::nullopt, rhs, true, 32, 4, "mxfp4"); }),
      HasSubstr("takes no biases"));
}

TEST(ComposedDGradientTest, FlowThroughTheCompositions) {
  // gather_mm: each matrix of b collects the products it took part in.
  Array a = ones({2, 1, 2});
  Array b = zeros({3, 2, 1});
  auto [outs, grads] = vjp(
      [](const std::vector<Array>& x) {
        return std::vector<Array>{
            gather_mm(x[0], x[1], std::nullopt, from_host(std::vector<int32_t>{2, 2}, {2}))};
      },
      {a, b}, {ones({2, 1, 1})});
  EXPECT_THAT(grads[1].to_vector<float>(), ElementsAre(0, 0, 0, 0, 2, 2));
  // hadamard_transform is symmetric: its gradient is itself.
  Array x = Floats({1, 0, 0, 0}, {4});
  auto [h_outs, h_grads] =
      vjp([](const std::vector<Array>& v) { return std::vector<Array>{hadamard_transform(v[0])}; },
          {x}, {x});
  EXPECT_THAT(h_grads[0].to_vector<float>(), ElementsAre(0.5, 0.5, 0.5, 0.5));
  // median: the middle element takes the whole cotangent.
  auto [m_outs, m_grads] =
      vjp([](const std::vector<Array>& v) { return std::vector<Array>{median(v[0])}; },
          {Floats({5, 1, 3}, {3})}, {full({}, 1.0)});
  EXPECT_THAT(m_grads[0].to_vector<float>(), ElementsAre(0, 0, 1));
}

}  // namespace
}  // namespace ferry
