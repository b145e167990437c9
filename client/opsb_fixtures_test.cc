// Ops part B against NumPy: client/testdata/opsb_fixtures.txt holds inputs and reference
// results written by client/testdata/opsb_make_fixtures.py.

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

struct Fixture {
  Shape shape;
  std::vector<double> values;
};

const std::map<std::string, Fixture>& Fixtures() {
  static const auto* fixtures = [] {
    auto* map = new std::map<std::string, Fixture>();
    std::ifstream in("client/testdata/opsb_fixtures.txt");
    EXPECT_TRUE(in.good()) << "client/testdata/opsb_fixtures.txt is not in the runfiles";
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string name;
      int ndim = 0;
      fields >> name >> ndim;
      Fixture f;
      f.shape.resize(ndim);
      for (int64_t& d : f.shape) fields >> d;
      double v;
      while (fields >> v) f.values.push_back(v);
      (*map)[name] = std::move(f);
    }
    return map;
  }();
  return *fixtures;
}

const Fixture& Get(const std::string& name) {
  auto it = Fixtures().find(name);
  if (it == Fixtures().end()) {
    ADD_FAILURE() << "no fixture " << name;
    static const Fixture empty;
    return empty;
  }
  return it->second;
}

Array Input(const std::string& name, Dtype dtype = float32) {
  const Fixture& f = Get(name);
  return astype(from_host(f.values, f.shape), dtype);
}

void ExpectClose(Array actual, const std::string& name, double tolerance = 2e-5) {
  const Fixture& want = Get(name);
  ASSERT_EQ(actual.shape(), want.shape) << name;
  std::vector<double> got = astype(actual, float64).to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want.values[i], tolerance * std::max(1.0, std::abs(want.values[i])))
        << name << " element " << i;
  }
}

TEST(OpsBFixtures, Conv1dWithStridePaddingGroups) {
  ExpectClose(conv1d(Input("conv1d.x"), Input("conv1d.w"), 2, 1, 1, 2), "conv1d.out");
}

TEST(OpsBFixtures, Conv2dWithStridePaddingDilation) {
  ExpectClose(conv2d(Input("conv2d.x"), Input("conv2d.w"), {2, 1}, {1, 0}, {1, 2}), "conv2d.out");
}

TEST(OpsBFixtures, Conv2dInBFloat16ComputesInFloat) {
  // Inputs rounded to bfloat16 differ from the fixture's by up to 2^-9 relative.
  Array out =
      conv2d(Input("conv2d.x", bfloat16), Input("conv2d.w", bfloat16), {2, 1}, {1, 0}, {1, 2});
  EXPECT_EQ(out.dtype(), bfloat16);
  ExpectClose(out, "conv2d.out", 3e-2);
}

TEST(OpsBFixtures, ConvTransposeWithStridePaddingGroupsAndOutputPadding) {
  ExpectClose(
      conv_transpose1d(Input("conv_transpose1d.x"), Input("conv_transpose1d.w"), 2, 1, 1, 1, 2),
      "conv_transpose1d.out");
  ExpectClose(conv_transpose2d(Input("conv_transpose2d.x"), Input("conv_transpose2d.w"), {2, 1},
                               {0, 1}, {1, 2}, {1, 0}),
              "conv_transpose2d.out");
  // Padding past the kernel's span.
  ExpectClose(conv_transpose_general(Input("conv_transpose_cropped.x"),
                                     Input("conv_transpose_cropped.w"), {3}, {2}, {1}, {2}),
              "conv_transpose_cropped.out");
}

TEST(OpsBFixtures, LayerNormAndRmsNorm) {
  ExpectClose(fast::layer_norm(Input("norm.x"), Input("norm.w"), Input("norm.b"), 1e-5f),
              "layer_norm.out");
  ExpectClose(fast::rms_norm(Input("norm.x"), Input("norm.w"), 1e-5f), "rms_norm.out");
}

TEST(OpsBFixtures, LayerNormInFloat16KeepsTheDtype) {
  Array out = fast::layer_norm(Input("norm.x", float16), Input("norm.w"), Input("norm.b"), 1e-5f);
  EXPECT_EQ(out.dtype(), float16);
  ExpectClose(out, "layer_norm.out", 2e-2);
}

TEST(OpsBFixtures, RopeBothLayouts) {
  ExpectClose(fast::rope(Input("rope.x"), 6, false, 10000.0f, 0.5f, 3), "rope.out");
  ExpectClose(fast::rope(Input("rope.x"), 6, true, 10000.0f, 0.5f, 3), "rope_traditional.out");
}

TEST(OpsBFixtures, AttentionWithGroupedHeads) {
  Array q = Input("sdpa.q"), k = Input("sdpa.k"), v = Input("sdpa.v");
  ExpectClose(fast::scaled_dot_product_attention(q, k, v, 0.35f, "causal"), "sdpa_causal.out");
  ExpectClose(fast::scaled_dot_product_attention(q, k, v, 0.35f, "", Input("sdpa.mask")),
              "sdpa_mask.out");
}

TEST(OpsBFixtures, TakeAndTakeAlongAxisWithNegativeIndices) {
  Array x = Input("index.x");
  Array idx = Input("index.idx", int32);
  ExpectClose(take(x, idx, 0), "take.out", 0);
  ExpectClose(take_along_axis(x, idx, -2), "take_along_axis.out", 0);
}

TEST(OpsBFixtures, PutAlongAxis) {
  ExpectClose(put_along_axis(Input("index.x"), Input("put_along_axis.idx", int64),
                             Input("put_along_axis.upd"), 0),
              "put_along_axis.out", 0);
}

TEST(OpsBFixtures, SortAndArgsort) {
  ExpectClose(sort(Input("index.x"), -1), "sort.out", 0);
  ExpectClose(argsort(Input("index.x"), 0), "argsort.out", 0);
}

TEST(OpsBFixtures, Einsum) {
  Array a = Input("einsum.a"), b = Input("einsum.b"), sq = Input("einsum.sq");
  Array u = Input("einsum.u"), w = Input("einsum.w");
  ExpectClose(einsum("bij,bjk->bik", {a, b}), "einsum.bmm");
  ExpectClose(einsum("ii->i", {sq}), "einsum.diag");
  ExpectClose(einsum("ii", {sq}), "einsum.trace");
  ExpectClose(einsum("i,j->ij", {u, w}), "einsum.outer");
  ExpectClose(einsum("ijk->kji", {a}), "einsum.perm");
  ExpectClose(einsum("bij->j", {a}), "einsum.reduce");
  ExpectClose(einsum("bij,bjk,k->bi", {a, b, w}), "einsum.chain");
}

TEST(OpsBFixtures, EinsumWithEllipses) {
  Array a = Input("einsum.ea"), b = Input("einsum.eb");
  ExpectClose(einsum("...ij,...jk->...ik", {a, b}), "einsum.ellipsis_bmm");
  ExpectClose(einsum("...ij,jk", {a, take(b, 0, 0)}), "einsum.ellipsis_implicit");
  ExpectClose(einsum("...ij->...", {a}), "einsum.ellipsis_sum");
}

}  // namespace
}  // namespace ferry
