#include "tests/remote_op_cases.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "gtest/gtest.h"

namespace ferry::testing {
namespace {

double OtherKernelsTolerance(Dtype dtype) {
  switch (dtype) {
    case Dtype::kFloat64:
      return 1e-11;
    case Dtype::kFloat32:
    case Dtype::kComplex64:  // each part, as float32
      return 1e-5;
    case Dtype::kFloat16:
      return 2e-3;
    case Dtype::kBFloat16:
      return 1.6e-2;
    default:
      return 0;  // bool and integers
  }
}

}  // namespace

std::vector<double> Values(Array a) {
  auto widen = [](const auto& values) { return std::vector<double>(values.begin(), values.end()); };
  switch (a.dtype()) {
    case Dtype::kBool:
      return widen(a.to_vector<bool>());
    case Dtype::kUInt8:
      return widen(a.to_vector<uint8_t>());
    case Dtype::kUInt16:
      return widen(a.to_vector<uint16_t>());
    case Dtype::kUInt32:
      return widen(a.to_vector<uint32_t>());
    case Dtype::kUInt64:
      return widen(a.to_vector<uint64_t>());
    case Dtype::kInt8:
      return widen(a.to_vector<int8_t>());
    case Dtype::kInt16:
      return widen(a.to_vector<int16_t>());
    case Dtype::kInt32:
      return widen(a.to_vector<int32_t>());
    case Dtype::kInt64:
      return widen(a.to_vector<int64_t>());
    case Dtype::kFloat16: {
      std::vector<double> out;
      for (float16_t v : a.to_vector<float16_t>()) out.push_back(static_cast<float>(v));
      return out;
    }
    case Dtype::kBFloat16: {
      std::vector<double> out;
      for (bfloat16_t v : a.to_vector<bfloat16_t>()) out.push_back(static_cast<float>(v));
      return out;
    }
    case Dtype::kFloat32:
      return widen(a.to_vector<float>());
    case Dtype::kFloat64:
      return widen(a.to_vector<double>());
    case Dtype::kComplex64: {  // real, imaginary, real, ...
      std::vector<double> out;
      for (std::complex<float> v : a.to_vector<std::complex<float>>()) {
        out.push_back(v.real());
        out.push_back(v.imag());
      }
      return out;
    }
  }
  return {};
}

const std::map<std::string, OpCase>& CoreOpCases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"full", {true, [](Inputs& in) { return full({3, 4}, 2.5, float16, in.device()); }}},
      {"arange", {true, [](Inputs& in) { return arange(-3, 7, 0.5, float32, in.device()); }}},
      {"random_uniform",
       {true,
        [](Inputs& in) {
          return random::uniform({64}, float32, -1, 2, random::key(5), in.device());
        }}},
      {"random_normal",
       {true,
        [](Inputs& in) {
          return random::normal({8, 8}, float32, 1, 3, random::key(6), in.device());
        }}},
      {"neg", {true, [](Inputs& in) { return -in.Ints({3, 4}, int32, -9, 9); }}},
      {"abs", {true, [](Inputs& in) { return abs(in.Uniform({3, 4}, float32, -2, 2)); }}},
      {"exp", {true, [](Inputs& in) { return exp(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"log", {true, [](Inputs& in) { return log(in.Uniform({3, 4}, float32, 0.01, 9)); }}},
      {"sqrt", {false, [](Inputs& in) { return sqrt(in.Uniform({3, 4}, float64, 0, 9)); }}},
      {"rsqrt", {true, [](Inputs& in) { return rsqrt(in.Uniform({3, 4}, float32, 0.1, 9)); }}},
      {"sin", {true, [](Inputs& in) { return sin(in.Uniform({3, 4}, float32, -6, 6)); }}},
      {"cos", {true, [](Inputs& in) { return cos(in.Uniform({3, 4}, float32, -6, 6)); }}},
      {"tanh", {true, [](Inputs& in) { return tanh(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"sigmoid",
       {true, [](Inputs& in) { return sigmoid(in.Uniform({3, 4}, float32, -5, 5)); }}},
      {"relu", {true, [](Inputs& in) { return relu(in.Uniform({3, 4}, float16, -2, 2)); }}},
      {"gelu", {true, [](Inputs& in) { return gelu(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"erf", {true, [](Inputs& in) { return erf(in.Uniform({3, 4}, float32, -2, 2)); }}},
      {"add",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) + in.Uniform({4}, float32, -1, 1);
        }}},
      {"sub",
       {true,
        [](Inputs& in) { return in.Ints({2, 3}, int64, -99, 99) - in.Ints({2, 1}, int64, 0, 9); }}},
      {"mul", {true, [](Inputs& in) { return in.Uniform({5}, float16, -2, 2) * 1.5; }}},
      {"div",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) / in.Uniform({3, 4}, float32, 0.5, 2);
        }}},
      {"pow",
       {true,
        [](Inputs& in) {
          return power(in.Uniform({3, 4}, float32, 0.1, 3), in.Uniform({3, 4}, float32, -2, 2));
        }}},
      {"maximum",
       {true,
        [](Inputs& in) {
          return maximum(in.Ints({3, 4}, int32, -5, 5), in.Ints({3, 4}, int32, -5, 5));
        }}},
      {"minimum",
       {true,
        [](Inputs& in) { return minimum(in.Uniform({3, 4}, float32, -1, 1), 0.25f); }}},
      {"equal",
       {true,
        [](Inputs& in) { return in.Ints({3, 4}, int32, 0, 2) == in.Ints({4}, int32, 0, 2); }}},
      {"less",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) < in.Uniform({3, 4}, float32, -1, 1);
        }}},
      {"greater",
       {true, [](Inputs& in) { return in.Ints({3, 4}, uint8, 0, 255) > 128; }}},
      {"logical_and", {true, [](Inputs& in) { return in.Bools({3, 4}) && in.Bools({3, 4}); }}},
      {"logical_or", {true, [](Inputs& in) { return in.Bools({3, 4}) || in.Bools({1, 4}); }}},
      {"where",
       {true,
        [](Inputs& in) {
          return where(in.Bools({3, 4}), in.Uniform({3, 4}, float32, -1, 1),
                       in.Uniform({4}, float32, 5, 6));
        }}},
      {"astype",
       {true, [](Inputs& in) { return astype(in.Uniform({3, 4}, float32, -99, 99), int32); }}},
      {"sum",
       {false, [](Inputs& in) { return sum(in.Uniform({4, 5, 6}, float32, -1, 1), {0, -1}); }}},
      {"prod",
       {false, [](Inputs& in) { return prod(in.Uniform({4, 5}, float32, 0.5, 1.5), 1, true); }}},
      {"mean",
       {false, [](Inputs& in) { return mean(in.Uniform({4, 5, 6}, float64, -1, 1), 1); }}},
      {"max", {true, [](Inputs& in) { return max(in.Uniform({4, 5}, float32, -1, 1), 0); }}},
      {"min", {true, [](Inputs& in) { return min(in.Ints({4, 5}, int32, -50, 50)); }}},
      {"argmax",
       {true, [](Inputs& in) { return argmax(in.Uniform({4, 5}, float32, -1, 1), -1); }}},
      {"argmin",
       {true, [](Inputs& in) { return argmin(in.Ints({4, 5}, int64, -9, 9), 0, true); }}},
      {"matmul",
       {false,
        [](Inputs& in) {
          return matmul(in.Uniform({2, 8, 16}, float32, -1, 1), in.Uniform({16, 4}, float32, -1, 1));
        }}},
      {"reshape",
       {true, [](Inputs& in) { return reshape(in.Ints({4, 6}, int32, 0, 99), {2, -1, 3}); }}},
      {"depends",
       {true,
        [](Inputs& in) {
          Array x = in.Uniform({3, 4}, float32, -1, 1);
          return depends({x}, {in.Ints({5}, int32, 0, 9), exp(x)})[0] * 2.0;
        }}},
      {"transpose",
       {true,
        [](Inputs& in) { return transpose(in.Ints({2, 3, 4}, int32, 0, 99), {2, 0, 1}); }}},
      {"broadcast_to",
       {true, [](Inputs& in) { return broadcast_to(in.Bools({3, 1}), {2, 3, 4}); }}},
      {"slice",
       {true,
        [](Inputs& in) {
          return slice(in.Ints({6, 7}, int32, 0, 99), {-1, 1}, {-100, 6}, {-2, 2});
        }}},
      {"concatenate",
       {true,
        [](Inputs& in) {
          return concatenate({in.Uniform({2, 3}, float32, -1, 1), in.Ints({2, 1}, int32, 0, 9)},
                             1);
        }}},
      {"softmax",
       {false, [](Inputs& in) { return softmax(in.Uniform({4, 10}, float32, -5, 5), -1); }}},
      {"logsumexp",
       {false, [](Inputs& in) { return logsumexp(in.Uniform({4, 10}, float32, -5, 5), 1); }}},
      // ---- part A: elementwise, all/any, scans ----
      {"square", {true, [](Inputs& in) { return square(in.Ints({3, 4}, int32, -99, 99)); }}},
      {"log1p", {true, [](Inputs& in) { return log1p(in.Uniform({3, 4}, float32, 0, 9)); }}},
      {"expm1", {true, [](Inputs& in) { return expm1(in.Uniform({3, 4}, float16, -2, 2)); }}},
      {"log2", {true, [](Inputs& in) { return log2(in.Uniform({3, 4}, float32, 0.1, 9)); }}},
      {"log10", {true, [](Inputs& in) { return log10(in.Ints({3, 4}, int32, 1, 999)); }}},
      {"floor", {true, [](Inputs& in) { return floor(in.Uniform({3, 4}, bfloat16, -9, 9)); }}},
      {"ceil", {true, [](Inputs& in) { return ceil(in.Uniform({3, 4}, float32, -9, 9)); }}},
      {"round",
       {true, [](Inputs& in) { return round(in.Uniform({3, 4}, float32, -9, 9) * 2.0f); }}},
      {"sign", {true, [](Inputs& in) { return sign(in.Ints({3, 4}, int64, -2, 2)); }}},
      {"isnan",
       {true, [](Inputs& in) { return isnan(log(in.Uniform({3, 4}, float32, -1, 1))); }}},
      {"isinf",
       {true, [](Inputs& in) { return isinf(1.0f / in.Ints({3, 4}, int32, 0, 2)); }}},
      {"logical_not", {true, [](Inputs& in) { return logical_not(in.Ints({3, 4}, uint8, 0, 2)); }}},
      {"bitwise_invert",
       {true, [](Inputs& in) { return ~in.Ints({3, 4}, int32, -999, 999); }}},
      {"not_equal",
       {true,
        [](Inputs& in) { return in.Ints({3, 4}, int32, 0, 2) != in.Ints({4}, int32, 0, 2); }}},
      {"less_equal",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) <= in.Uniform({3, 1}, float32, -1, 1);
        }}},
      {"greater_equal",
       {true, [](Inputs& in) { return in.Ints({3, 4}, uint8, 0, 255) >= 128; }}},
      {"arctan2",
       {true,
        [](Inputs& in) {
          return arctan2(in.Uniform({3, 4}, float32, -1, 1), in.Uniform({4}, float32, -1, 1));
        }}},
      {"logaddexp",
       {true,
        [](Inputs& in) {
          return logaddexp(in.Uniform({3, 4}, float32, -50, 50),
                           in.Uniform({3, 4}, float32, -50, 50));
        }}},
      {"floor_divide",
       {true,
        [](Inputs& in) {
          return floor_divide(in.Ints({3, 4}, int32, -99, 99), in.Ints({4}, int32, -9, 9));
        }}},
      {"remainder",
       {true,
        [](Inputs& in) {
          return remainder(in.Uniform({3, 4}, float32, -9, 9), in.Uniform({3, 4}, float32, -3, 3));
        }}},
      {"bitwise_and",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, int64, -999, 999) & in.Ints({4}, int64, 0, 255);
        }}},
      {"bitwise_or",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, uint8, 0, 255) | in.Ints({3, 4}, uint8, 0, 255);
        }}},
      {"bitwise_xor", {true, [](Inputs& in) { return in.Bools({3, 4}) ^ in.Bools({3, 4}); }}},
      {"left_shift",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, int32, -99, 99) << in.Ints({3, 4}, int32, -1, 33);
        }}},
      {"right_shift",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, uint32, 0, 1 << 30) >> in.Ints({4}, uint32, 0, 31);
        }}},
      {"all", {true, [](Inputs& in) { return all(in.Ints({4, 5}, int32, 0, 3), 1, true); }}},
      {"any", {true, [](Inputs& in) { return any(in.Bools({4, 5, 2}), {0, -1}); }}},
      {"cumsum",
       {false, [](Inputs& in) { return cumsum(in.Uniform({4, 5}, float32, -1, 1), 1, true); }}},
      {"cumprod",
       {true, [](Inputs& in) { return cumprod(in.Ints({4, 5}, int64, -3, 3), 0, false, false); }}},
      {"cummax",
       {true, [](Inputs& in) { return cummax(in.Uniform({4, 5}, float16, -1, 1), -1); }}},
      {"cummin",
       {true, [](Inputs& in) { return cummin(in.Ints({4, 5}, int32, -9, 9), 0, true, false); }}},
      {"logcumsumexp",
       {false,
        [](Inputs& in) { return logcumsumexp(in.Uniform({4, 5}, float32, -50, 50), 1, true); }}},
      {"quantized_matmul",
       {false,
        [](Inputs& in) {
          auto [wq, scales, biases] = quantize(in.Uniform({5, 64}, float32, -1, 1), 32, 3);
          Array y = quantized_matmul(in.Uniform({2, 6, 64}, float32, -1, 1), wq, scales, biases,
                                     true, 32, 3);
          Array yt = quantized_matmul(in.Uniform({4, 5}, float32, -1, 1), wq, scales, biases, false,
                                      32, 3);
          return concatenate({flatten(y), flatten(yt)});
        }}},
      {"gather_mm",
       {false,
        [](Inputs& in) {
          // Sorted rows against transposed experts (the plan folds the transpose), and
          // unsorted pairs of matrices.
          const Array w = in.Uniform({4, 6, 16}, float32, -1, 1);
          const Array rows = gather_mm(in.Uniform({7, 1, 16}, float32, -1, 1), swapaxes(w, -1, -2),
                                       std::nullopt, sort(in.Ints({7}, int32, 0, 3)));
          const Array pairs = gather_mm(in.Uniform({3, 2, 16}, float32, -1, 1),
                                        in.Uniform({4, 16, 5}, float32, -1, 1),
                                        in.Ints({2, 3}, int64, -3, 2), in.Ints({3}, uint8, 0, 3));
          return concatenate({flatten(rows), flatten(pairs)});
        }}},
      {"gather_qmm",
       {false,
        [](Inputs& in) {
          // Sorted rows of a mixture of experts (runs of one expert), and unsorted pairs.
          auto [wq, scales, biases] = quantize(in.Uniform({4, 6, 64}, float32, -1, 1), 32, 4);
          const Array rows =
              gather_qmm(in.Uniform({9, 1, 64}, float32, -1, 1), wq, scales, biases,
                         std::nullopt, sort(in.Ints({9}, int32, 0, 3)), true, 32, 4);
          const Array pairs =
              gather_qmm(in.Uniform({3, 2, 6}, bfloat16, -1, 1), wq, scales, biases,
                         in.Ints({2, 3}, int64, -3, 2), in.Ints({3}, uint8, 0, 3), false, 32, 4);
          return concatenate({flatten(rows), flatten(astype(pairs, float32))});
        }}},
      // Linear algebra in float64 on well-conditioned matrices; vectors as absolute values,
      // since another backend may choose the other sign of each.
      {"cholesky",
       {false,
        [](Inputs& in) {
          const Array x = in.Uniform({2, 4, 4}, float64, -1, 1);
          const Array a = matmul(x, swapaxes(x, -1, -2)) + eye(4, float64, in.device()) * 4.0;
          return concatenate({linalg::cholesky(a), linalg::cholesky(a, true)});
        }}},
      {"solve",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({2, 4, 4}, float64, -1, 1) + eye(4, float64, in.device()) * 4.0;
          return linalg::solve(a, in.Uniform({2, 4, 3}, float64, -1, 1));
        }}},
      {"solve_triangular",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({4, 4}, float64, -1, 1) + eye(4, float64, in.device()) * 4.0;
          const Array b = in.Uniform({4, 2}, float64, -1, 1);
          return concatenate({linalg::solve_triangular(a, b), linalg::solve_triangular(a, b, true)});
        }}},
      {"qr",
       {false,
        [](Inputs& in) {
          auto [q, r] = linalg::qr(in.Uniform({2, 5, 3}, float64, -1, 1));
          auto [q_wide, r_wide] = linalg::qr(in.Uniform({3, 5}, float64, -1, 1));
          return concatenate({flatten(abs(q)), flatten(abs(r)), flatten(abs(q_wide)),
                              flatten(abs(r_wide))});
        }}},
      {"svd",
       {false,
        [](Inputs& in) {
          const std::vector<Array> usv = linalg::svd(in.Uniform({2, 4, 4}, float64, -1, 1));
          const Array s_only = linalg::svd(in.Uniform({3, 6}, float32, -1, 1), false)[0];
          return concatenate({flatten(abs(usv[0])), flatten(usv[1]), flatten(abs(usv[2])),
                              astype(s_only, float64)});
        }}},
      {"eigh",
       {false,
        [](Inputs& in) {
          const Array x = in.Uniform({2, 4, 4}, float64, -1, 1);
          auto [w, v] = linalg::eigh(x, "U");
          return concatenate({flatten(w), flatten(abs(v)), flatten(linalg::eigvalsh(x))});
        }}},
      {"lu",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({2, 4, 4}, float64, -1, 1);
          std::vector<Array> plu = linalg::lu(a);
          std::vector<Array> wide = linalg::lu(in.Uniform({3, 5}, float32, -1, 1));
          return concatenate({astype(flatten(plu[0]), float64), flatten(plu[1]), flatten(plu[2]),
                              linalg::det(a), astype(flatten(wide[2]), float64)});
        }}},
      {"view",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 4}, float32, -100, 100);
          return concatenate({flatten(view(x, int32)), flatten(view(view(x, uint8), int32)),
                              flatten(view(in.Ints({2, 8}, int32, -9, 9), int64))});
        }}},
      // ---- complex64 ----
      {"real",
       {true,
        [](Inputs& in) {
          return real(complex(in.Uniform({3, 4}, float32, -9, 9), in.Uniform({4}, float32, -9, 9)));
        }}},
      {"imag",
       {true,
        [](Inputs& in) {
          const Array z = complex(in.Uniform({3, 4}, float32, -9, 9), in.Uniform({3, 4}, int32, -9, 9));
          return imag(z * z - z);
        }}},
      {"conjugate",
       {false,
        [](Inputs& in) {
          const Array z = complex(in.Uniform({2, 5}, float32, -3, 3), in.Uniform({2, 5}, float32, -3, 3));
          return concatenate({flatten(exp(conjugate(z)) / (z + 2.0f)), flatten(sum(z, 0)),
                              flatten(mean(z, 1)), flatten(astype(abs(z), complex64)),
                              flatten(sqrt(where(abs(z) > 1.0f, z, log(z))))});
        }}},
      {"fft",
       {false,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 12}, float32, -1, 1);
          const Array spectrum = fft::rfft(x);
          return concatenate({flatten(fft::fft2(astype(x, complex64))), flatten(spectrum),
                              astype(flatten(fft::irfft(spectrum * spectrum, 12, -1)), complex64),
                              flatten(fft::fft(astype(x, complex64), 7, 0)),
                              flatten(fft::ifft(astype(x, complex64), 127, 1))});  // Bluestein
        }}},
      {"gated_delta",
       {false,
        [](Inputs& in) {
          // Grouped heads, a vector gate, a mask and bfloat16 values; then one decode step.
          const Array q = in.Uniform({2, 5, 1, 16}, float32, -0.25, 0.25);
          const Array k = in.Uniform({2, 5, 1, 16}, float32, -0.25, 0.25);
          auto [y, state] = fast::gated_delta_update(
              q, k, in.Uniform({2, 5, 3, 8}, bfloat16, -1, 1),
              in.Uniform({2, 5, 3, 16}, float32, 0.5, 1), in.Uniform({2, 5, 3}, float32, 0, 1),
              in.Uniform({2, 3, 8, 16}, float32, -1, 1), in.Bools({2, 5}));
          auto [y1, state1] = fast::gated_delta_update(
              in.Uniform({2, 1, 1, 16}, float16, -0.25, 0.25),
              in.Uniform({2, 1, 1, 16}, float16, -0.25, 0.25),
              in.Uniform({2, 1, 3, 8}, float16, -1, 1), in.Uniform({2, 1, 3}, float32, 0.5, 1),
              in.Uniform({2, 1, 3}, float16, 0, 1), state);
          return concatenate({flatten(astype(y, float32)), flatten(astype(y1, float32)),
                              flatten(state1)});
        }}},
      {"gated_delta_vjp",
       {false,
        [](Inputs& in) {
          // gated_delta's vjp: grouped heads, a vector gate, a mask and bfloat16 values.
          const Array mask = in.Bools({2, 5});
          auto fun = [&](const std::vector<Array>& x) {
            auto [y, state] = fast::gated_delta_update(x[0], x[1], x[2], x[3], x[4], x[5], mask);
            return std::vector<Array>{y, state};
          };
          const std::vector<Array> primals = {
              in.Uniform({2, 5, 1, 16}, float32, -0.25, 0.25),
              in.Uniform({2, 5, 1, 16}, float32, -0.25, 0.25),
              in.Uniform({2, 5, 3, 8}, bfloat16, -1, 1),
              in.Uniform({2, 5, 3, 16}, float32, 0.5, 1),
              in.Uniform({2, 5, 3}, float32, 0, 1),
              in.Uniform({2, 3, 8, 16}, float32, -1, 1)};
          const std::vector<Array> grads =
              vjp(fun, primals,
                  {in.Uniform({2, 5, 3, 8}, bfloat16, -1, 1),
                   in.Uniform({2, 3, 8, 16}, float32, -1, 1)})
                  .second;
          std::vector<Array> flat;
          for (const Array& g : grads) flat.push_back(flatten(astype(g, float32)));
          return concatenate(flat);
        }}},
      {"eig",
       {false,
        [](Inputs& in) {
          auto [values, vectors] = linalg::eig(in.Uniform({2, 5, 5}, float32, -1, 1));
          return concatenate({flatten(values), flatten(vectors),
                              linalg::eigvals(in.Uniform({4, 4}, float64, -1, 1))});
        }}},
      // ---- Ops part B ----
      {"random_bits",
       {true,
        [](Inputs& in) {
          return random::bits({3, 5}, random::key(21), in.device());
        }}},
      {"gather",
       {true,
        [](Inputs& in) {
          return gather(in.Uniform({5, 6}, float32, -1, 1),
                        {in.Ints({4, 1}, int32, -5, 4), in.Ints({3}, int64, 0, 4)}, {0, 1}, {1, 2});
        }}},
      {"scatter",
       {true,
        [](Inputs& in) {
          return scatter(in.Ints({6, 3}, int32, 0, 9), {in.Ints({4}, int32, -6, 5)},
                         in.Ints({4, 1, 3}, int32, 10, 99), {0});
        }}},
      {"scatter_add",
       {true,
        [](Inputs& in) {
          return scatter_add(in.Uniform({6}, float16, -1, 1), {in.Ints({8}, int32, 0, 5)},
                             in.Uniform({8, 1}, float16, -1, 1), {0});
        }}},
      {"scatter_prod",
       {true,
        [](Inputs& in) {
          return scatter_prod(in.Ints({2, 4}, int64, 1, 5), {in.Ints({3}, uint32, 0, 3)},
                              in.Ints({3, 2, 1}, int64, 1, 5), {1});
        }}},
      {"scatter_max",
       {true,
        [](Inputs& in) {
          return scatter_max(in.Uniform({5}, float32, -1, 1), {in.Ints({7}, int32, 0, 4)},
                             in.Uniform({7, 1}, float32, -1, 1), {0});
        }}},
      {"scatter_min",
       {true,
        [](Inputs& in) {
          return scatter_min(in.Uniform({5}, bfloat16, -1, 1), {in.Ints({7}, int32, 0, 4)},
                             in.Uniform({7, 1}, bfloat16, -1, 1), {0});
        }}},
      {"slice_update",
       {true,
        [](Inputs& in) {
          return slice_update(in.Ints({5, 6}, int32, 0, 9), in.Ints({3}, int32, 10, 19), {4, 0},
                              {0, 6}, {-2, 2});
        }}},
      {"sort",
       {true,
        [](Inputs& in) {
          return sort(in.Uniform({4, 7}, float32, -1, 1), 0);
        }}},
      {"argsort",
       {true,
        [](Inputs& in) {
          return argsort(in.Ints({3, 9}, int32, 0, 4), -1);
        }}},
      {"partition",
       {true,
        [](Inputs& in) {
          return partition(in.Uniform({3, 8}, float16, -1, 1), -3, 1);
        }}},
      {"argpartition",
       {true,
        [](Inputs& in) {
          return argpartition(in.Uniform({8, 3}, float32, -1, 1), 2, 0);
        }}},
      {"convolution",
       {false,
        [](Inputs& in) {
          return conv2d(in.Uniform({2, 7, 6, 4}, float32, -1, 1),
                        in.Uniform({6, 3, 2, 2}, float32, -1, 1), {2, 1}, {1, 1}, {1, 2}, 2);
        }}},
  };
  return *cases;
}

