// complex64 arrays and the Fourier transforms: host data, scalars, parts, what refuses
// complex64, and the transforms' identities (NumPy's values are in ops_numpy_test.cc).

#include <cmath>
#include <complex>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/ferry.h"
#include "client/testing.h"
#include "core/dtype.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using c64 = std::complex<float>;

std::vector<c64> Ramp(int n) {
  std::vector<c64> values;
  for (int i = 0; i < n; ++i) values.push_back({std::sin(1.0f + i), 0.5f * std::cos(0.3f * i)});
  return values;
}

void ExpectNear(const std::vector<c64>& got, const std::vector<c64>& want, float tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_LT(std::abs(got[i] - want[i]), tolerance)
        << "element " << i << ": " << got[i] << " vs " << want[i];
  }
}

TEST(ComplexTest, HostDataAndScalarsRoundTrip) {
  Array z = from_host(std::vector<c64>{{1, 2}, {3, -4}}, {2});
  EXPECT_EQ(z.dtype(), complex64);
  EXPECT_EQ(z.nbytes(), 16);
  EXPECT_THAT((z * c64(0, 1)).to_vector<c64>(), ElementsAre(c64(-2, 1), c64(4, 3)));
  EXPECT_EQ((arange(2, float32) + c64(0, 1)).dtype(), complex64);
  EXPECT_EQ((z * 2.0).dtype(), complex64);  // a float number takes the array's dtype
  EXPECT_EQ(sum(z).item<c64>(), c64(4, -2));
  EXPECT_THAT(abs(z).to_vector<float>(), ElementsAre(std::sqrt(5.0f), 5.0f));
  EXPECT_THAT(zeros({2}, complex64).to_vector<c64>(), ElementsAre(c64(0), c64(0)));
}

TEST(ComplexTest, PartsConjugateAndConversions) {
  Array z = from_host(std::vector<c64>{{1, 2}, {0, -4}}, {2});
  EXPECT_THAT(real(z).to_vector<float>(), ElementsAre(1, 0));
  EXPECT_THAT(imag(z).to_vector<float>(), ElementsAre(2, -4));
  EXPECT_THAT(conjugate(z).to_vector<c64>(), ElementsAre(c64(1, -2), c64(0, 4)));
  EXPECT_THAT(astype(z, int32).to_vector<int32_t>(), ElementsAre(1, 0));  // the real part
  EXPECT_THAT(astype(z, bool_).to_vector<bool>(), ElementsAre(true, true));
  EXPECT_THAT((z == conjugate(conjugate(z))).to_vector<bool>(), ElementsAre(true, true));
  // Of a real array: itself, zeros of its dtype, itself.
  Array x = from_host(std::vector<int32_t>{5, -6}, {2});
  EXPECT_THAT(real(x).to_vector<int32_t>(), ElementsAre(5, -6));
  EXPECT_EQ(imag(x).dtype(), int32);
  EXPECT_THAT(imag(x).to_vector<int32_t>(), ElementsAre(0, 0));
  EXPECT_EQ(conjugate(x).dtype(), int32);
  EXPECT_THAT(complex(x, x).to_vector<c64>(), ElementsAre(c64(5, 5), c64(-6, -6)));
}

TEST(ComplexTest, MatmulOfComplexAndRealOperands) {
  Array a = from_host(std::vector<c64>{{1, 1}, {2, 0}, {3, 0}, {0, 4}}, {2, 2});
  Array b = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2});
  // MLX: [[7+1j, 10+2j], [3+12j, 6+16j]].
  EXPECT_THAT(matmul(a, b).to_vector<c64>(),
              ElementsAre(c64(7, 1), c64(10, 2), c64(3, 12), c64(6, 16)));
}

TEST(ComplexTest, OpsWithoutComplexKernelsSaySo) {
  Array z = from_host(std::vector<c64>{{1, 2}}, {1});
  EXPECT_THAT(BuildError([&] { maximum(z, z); }),
              HasSubstr("[maximum] does not support complex64"));
  EXPECT_THAT(BuildError([&] { sort(z); }), HasSubstr("does not support complex64"));
  EXPECT_THAT(BuildError([&] { cumsum(z, 0); }), HasSubstr("does not support complex64"));
}

