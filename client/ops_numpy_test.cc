// The part A ops against NumPy: inputs and results in testdata/opsa_numpy_cases.txt, written
// by testdata/opsa_numpy_cases.py (numpy 1.26.4). NumPy is not needed to run this test.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/ferry.h"
#include "core/dtype.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

struct Case {
  std::string name;
  Dtype dtype;
  Shape shape;
  std::vector<double> a, b;
  std::string result_dtype;
  Shape result_shape;
  std::vector<double> result;
};

std::vector<double> ParseValues(absl::string_view text) {
  std::vector<double> values;
  if (text.empty()) return values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    double v = 0;
    if (item == "nan") {
      v = NAN;
    } else if (item == "inf") {
      v = INFINITY;
    } else if (item == "-inf") {
      v = -INFINITY;
    } else {
      EXPECT_TRUE(absl::SimpleAtod(item, &v)) << item;
    }
    values.push_back(v);
  }
  return values;
}

Shape ParseShape(absl::string_view text) {
  Shape shape;
  for (double d : ParseValues(text)) shape.push_back(static_cast<int64_t>(d));
  return shape;
}

Dtype ParseDtype(absl::string_view name) {
  std::optional<Dtype> dtype = core::DTypeFromName(std::string_view(name.data(), name.size()));
  if (!dtype.has_value()) ADD_FAILURE() << "unknown dtype " << name;
  return dtype.value_or(float32);
}

std::vector<Case> ReadCases() {
  std::string path = "client/testdata/opsa_numpy_cases.txt";
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    path = std::string(srcdir) + "/ferry/" + path;
  }
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot read " << path;
  std::vector<Case> cases;
  std::string line;
  while (std::getline(file, line)) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ';');
    if (f.size() != 8) {
      ADD_FAILURE() << "bad line: " << line;
      continue;
    }
    cases.push_back({std::string(f[0]), ParseDtype(f[1]), ParseShape(f[2]), ParseValues(f[3]),
                     ParseValues(f[4]), std::string(f[5]), ParseShape(f[6]), ParseValues(f[7])});
  }
  return cases;
}

using Build = std::function<Array(const Array& a, const Array& b)>;

Array Z(const Array& re, const Array& im) { return complex(re, im); }
// A complex64 array's float32 (real, imaginary) pairs, as NumPy's .view(np.float32).
Array Pairs(const Array& z) { return view(z, float32); }

