#include "client/nn/init.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::nn::init {
namespace {

// (fan_in, fan_out) of `a`, as MLX computes them.
std::pair<double, double> Fans(const char* initializer, const Array& a) {
  if (a.ndim() < 2) {
    detail::ThrowOpError(initializer, absl::StrCat("needs an array of rank 2 or more, got shape ",
                                                   core::ShapeToString(a.shape()), "."));
  }
  double receptive = 1;
  for (int i = 1; i + 1 < a.ndim(); ++i) receptive *= static_cast<double>(a.shape(i));
  return {static_cast<double>(a.shape(-1)) * receptive,
          static_cast<double>(a.shape(0)) * receptive};
}

double Fan(const char* initializer, const Array& a, const std::string& mode) {
  const auto [fan_in, fan_out] = Fans(initializer, a);
  if (mode == "fan_in") return fan_in;
  if (mode == "fan_out") return fan_out;
  detail::ThrowOpError(initializer,
                       absl::StrCat("mode must be \"fan_in\" or \"fan_out\", got \"", mode, "\"."));
}

}  // namespace

Initializer constant(double value, Dtype dtype) {
  return [=](const Array& a) { return full(a.shape(), value, dtype, a.device()); };
}

Initializer normal(double mean, double std, Dtype dtype) {
  return [=](const Array& a) {
    return random::normal(a.shape(), dtype, mean, std, std::nullopt, a.device());
  };
}

Initializer uniform(double low, double high, Dtype dtype) {
  return [=](const Array& a) {
    return random::uniform(a.shape(), dtype, low, high, std::nullopt, a.device());
  };
}

Initializer identity(Dtype dtype) {
  return [=](const Array& a) {
    if (a.ndim() != 2 || a.shape(0) != a.shape(1)) {
      detail::ThrowOpError("identity", absl::StrCat("needs a square matrix, got shape ",
                                                    core::ShapeToString(a.shape()), "."));
    }
    return eye(a.shape(0), dtype, a.device());
  };
}

Initializer glorot_normal(Dtype dtype, double gain) {
  return [=](const Array& a) {
    const auto [fan_in, fan_out] = Fans("glorot_normal", a);
    return normal(0.0, gain * std::sqrt(2.0 / (fan_in + fan_out)), dtype)(a);
  };
}

Initializer glorot_uniform(Dtype dtype, double gain) {
  return [=](const Array& a) {
    const auto [fan_in, fan_out] = Fans("glorot_uniform", a);
    const double limit = gain * std::sqrt(6.0 / (fan_in + fan_out));
    return uniform(-limit, limit, dtype)(a);
  };
}

Initializer he_normal(Dtype dtype, const std::string& mode, double gain) {
  return [=](const Array& a) {
    return normal(0.0, gain / std::sqrt(Fan("he_normal", a, mode)), dtype)(a);
  };
}

Initializer he_uniform(Dtype dtype, const std::string& mode, double gain) {
  return [=](const Array& a) {
    const double limit = gain * std::sqrt(3.0 / Fan("he_uniform", a, mode));
    return uniform(-limit, limit, dtype)(a);
  };
}

Initializer orthogonal(double gain, Dtype dtype) {
  return [=](const Array& a) {
    if (a.ndim() != 2) {
      detail::ThrowOpError("orthogonal", absl::StrCat("needs a matrix, got shape ",
                                                      core::ShapeToString(a.shape()), "."));
    }
    const int64_t n = std::max(a.shape(0), a.shape(1));
    const Array square = random::normal({n, n}, float32, 0.0, 1.0, std::nullopt, a.device());
    auto [q, r] = linalg::qr(square);
    q = q * sign(diagonal(r));
    return astype(slice(q, {0, 0}, {a.shape(0), a.shape(1)}) * gain, dtype);
  };
}

}  // namespace ferry::nn::init