TEST(FftTest, TransformsInvertEachOther) {
  for (int n : {1, 2, 5, 8, 12, 97}) {
    SCOPED_TRACE(n);
    Array z = from_host(Ramp(n), {n});
    ExpectNear(fft::ifft(fft::fft(z)).to_vector<c64>(), Ramp(n), 1e-5f);
    Array x = real(z);
    std::vector<float> back = fft::irfft(fft::rfft(x), n, -1).to_vector<float>();
    std::vector<float> want = x.to_vector<float>();
    for (int i = 0; i < n; ++i) EXPECT_NEAR(back[i], want[i], 1e-5f) << i;
  }
  Array grid = reshape(from_host(Ramp(24), {24}), {2, 3, 4});
  ExpectNear(fft::ifftn(fft::fftn(grid)).to_vector<c64>(), Ramp(24), 1e-5f);
  ExpectNear(fft::fft2(grid, {-2, -1}, fft::FFTNorm::kOrtho).to_vector<c64>(),
             (fft::fft2(grid) * (1 / std::sqrt(12.0))).to_vector<c64>(), 1e-5f);
}

TEST(FftTest, ImpulseAndConstant) {
  Array impulse = from_host(std::vector<float>{1, 0, 0, 0, 0}, {5});
  ExpectNear(fft::fft(impulse).to_vector<c64>(), std::vector<c64>(5, c64(1)), 1e-6f);
  ExpectNear(fft::rfft(ones({6}, float32)).to_vector<c64>(), {c64(6), c64(0), c64(0), c64(0)},
             1e-6f);
  EXPECT_THAT(fft::fftshift(arange(5, int32)).to_vector<int32_t>(), ElementsAre(3, 4, 0, 1, 2));
  EXPECT_THAT(fft::ifftshift(arange(5, int32)).to_vector<int32_t>(), ElementsAre(2, 3, 4, 0, 1));
}

TEST(FftTest, ShapesFollowNumPy) {
  Array x = zeros({3, 10}, float32);
  EXPECT_THAT(fft::rfft(x).shape(), ElementsAre(3, 6));
  EXPECT_THAT(fft::irfft(fft::rfft(x)).shape(), ElementsAre(3, 10));
  EXPECT_THAT(fft::fft(x, 4, 0).shape(), ElementsAre(4, 10));
  EXPECT_THAT(fft::rfft2(x, {2, 7}, {0, 1}).shape(), ElementsAre(2, 4));
  EXPECT_EQ(fft::irfft(fft::rfft(x)).dtype(), float32);
  EXPECT_EQ(fft::fft(astype(x, int32)).dtype(), complex64);
}