// The ferry call that matches each case's NumPy call in the generator.
const std::map<std::string, Build>& Builds() {
  static const auto* builds = new std::map<std::string, Build>{
      {"square", [](const Array& a, const Array&) { return square(a); }},
      // complex64: z = a + ib, w = b + ia; complex results compared as float32 pairs.
      {"complex_multiply", [](const Array& a, const Array& b) { return Pairs(Z(a, b) * Z(b, a)); }},
      {"complex_divide", [](const Array& a, const Array& b) { return Pairs(Z(a, b) / Z(b, a)); }},
      {"complex_exp", [](const Array& a, const Array& b) { return Pairs(exp(Z(a, b))); }},
      {"complex_log", [](const Array& a, const Array& b) { return Pairs(log(Z(a, b))); }},
      {"complex_sqrt", [](const Array& a, const Array& b) { return Pairs(sqrt(Z(a, b))); }},
      {"complex_abs", [](const Array& a, const Array& b) { return abs(Z(a, b)); }},
      {"complex_sum", [](const Array& a, const Array& b) { return Pairs(sum(Z(a, b), 1)); }},
      {"complex_mean", [](const Array& a, const Array& b) { return Pairs(mean(Z(a, b), 0)); }},
      {"complex_conjugate", [](const Array& a, const Array& b) { return Pairs(conjugate(Z(a, b))); }},
      {"complex_astype_float32",
       [](const Array& a, const Array& b) { return astype(Z(a, b), float32); }},
      {"complex_matmul",
       [](const Array& a, const Array& b) { return Pairs(matmul(Z(a, b), Z(b, a))); }},
      {"fft", [](const Array& a, const Array& b) { return Pairs(fft::fft(Z(a, b))); }},
      {"ifft", [](const Array& a, const Array& b) { return Pairs(fft::ifft(Z(a, b))); }},
      {"fft_n_axis0", [](const Array& a, const Array& b) { return Pairs(fft::fft(Z(a, b), 5, 0)); }},
      {"fft_cut", [](const Array& a, const Array& b) { return Pairs(fft::fft(Z(a, b), 6, -1)); }},
      {"fft2", [](const Array& a, const Array& b) { return Pairs(fft::fft2(Z(a, b))); }},
      {"ifftn", [](const Array& a, const Array& b) { return Pairs(fft::ifftn(Z(a, b))); }},
      {"fft_ortho",
       [](const Array& a, const Array& b) {
         return Pairs(fft::fft(Z(a, b), -1, fft::FFTNorm::kOrtho));
       }},
      {"ifft_forward",
       [](const Array& a, const Array& b) {
         return Pairs(fft::ifft(Z(a, b), -1, fft::FFTNorm::kForward));
       }},
      {"rfft", [](const Array& a, const Array&) { return Pairs(fft::rfft(a)); }},
      {"rfft_n", [](const Array& a, const Array&) { return Pairs(fft::rfft(a, 12, -1)); }},
      {"rfft2", [](const Array& a, const Array&) { return Pairs(fft::rfft2(a)); }},
      {"rfftn_ortho",
       [](const Array& a, const Array&) { return Pairs(fft::rfftn(a, fft::FFTNorm::kOrtho)); }},
      {"irfft", [](const Array& a, const Array& b) { return fft::irfft(Z(a, b)); }},
      {"irfft_odd", [](const Array& a, const Array& b) { return fft::irfft(Z(a, b), 9, -1); }},
      {"irfft2", [](const Array& a, const Array& b) { return fft::irfft2(Z(a, b)); }},
      {"irfftn_s",
       [](const Array& a, const Array& b) { return fft::irfftn(Z(a, b), {4, 6}, {-2, -1}); }},
      {"rfft_prime", [](const Array& a, const Array&) { return Pairs(fft::rfft(a)); }},
      {"fftshift", [](const Array& a, const Array&) { return fft::fftshift(a); }},
      {"ifftshift_axis", [](const Array& a, const Array&) { return fft::ifftshift(a, {1}); }},
      {"square_int", [](const Array& a, const Array&) { return square(a); }},
      {"add_int", [](const Array& a, const Array& b) { return a + b; }},
      {"subtract_int", [](const Array& a, const Array& b) { return a - b; }},
      {"multiply_int", [](const Array& a, const Array& b) { return a * b; }},
      {"abs_int", [](const Array& a, const Array&) { return abs(a); }},
      {"maximum_int", [](const Array& a, const Array& b) { return maximum(a, b); }},
      {"minimum_int", [](const Array& a, const Array& b) { return minimum(a, b); }},
      {"sort_int", [](const Array& a, const Array&) { return sort(a, -1); }},
      {"astype_float32", [](const Array& a, const Array&) { return astype(a, float32); }},
      {"isfinite", [](const Array& a, const Array&) { return isfinite(a); }},
      {"isposinf", [](const Array& a, const Array&) { return isposinf(a); }},
      {"isneginf", [](const Array& a, const Array&) { return isneginf(a); }},
      {"trunc", [](const Array& a, const Array&) { return trunc(a); }},
      {"degrees", [](const Array& a, const Array&) { return degrees(a); }},
      {"radians", [](const Array& a, const Array&) { return radians(a); }},
      {"flip", [](const Array& a, const Array&) { return flip(a); }},
      {"flip_axes", [](const Array& a, const Array&) { return flip(a, {0, 2}); }},
      {"median", [](const Array& a, const Array&) { return median(a, {0, 2}); }},
      {"median_even", [](const Array& a, const Array&) { return median(a, 1); }},
      {"median_all", [](const Array& a, const Array&) { return median(a); }},
      {"trace", [](const Array& a, const Array&) { return trace(a, 1, 2, 0); }},
      {"atleast_3d", [](const Array& a, const Array&) { return atleast_3d(a); }},
      {"matrix_transpose", [](const Array& a, const Array&) { return matrix_transpose(a); }},
      {"hanning", [](const Array&, const Array&) { return hanning(9); }},
      {"hamming", [](const Array&, const Array&) { return hamming(8); }},
      {"blackman", [](const Array&, const Array&) { return blackman(7); }},
      {"bartlett", [](const Array&, const Array&) { return bartlett(6); }},
      {"floor", [](const Array& a, const Array&) { return floor(a); }},
      {"ceil", [](const Array& a, const Array&) { return ceil(a); }},
      {"round", [](const Array& a, const Array&) { return round(a); }},
      {"sign", [](const Array& a, const Array&) { return sign(a); }},
      {"log1p", [](const Array& a, const Array&) { return log1p(a); }},
      {"log2", [](const Array& a, const Array&) { return log2(a); }},
      {"log10", [](const Array& a, const Array&) { return log10(a); }},
      {"expm1", [](const Array& a, const Array&) { return expm1(a); }},
      {"isnan", [](const Array& a, const Array&) { return isnan(a); }},
      {"isinf", [](const Array& a, const Array&) { return isinf(a); }},
      {"logical_not", [](const Array& a, const Array&) { return logical_not(a); }},
      {"bitwise_invert", [](const Array& a, const Array&) { return bitwise_invert(a); }},
      {"arctan2", [](const Array& a, const Array& b) { return arctan2(a, b); }},
      {"logaddexp", [](const Array& a, const Array& b) { return logaddexp(a, b); }},
      {"remainder", [](const Array& a, const Array& b) { return remainder(a, b); }},
      {"remainder_int", [](const Array& a, const Array& b) { return remainder(a, b); }},
      {"floor_divide", [](const Array& a, const Array& b) { return floor_divide(a, b); }},
      {"not_equal", [](const Array& a, const Array& b) { return not_equal(a, b); }},
      {"less_equal", [](const Array& a, const Array& b) { return less_equal(a, b); }},
      {"greater_equal", [](const Array& a, const Array& b) { return greater_equal(a, b); }},
      {"bitwise_and", [](const Array& a, const Array& b) { return bitwise_and(a, b); }},
      {"bitwise_or", [](const Array& a, const Array& b) { return bitwise_or(a, b); }},
      {"bitwise_xor", [](const Array& a, const Array& b) { return bitwise_xor(a, b); }},
      {"left_shift", [](const Array& a, const Array& b) { return left_shift(a, b); }},
      {"right_shift", [](const Array& a, const Array& b) { return right_shift(a, b); }},
      {"cumsum", [](const Array& a, const Array&) { return cumsum(a, 1); }},
      {"cumsum_int", [](const Array& a, const Array&) { return cumsum(a, 1); }},
      {"cumprod", [](const Array& a, const Array&) { return cumprod(a, 1); }},
      {"cummax", [](const Array& a, const Array&) { return cummax(a, 1); }},
      {"cummin", [](const Array& a, const Array&) { return cummin(a, 1); }},
      {"logcumsumexp", [](const Array& a, const Array&) { return logcumsumexp(a, 1); }},
      {"all", [](const Array& a, const Array&) { return all(a, 1); }},
      {"any", [](const Array& a, const Array&) { return any(a, 1); }},
      {"var", [](const Array& a, const Array&) { return var(a, 1, false, 1); }},
      {"std", [](const Array& a, const Array&) { return std(a, 1, false, 1); }},
      {"tile",
       [](const Array& a, const Array&) {
         return tile(a, {2, 1, 2});
       }},
      {"repeat", [](const Array& a, const Array&) { return repeat(a, 2, 1); }},
      {"roll",
       [](const Array& a, const Array&) {
         return roll(a, {1, -5}, {0, 2});
       }},
      {"pad",
       [](const Array& a, const Array&) {
         return pad(a, {{0, 1}, {2, 0}, {1, 1}}, -1);
       }},
      {"moveaxis", [](const Array& a, const Array&) { return moveaxis(a, 0, -1); }},
      {"swapaxes", [](const Array& a, const Array&) { return swapaxes(a, 0, 2); }},
      {"stack",
       [](const Array& a, const Array&) {
         return stack({a, a + 100}, 2);
       }},
      {"split", [](const Array& a, const Array&) { return split(a, Shape{1, 3}, 2)[1]; }},
      // Part C, composed of the ops above.
      {"tan", [](const Array& a, const Array&) { return tan(a); }},
      {"arcsin", [](const Array& a, const Array&) { return arcsin(a); }},
      {"arccos", [](const Array& a, const Array&) { return arccos(a); }},
      {"arctan", [](const Array& a, const Array&) { return arctan(a); }},
      {"arctanh", [](const Array& a, const Array&) { return arctanh(a); }},
      {"sinh", [](const Array& a, const Array&) { return sinh(a); }},
      {"cosh", [](const Array& a, const Array&) { return cosh(a); }},
      {"arcsinh", [](const Array& a, const Array&) { return arcsinh(a); }},
      {"arccosh", [](const Array& a, const Array&) { return arccosh(a); }},
      {"isclose", [](const Array& a, const Array& b) { return isclose(a, b); }},
      {"isclose_equal_nan",
       [](const Array& a, const Array& b) { return isclose(a, b, 1e-5, 1e-8, true); }},
      {"allclose", [](const Array& a, const Array& b) { return allclose(a, b); }},
      {"allclose_equal_nan",
       [](const Array& a, const Array& b) { return allclose(a, b, 1e-5, 1e-8, true); }},
      {"array_equal", [](const Array& a, const Array& b) { return array_equal(a, b); }},
      {"array_equal_equal_nan",
       [](const Array& a, const Array& b) { return array_equal(a, b, true); }},
      {"nan_to_num", [](const Array& a, const Array&) { return nan_to_num(a); }},
      {"nan_to_num_values",
       [](const Array& a, const Array&) { return nan_to_num(a, -1, 7.0, -7.0); }},
      {"tril", [](const Array& a, const Array&) { return tril(a, 1); }},
      {"triu", [](const Array& a, const Array&) { return triu(a, -1); }},
      {"eye", [](const Array&, const Array&) { return eye(3, 5, 1); }},
      {"tri", [](const Array&, const Array&) { return tri(4, 3, -1); }},
      {"linspace", [](const Array&, const Array&) { return linspace(-1, 2, 7); }},
      {"outer", [](const Array& a, const Array& b) { return outer(a, b); }},
      {"inner", [](const Array& a, const Array& b) { return inner(a, b); }},
      {"tensordot", [](const Array& a, const Array& b) { return tensordot(a, b, {0}, {0}); }},
      {"tensordot_all", [](const Array& a, const Array& b) { return tensordot(a, b); }},
      {"diagonal", [](const Array& a, const Array&) { return diagonal(a, 1, 2, 0); }},
      {"diagonal_below", [](const Array& a, const Array&) { return diagonal(a, -2); }},
      {"diag_vector", [](const Array& a, const Array&) { return diag(a, -1); }},
      {"diag_matrix", [](const Array& a, const Array&) { return diag(a, 2); }},
      {"kron", [](const Array& a, const Array& b) { return kron(a, b); }},
      {"meshgrid_xy",
       [](const Array& a, const Array& b) { return meshgrid({a, slice(b, {0}, {4})})[0]; }},
      {"meshgrid_ij",
       [](const Array& a, const Array& b) {
         return meshgrid({a, slice(b, {0}, {4})}, false, "ij")[1];
       }},
      {"norm", [](const Array& a, const Array&) { return linalg::norm(a); }},
      {"norm_vector_3",
       [](const Array& a, const Array&) { return linalg::norm(a, 3.0, std::vector<int>{1}); }},
      {"norm_vector_inf",
       [](const Array& a, const Array&) {
         return linalg::norm(a, std::numeric_limits<double>::infinity(), std::vector<int>{-1});
       }},
      {"norm_vector_0",
       [](const Array& a, const Array&) { return linalg::norm(a, 0.0, std::vector<int>{0}); }},
      {"norm_matrix_1",
       [](const Array& a, const Array&) { return linalg::norm(a, 1.0, std::vector<int>{1, 2}); }},
      {"norm_matrix_neg_inf",
       [](const Array& a, const Array&) {
         return linalg::norm(a, -std::numeric_limits<double>::infinity(), std::vector<int>{2, 0});
       }},
      {"norm_fro", [](const Array& a, const Array&) { return linalg::norm(a, "fro"); }},
      {"linalg_inv", [](const Array& a, const Array&) { return linalg::inv(a); }},
      {"linalg_inv_float64", [](const Array& a, const Array&) { return linalg::inv(a); }},
      {"linalg_solve", [](const Array& a, const Array& b) { return linalg::solve(a, b); }},
      {"linalg_solve_triangular",
       [](const Array& a, const Array& b) { return linalg::solve_triangular(a, b); }},
      {"linalg_tri_inv_upper", [](const Array& a, const Array&) { return linalg::tri_inv(a, true); }},
      {"linalg_cholesky", [](const Array& a, const Array&) { return linalg::cholesky(a); }},
      {"linalg_cholesky_upper",
       [](const Array& a, const Array&) { return linalg::cholesky(a, true); }},
      {"linalg_cholesky_inv",
       [](const Array& a, const Array&) { return linalg::cholesky_inv(linalg::cholesky(a)); }},
      {"linalg_eigvalsh", [](const Array& a, const Array&) { return linalg::eigvalsh(a); }},
      {"linalg_eigvalsh_upper",
       [](const Array& a, const Array&) { return linalg::eigvalsh(a, "U"); }},
      {"linalg_svdvals", [](const Array& a, const Array&) { return linalg::svd(a, false)[0]; }},
      {"linalg_pinv", [](const Array& a, const Array&) { return linalg::pinv(a); }},
      {"norm_matrix_2",
       [](const Array& a, const Array&) { return linalg::norm(a, 2.0, std::vector<int>{1, 2}); }},
      {"norm_matrix_neg_2",
       [](const Array& a, const Array&) { return linalg::norm(a, -2.0, std::vector<int>{2, 0}); }},
      {"norm_nuc", [](const Array& a, const Array&) { return linalg::norm(a, "nuc"); }},
      {"linalg_cross", [](const Array& a, const Array& b) { return linalg::cross(a, b); }},
      {"view_float32_as_int32", [](const Array& a, const Array&) { return view(a, int32); }},
      {"view_float32_as_uint8", [](const Array& a, const Array&) { return view(a, uint8); }},
      {"view_float16_as_int32", [](const Array& a, const Array&) { return view(a, int32); }},
      {"linalg_det", [](const Array& a, const Array&) { return linalg::det(a); }},
      {"linalg_slogdet", [](const Array& a, const Array&) { return linalg::slogdet(a).second; }},
  };
  return *builds;
}