const std::map<std::string, OpCase>& PartBCompositeCases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"take",
       {true,
        [](Inputs& in) {
          return take(in.Ints({4, 5}, int32, 0, 99), in.Ints({2, 3}, int32, -5, 4), 1);
        }}},
      {"take_along_axis",
       {true,
        [](Inputs& in) {
          return take_along_axis(in.Uniform({4, 5}, float32, -1, 1), in.Ints({4, 2}, int32, -5, 4),
                                 -1);
        }}},
      {"put_along_axis",
       {true,
        [](Inputs& in) {
          return put_along_axis(in.Uniform({4, 5}, float32, -1, 1), in.Ints({1, 5}, int32, 0, 3),
                                in.Uniform({1, 5}, float32, 5, 6), 0);
        }}},
      {"topk",
       {true,
        [](Inputs& in) {
          return topk(in.Uniform({3, 9}, float32, -1, 1), 3);
        }}},
      {"conv1d",
       {false,
        [](Inputs& in) {
          return conv1d(in.Uniform({2, 9, 3}, float32, -1, 1),
                        in.Uniform({4, 3, 3}, float32, -1, 1), 2, 1, 1);
        }}},
      {"addmm",
       {false,
        [](Inputs& in) {
          return addmm(in.Uniform({4}, float32, -1, 1), in.Uniform({3, 5}, float32, -1, 1),
                       in.Uniform({5, 4}, float32, -1, 1), 0.5f, 2.0f);
        }}},
      {"einsum",
       {false,
        [](Inputs& in) {
          return einsum("bij,bjk,ii->bk", {in.Uniform({2, 3, 4}, float32, -1, 1),
                                           in.Uniform({2, 4, 5}, float32, -1, 1),
                                           in.Uniform({3, 3}, float32, -1, 1)});
        }}},
      {"layer_norm",
       {false,
        [](Inputs& in) {
          return fast::layer_norm(in.Uniform({3, 16}, bfloat16, -2, 2),
                                  in.Uniform({16}, float32, 0, 1), in.Uniform({16}, float32, 0, 1));
        }}},
      {"rms_norm",
       {false,
        [](Inputs& in) {
          return fast::rms_norm(in.Uniform({3, 16}, float32, -2, 2),
                                in.Uniform({16}, float32, 0, 1));
        }}},
      {"rope",
       {false,
        [](Inputs& in) {
          return fast::rope(in.Uniform({2, 3, 5, 8}, float32, -1, 1), 8, true, 10000.0f, 1.0f, 7);
        }}},
      {"scaled_dot_product_attention",
       {false,
        [](Inputs& in) {
          return fast::scaled_dot_product_attention(
              in.Uniform({1, 4, 3, 8}, float32, -1, 1), in.Uniform({1, 2, 6, 8}, float32, -1, 1),
              in.Uniform({1, 2, 6, 4}, float32, -1, 1), 0.35f, "causal");
        }}},
      {"split", {true, [](Inputs& in) { return random::split(in.Ints({2}, uint32, 0, 1000), 3); }}},
      {"bernoulli",
       {true,
        [](Inputs& in) { return random::bernoulli(0.3, {50}, random::key(31), in.device()); }}},
      {"randint",
       {true,
        [](Inputs& in) {
          return random::randint(-50, 50, {40}, int32, random::key(32), in.device());
        }}},
      {"categorical",
       {true,
        [](Inputs& in) {
          return random::categorical(in.Uniform({3, 6}, float32, -2, 2), -1, 4, random::key(33));
        }}},
  };
  return *cases;
}