TEST(FftTest, GradientsAreMlxs) {
  // mx.grad of these functions, printed by MLX 0.32 (the cotangent is dL/dRe + i dL/dIm).
  Array z = from_host(std::vector<c64>{{1, 2}, {3, -1}, {0.5f, 0.25f}, {-2, 1}}, {4});
  Array w = from_host(std::vector<c64>{{0.3f, -1}, {2, 0.5f}, {-1, 1}, {0.7f, 0.2f}}, {4});
  Array ramp = arange(1, 7, float32);
  auto grad_of = [](auto f, const Array& x) { return grad(f)(x); };
  ExpectNear(grad_of([&](const Array& v) { return sum(imag(v) * slice(ramp, {0}, {4})); }, z)
                 .to_vector<c64>(),
             {c64(0, 1), c64(0, 2), c64(0, 3), c64(0, 4)}, 1e-6f);
  ExpectNear(
      grad_of([&](const Array& v) { return sum(real(conjugate(v) * w)); }, z).to_vector<c64>(),
      w.to_vector<c64>(), 1e-6f);
  ExpectNear(
      grad_of([&](const Array& v) { return sum(real(fft::fft(v) * w)); }, z).to_vector<c64>(),
      {c64(2, -0.7f), c64(1.6f, 3.3f), c64(-3.4f, 0.7f), c64(1, 0.7f)}, 1e-5f);
  ExpectNear(
      grad_of([&](const Array& v) { return sum(real(fft::ifft(v) * w)); }, z).to_vector<c64>(),
      {c64(0.5f, -0.175f), c64(0.25f, 0.175f), c64(-0.85f, 0.175f), c64(0.4f, 0.825f)}, 1e-5f);
  ExpectNear(grad_of([&](const Array& v) { return sum(fft::irfft(v) * ramp); }, z).to_vector<c64>(),
             {c64(3.5f), c64(-1, 1.73205f), c64(-1, 0.57735f), c64(-0.5f)}, 1e-5f);
  ExpectNear(grad_of([&](const Array& v) { return sum(real(v * w * v)); }, z).to_vector<c64>(),
             {c64(4.6f, 0.8f), c64(13, 1), c64(-1.5f, -0.5f), c64(-3.2f, -0.6f)}, 1e-5f);
  ExpectNear(
      grad_of([&](const Array& v) { return sum(imag(w / v)); }, z).to_vector<c64>(),
      {c64(-0.072f, 0.196f), c64(-0.16f, -0.13f), c64(-4.48f, -0.64f), c64(-0.136f, -0.052f)},
      1e-5f);
  ExpectNear(grad_of([&](const Array& v) { return sum(real(exp(v) * w)); }, z).to_vector<c64>(),
             {c64(2.13237f, -1.87272f), c64(30.1552f, 28.3767f), c64(-2.00537f, -1.18957f),
              c64(0.0284092f, -0.0943409f)},
             1e-4f);
  ExpectNear(grad_of([&](const Array& v) { return sum(abs(v) * slice(ramp, {0}, {4})); }, z)
                 .to_vector<c64>(),
             {c64(0.447214f, 0.894427f), c64(1.89737f, -0.632456f), c64(2.68328f, 1.34164f),
              c64(-3.57771f, 1.78885f)},
             1e-5f);
  ExpectNear(
      grad_of([&](const Array& v) { return sum(real(sqrt(v) * w + log(v))); }, z).to_vector<c64>(),
      {c64(0.109541f, 0.737169f), c64(0.832561f, -0.328847f), c64(1.10279f, -0.00449586f),
       c64(-0.281139f, 0.412433f)},
      1e-5f);
  ExpectNear(grad_of(
                 [&](const Array& v) {
                   return sum(real(matmul(reshape(v, {2, 2}), reshape(w, {2, 2}))));
                 },
                 z)
                 .to_vector<c64>(),
             {c64(2.3f, 0.5f), c64(-0.3f, -1.2f), c64(2.3f, 0.5f), c64(-0.3f, -1.2f)}, 1e-5f);
  Array x = from_host(std::vector<float>{1, 2, -1, 0.5f, 3}, {5});
  std::vector<float> rfft_grad =
      grad_of([&](const Array& v) { return sum(real(fft::rfft(v) * slice(w, {0}, {3}))); }, x)
          .to_vector<float>();
  const std::vector<float> want = {1.3f, 2.79036f, -2.28421f, -0.969887f, 0.663738f};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(rfft_grad[i], want[i], 1e-5f) << i;
}

// stft_mlx_cases.txt: name -> (shape, values), complex64 arrays as float32 pairs.
std::map<std::string, std::pair<Shape, std::vector<float>>> ReadStftCases() {
  std::string path = "client/testdata/stft_mlx_cases.txt";
  if (const char* srcdir = std::getenv("TEST_SRCDIR"))
    path = std::string(srcdir) + "/ferry/" + path;
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot read " << path;
  std::map<std::string, std::pair<Shape, std::vector<float>>> cases;
  std::string line;
  while (std::getline(file, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ';');
    if (fields.size() != 4) continue;
    Shape shape;
    for (absl::string_view d : absl::StrSplit(fields[2], ',', absl::SkipEmpty())) {
      shape.push_back(std::stoll(std::string(d)));
    }
    std::vector<float> values;
    for (absl::string_view v : absl::StrSplit(fields[3], ','))
      values.push_back(std::stof(std::string(v)));
    cases[fields[0]] = {shape, values};
  }
  return cases;
}

void ExpectMatches(const Array& got, const std::pair<Shape, std::vector<float>>& want,
                   float tolerance) {
  Array values = core::IsComplex(got.dtype()) ? view(got, float32) : got;
  ASSERT_EQ(values.shape(), want.first);
  const std::vector<float> actual = values.to_vector<float>();
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], want.second[i], tolerance) << "element " << i;
  }
}