TEST(OpsNumpyTest, EveryCaseMatchesNumPy) {
  const std::vector<Case> cases = ReadCases();
  std::set<std::string> names;  // a name may come in several dtypes; each ferry call runs
  for (const Case& c : cases) names.insert(c.name);
  EXPECT_EQ(names.size(), Builds().size());
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.name, " (", core::DTypeName(c.dtype), ")"));
    auto build = Builds().find(c.name);
    ASSERT_NE(build, Builds().end()) << "no ferry call for case " << c.name;
    Array a = astype(from_host(c.a, c.shape), c.dtype);
    Array b = c.b.empty() ? a : astype(from_host(c.b, c.shape), c.dtype);
    Array out = build->second(a, b);
    EXPECT_EQ(core::DTypeName(out.dtype()), c.result_dtype);
    ASSERT_EQ(out.shape(), c.result_shape);
    const std::vector<double> got = astype(out, float64).to_vector<double>();
    ASSERT_EQ(got.size(), c.result.size());
    // float32 math may differ from NumPy's by an ulp or so; scans and var accumulate in
    // double here and in float32 there.
    const double tolerance = core::IsFloating(out.dtype()) ? 4e-6 : 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double want = c.result[i];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
      } else if (std::isinf(want) || tolerance == 0) {
        EXPECT_EQ(got[i], want) << "element " << i;
      } else {
        EXPECT_NEAR(got[i], want, tolerance * std::max(1.0, std::abs(want))) << "element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace ferry