const std::map<std::string, OpCase>& PartCCompositeCases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"trig",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 4}, float32, -0.9, 0.9);
          return tan(x) + arcsin(x) + arccos(x) + arctan(x) + arctanh(x);
        }}},
      {"hyperbolic",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 4}, float16, -3, 3);
          return sinh(x) + cosh(x) + arcsinh(x) + arccosh(abs(x) + 1.0);
        }}},
      {"isclose",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 4}, float32, -1, 1);
          return isclose(x, x + in.Uniform({3, 4}, float32, -1e-5, 1e-5), 1e-5, 1e-6);
        }}},
      {"allclose",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({5}, float64, -1, 1);
          return stack({allclose(x, x + 1e-9), array_equal(x, x)});
        }}},
      {"nan_to_num",
       {true,
        [](Inputs& in) {
          return nan_to_num(log(in.Uniform({3, 4}, bfloat16, -1, 1)));
        }}},
      {"median_hadamard_searchsorted",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({3, 8}, float32, -1, 1);
          const Array sorted = sort(flatten(x));
          return concatenate({median(x, 1), flatten(hadamard_transform(x)),
                              flatten(astype(searchsorted(sorted, x), float32))});
        }}},
      {"gather_mm_masked_scatter",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({3, 2, 4}, float32, -1, 1);
          const Array b = in.Uniform({5, 4, 3}, float32, -1, 1);
          const Array product =
              gather_mm(a, b, in.Ints({2, 1}, int32, 0, 2), in.Ints({4}, uint32, 0, 4));
          const Array mask = in.Uniform({2, 4, 2, 3}, float32, -1, 1) > 0.0;
          return masked_scatter(product, mask, in.Uniform({48}, float32, 5, 6));
        }}},
      {"to_fp8_from_fp8",
       {true,
        [](Inputs& in) {
          const Array codes = to_fp8(in.Uniform({4, 16}, float32, -500, 500) *
                                     in.Uniform({4, 1}, float32, 1e-4, 1));
          return from_fp8(codes, float32);
        }}},
      {"as_strided",
       {true,
        [](Inputs& in) {
          return as_strided(in.Uniform({4, 5}, float32, -1, 1), {3, 4, 2}, {5, 1, 2}, 1);
        }}},
      {"multivariate_normal",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({3, 3}, float32, -1, 1);
          const Array cov = matmul(a, transpose(a)) + eye(3, float32, in.device()) * 0.5;
          return random::multivariate_normal(in.Uniform({2, 1, 3}, float32, -1, 1), cov, {4},
                                             float32, random::key(3));
        }}},
      {"tril_triu",
       {true,
        [](Inputs& in) {
          const Array x = in.Ints({2, 3, 4}, int32, -9, 9);
          return tril(x, 1) - triu(x, -1) + eye(3, 4, 1, int32, in.device());
        }}},
      {"linspace", {true, [](Inputs& in) { return linspace(-2, 5, 9, float32, in.device()); }}},
      {"conv_transpose2d",
       {false,
        [](Inputs& in) {
          return conv_transpose2d(in.Uniform({2, 3, 4, 4}, float32, -1, 1),
                                  in.Uniform({6, 3, 2, 2}, float32, -1, 1), {2, 1}, {1, 0}, {1, 2},
                                  {1, 0}, 2);
        }}},
      {"pooling",
       {true,
        [](Inputs& in) {
          const Array x = in.Uniform({2, 5, 6, 3}, float32, -1, 1);
          return max_pool2d(x, {3, 2}, std::make_pair(2, 2), {1, 1}) +
                 avg_pool2d(x, {3, 2}, std::make_pair(2, 2), {1, 1});
        }}},
      {"diagonal_kron_norm",
       {false,
        [](Inputs& in) {
          const Array m = in.Uniform({3, 4}, float32, -1, 1);
          return concatenate({flatten(diag(diagonal(kron(m, m), 2))),
                              reshape(linalg::norm(m, 1.0), {1}),
                              flatten(linalg::norm(m, 3.0, std::vector<int>{1}, true))});
        }}},
      {"meshgrid",
       {true,
        [](Inputs& in) {
          const std::vector<Array> grid =
              meshgrid({in.Ints({4}, int32, 0, 9), in.Ints({3}, int32, 0, 9)});
          return grid[0] * 10 + grid[1];
        }}},
      {"random_more",
       {true,
        [](Inputs& in) {
          const Array key = random::key(11);
          return astype(random::permutation(6, key, in.device()), float32) +
                 random::gumbel({6}, float32, key, in.device()) +
                 random::laplace({6}, float32, 1.0, 2.0, key, in.device());
        }}},
      {"erfinv",
       {true,
        [](Inputs& in) {
          return erfinv(in.Uniform({3, 4}, float64, -0.999, 0.999)) +
                 random::truncated_normal(-1, 2, {3, 4}, float64, random::key(4), in.device());
        }}},
      {"stop_gradient",
       {true,
        [](Inputs& in) {
          return stop_gradient(in.Uniform({3, 4}, float32, -1, 1)) * 2.0;
        }}},
      {"tensordot",
       {false,
        [](Inputs& in) {
          return tensordot(in.Uniform({2, 3, 4}, float32, -1, 1),
                           in.Uniform({4, 3, 5}, float32, -1, 1), {1, 2}, {1, 0});
        }}},
      {"inner_outer",
       {false,
        [](Inputs& in) {
          const Array a = in.Uniform({3, 4}, float32, -1, 1);
          return inner(a, a) + outer(slice(a, {0, 0}, {1, 3}), slice(a, {1, 0}, {2, 3}));
        }}},
      {"quantize",
       {true,
        [](Inputs& in) {
          auto [wq, scales, biases] = quantize(in.Uniform({3, 128}, bfloat16, -2, 2), 64, 6);
          return wq;
        }}},
      {"quantized_matmul_batched",
       {false,
        [](Inputs& in) {
          auto [wq, scales, biases] = quantize(in.Uniform({2, 5, 64}, bfloat16, -1, 1), 64, 4);
          return quantized_matmul(in.Uniform({2, 3, 64}, bfloat16, -1, 1), wq, scales, biases);
        }}},
  };
  return *cases;
}