TEST(FftTest, StftAndIstftAreMlxs) {
  const auto cases = ReadStftCases();
  ASSERT_EQ(cases.size(), 13u);
  auto input = [&](const std::string& name) {
    const auto& [shape, values] = cases.at(name);
    return from_host(values, shape);
  };
  const Array hann6 =
      from_host(std::vector<float>{0, 0.3454915f, 0.9045085f, 0.9045085f, 0.3454915f, 0}, {6});
  {
    SCOPED_TRACE("hann_reflect");
    Array S = fft::stft(input("hann_reflect/x"), 8, 3, 6, hann6);
    ExpectMatches(S, cases.at("hann_reflect/S"), 1e-5f);
    ExpectMatches(fft::istft(S, 8, 3, 6, hann6), cases.at("hann_reflect/y"), 1e-5f);
  }
  {
    SCOPED_TRACE("plain_uncentered");
    Array S = fft::stft(input("plain_uncentered/x"), 8, 2, std::nullopt, std::nullopt, false);
    ExpectMatches(S, cases.at("plain_uncentered/S"), 1e-5f);
    ExpectMatches(fft::istft(S, std::nullopt, 2, std::nullopt, std::nullopt, false,
                             fft::FFTNorm::kBackward, std::nullopt, 15),
                  cases.at("plain_uncentered/y"), 1e-5f);
  }
  {
    SCOPED_TRACE("odd_edge");
    const Array hann5 = slice(hann6, {0}, {5});
    Array S = fft::stft(input("odd_edge/x"), 7, 3, 5, hann5, true, "edge");
    ExpectMatches(S, cases.at("odd_edge/S"), 1e-5f);
    ExpectMatches(fft::istft(S, 7, 3, 5, hann5, true, fft::FFTNorm::kBackward, std::nullopt, 25),
                  cases.at("odd_edge/y"), 1e-5f);
  }
  {
    SCOPED_TRACE("complex_constant");
    Array z = complex(input("complex_constant/x_re"), input("complex_constant/x_im"));
    Array S =
        fft::stft(z, 4, 2, std::nullopt, std::nullopt, true, "constant", fft::FFTNorm::kOrtho);
    ExpectMatches(S, cases.at("complex_constant/S"), 1e-5f);
    ExpectMatches(fft::istft(S, std::nullopt, 2, std::nullopt, std::nullopt, true,
                             fft::FFTNorm::kOrtho, false),
                  cases.at("complex_constant/y"), 1e-5f);
  }
  Array x = zeros({2, 10}, float32);
  EXPECT_THAT(BuildError([&] { fft::stft(x, 8, 0); }),
              HasSubstr("[stft] needs n_fft >= 1, hop_length >= 1 and 1 <= win_length <= n_fft"));
  EXPECT_THAT(BuildError([&] { fft::stft(x, 8, 2, 4, ones({5}, float32)); }),
              HasSubstr("[stft] needs a window of shape (4,), got (5,)."));
  EXPECT_THAT(BuildError([&] { fft::stft(x, 32); }),
              HasSubstr("[stft] reflect padding of n_fft / 2 = 16 needs more than 16 samples"));
  EXPECT_THAT(BuildError([&] { fft::stft(x, 4, 1, 4, std::nullopt, true, "wrap"); }),
              HasSubstr("[stft] pad_mode must be"));
}

TEST(FftTest, BadArgumentsThrowAtTheCall) {
  Array x = zeros({3, 10}, float32);
  EXPECT_THAT(BuildError([&] { fft::rfft(astype(x, complex64)); }),
              HasSubstr("[rfftn] needs a real input, got complex64."));
  EXPECT_THAT(BuildError([&] { fft::fft(zeros({}, float32)); }),
              HasSubstr("[fftn] needs an array of at least one dimension."));
  EXPECT_THAT(BuildError([&] {
                fft::fftn(x, {4}, {0, 1});
              }),
              HasSubstr("[fftn] got 1 lengths for 2 axes; they must match."));
  EXPECT_THAT(BuildError([&] { fft::fft(x, 0, -1); }),
              HasSubstr("[fftn] needs transform lengths of at least 1, got (0,)."));
  EXPECT_THAT(BuildError([&] { fft::fft2(x, {0, 0}); }), HasSubstr("[fftn]"));
  EXPECT_THAT(BuildError([&] { fft::fft(x, 2); }), HasSubstr("out of range"));
}

}  // namespace
}  // namespace ferry