const std::map<std::string, OpCase>& PartACompositeCases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"reciprocal",
       {true,
        [](Inputs& in) {
          return reciprocal(in.Uniform({3, 4}, float32, 0.5, 2));
        }}},
      {"round_decimals",
       {true,
        [](Inputs& in) {
          return round(in.Uniform({3, 4}, float32, -9, 9), 2);
        }}},
      {"silu",
       {true,
        [](Inputs& in) {
          return silu(in.Uniform({3, 4}, float32, -4, 4));
        }}},
      {"softplus",
       {true,
        [](Inputs& in) {
          return softplus(in.Uniform({3, 4}, bfloat16, -4, 4));
        }}},
      {"clip",
       {true,
        [](Inputs& in) {
          return clip(in.Uniform({3, 4}, float32, -2, 2), in.Uniform({4}, float32, -1, 0), 0.5f);
        }}},
      {"var",
       {false,
        [](Inputs& in) {
          return var(in.Uniform({4, 5}, float32, -1, 1), 1, false, 1);
        }}},
      {"std",
       {false,
        [](Inputs& in) {
          return std(in.Uniform({4, 5, 2}, float64, -1, 1), {0, 2}, true);
        }}},
      {"squeeze",
       {true,
        [](Inputs& in) {
          return squeeze(in.Ints({1, 3, 1, 4}, int32, 0, 99), 2);
        }}},
      {"expand_dims",
       {true,
        [](Inputs& in) {
          return expand_dims(in.Ints({3, 4}, int32, 0, 99), {0, -1});
        }}},
      {"flatten",
       {true,
        [](Inputs& in) {
          return flatten(in.Ints({2, 3, 4}, int32, 0, 99), 1);
        }}},
      {"swapaxes",
       {true,
        [](Inputs& in) {
          return swapaxes(in.Ints({2, 3, 4}, int32, 0, 99), 0, 2);
        }}},
      {"moveaxis",
       {true,
        [](Inputs& in) {
          return moveaxis(in.Ints({2, 3, 4}, int32, 0, 99), 0, -1);
        }}},
      {"stack",
       {true,
        [](Inputs& in) {
          return stack({in.Uniform({2, 3}, float32, -1, 1), in.Uniform({2, 3}, float32, -1, 1)}, 1);
        }}},
      {"split",
       {true,
        [](Inputs& in) {
          return split(in.Ints({6, 4}, int32, 0, 99), Shape{1, 4}, 0)[1];
        }}},
      {"pad",
       {true,
        [](Inputs& in) {
          return pad(in.Ints({2, 3}, int64, 0, 99), {{1, 2}, {0, 1}}, -7);
        }}},
      {"tile",
       {true,
        [](Inputs& in) {
          return tile(in.Bools({2, 3}), {2, 1, 2});
        }}},
      {"repeat",
       {true,
        [](Inputs& in) {
          return repeat(in.Uniform({2, 3}, float16, -1, 1), 3, 1);
        }}},
      {"roll",
       {true,
        [](Inputs& in) {
          return roll(in.Ints({3, 4}, int32, 0, 99), {1, -5}, {0, 1});
        }}},
  };
  return *cases;
}

void ExpectSameOnBothDevices(const OpCase& op_case, const Device& remote, uint32_t seed,
                             DaemonKernels kernels) {
  Inputs local_inputs(local(), seed);
  Inputs remote_inputs(remote, seed);
  Array expected = op_case.build(local_inputs);
  Array actual = op_case.build(remote_inputs);
  EXPECT_EQ(actual.device(), remote);
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape());
  const double tolerance = kernels == DaemonKernels::kCpu ? (op_case.exact ? 0 : 1e-6)
                                                          : OtherKernelsTolerance(expected.dtype());
  std::vector<double> want = Values(expected);
  std::vector<double> got = Values(actual);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (tolerance == 0) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tolerance * std::max(1.0, std::abs(want[i]))) << "element " << i;
    }
  }
}

}  // namespace ferry::testing
