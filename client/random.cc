#include "client/random.h"

#include <cfloat>
#include <cmath>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::random {
namespace {

// The global PRNG state: a generator behind a lock.
struct GlobalState {
  std::mutex mu;
  Generator generator{0};
};

GlobalState& Global() {
  static GlobalState* state = new GlobalState;
  return *state;
}

// UseGenerator's, on this thread.
thread_local Generator* current_generator = nullptr;

// SplitMix64's finalizer: neighbouring counters give unrelated keys.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Array NextKey() {
  if (current_generator) return current_generator->next_key();
  GlobalState& state = Global();
  std::lock_guard<std::mutex> lock(state.mu);
  return state.generator.next_key();
}

Array KeyOn(const std::optional<Array>& given, const Device& device) {
  Array k = given ? *given : NextKey();
  // A key is 8 bytes: copying it is cheaper than any rule about where keys live. Anything
  // else is left for the op's own checks to refuse.
  if (k.device() == device || k.dtype() != uint32 || k.shape() != Shape{2}) return k;
  std::vector<uint32_t> words = k.to_vector<uint32_t>();
  return from_host(words, k.shape(), device);
}

Array Random(const char* op, const char* a_name, double a, const char* b_name, double b,
             const Shape& shape, Dtype dtype, const std::optional<Array>& key,
             const Device& device) {
  return detail::MakeOp(op, {KeyOn(key, device)},
                        {{a_name, a}, {b_name, b}, {"shape", shape}, {"dtype", dtype}});
}

}  // namespace

Array key(uint64_t seed) {
  std::vector<uint32_t> words = {static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed)};
  return from_host(words, {2}, local());
}

void seed(uint64_t seed) {
  GlobalState& state = Global();
  std::lock_guard<std::mutex> lock(state.mu);
  state.generator = Generator(seed);
}

Array Generator::next_key() { return key(Mix(seed_ ^ Mix(counter_++))); }

UseGenerator::UseGenerator(Generator* generator) : previous_(current_generator) {
  current_generator = generator;
}

UseGenerator::~UseGenerator() { current_generator = previous_; }

Array uniform(const Shape& shape, Dtype dtype, double low, double high,
              const std::optional<Array>& key, Device device) {
  return Random("random_uniform", "low", low, "high", high, shape, dtype, key, device);
}

Array uniform(const Shape& shape, Dtype dtype, Device device) {
  return uniform(shape, dtype, 0.0, 1.0, std::nullopt, std::move(device));
}

Array normal(const Shape& shape, Dtype dtype, double loc, double scale,
             const std::optional<Array>& key, Device device) {
  return Random("random_normal", "loc", loc, "scale", scale, shape, dtype, key, device);
}

Array normal(const Shape& shape, Dtype dtype, Device device) {
  return normal(shape, dtype, 0.0, 1.0, std::nullopt, std::move(device));
}

// ---- Ops part B ----------------------------------------------------------------------------

Array bits(const Shape& shape, const std::optional<Array>& key, Device device) {
  return detail::MakeOp("random_bits", {KeyOn(key, device)}, {{"shape", shape}});
}

Array split(const Array& key, int num) {
  if (num < 0) detail::ThrowOpError("split", absl::StrCat("num ", num, " is negative."));
  return detail::MakeOp("random_bits", {key}, {{"shape", Shape{num, 2}}});
}

std::pair<Array, Array> split(const Array& key) {
  const Array keys = random::split(key, 2);
  return {reshape(slice(keys, {0, 0}, {1, 2}), {2}), reshape(slice(keys, {1, 0}, {2, 2}), {2})};
}

Array bernoulli(double p, const Shape& shape, const std::optional<Array>& key, Device device) {
  if (!(p >= 0.0 && p <= 1.0)) {
    detail::ThrowOpError("bernoulli", absl::StrCat("p ", p, " is not in [0, 1]."));
  }
  return uniform(shape, float32, 0.0, 1.0, key, std::move(device)) < p;
}

Array bernoulli(const Array& p, const std::optional<Shape>& shape,
                const std::optional<Array>& key) {
  if (!core::IsFloating(p.dtype())) {
    detail::ThrowOpError("bernoulli",
                         absl::StrCat("p must be floating, got ", core::DTypeName(p.dtype()), "."));
  }
  const Shape out = shape ? *shape : p.shape();
  absl::StatusOr<Shape> joined = core::BroadcastShapes(p.shape(), out);
  if (!joined.ok() || *joined != out) {
    detail::ThrowOpError("bernoulli",
                         absl::StrCat("p of shape ", core::ShapeToString(p.shape()),
                                      " does not broadcast to ", core::ShapeToString(out), "."));
  }
  return uniform(out, float32, 0.0, 1.0, key, p.device()) < p;
}

Array randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype,
              const std::optional<Array>& key, Device device) {
  if (!core::IsInteger(dtype)) {
    detail::ThrowOpError("randint", absl::StrCat("dtype must be an integer type, got ",
                                                 core::DTypeName(dtype), "."));
  }
  if (low >= high) {
    detail::ThrowOpError("randint",
                         absl::StrCat("low ", low, " must be less than high ", high, "."));
  }
  // Offsets from low are non-negative, so truncation is floor; uniform keeps them below
  // high - low.
  const Array offset = astype(
      uniform(shape, float64, 0.0, static_cast<double>(high - low), key, std::move(device)), int64);
  return astype(offset + low, dtype);
}

namespace {

// Half dtypes draw in float32 and round once.
Dtype DrawDtype(const char* op, Dtype dtype) {
  if (!core::IsFloating(dtype)) {
    detail::ThrowOpError(op,
                         absl::StrCat("needs a floating dtype, got ", core::DTypeName(dtype), "."));
  }
  return dtype == float64 ? float64 : float32;
}

}  // namespace

Array multivariate_normal(const Array& mean, const Array& cov, const Shape& shape, Dtype dtype,
                          const std::optional<Array>& key) {
  constexpr char op[] = "multivariate_normal";
  const Dtype work = DrawDtype(op, dtype);  // 16-bit dtypes draw and factor in float32
  if (mean.ndim() < 1 || cov.ndim() < 2 || cov.shape().back() != cov.shape()[cov.ndim() - 2] ||
      cov.shape().back() != mean.shape().back()) {
    detail::ThrowOpError(op, absl::StrCat("mean (..., n) and cov (..., n, n) do not fit: mean ",
                                          core::ShapeToString(mean.shape()), ", cov ",
                                          core::ShapeToString(cov.shape()), "."));
  }
  const int64_t n = mean.shape().back();
  const Shape mean_batch(mean.shape().begin(), mean.shape().end() - 1);
  const Shape cov_batch(cov.shape().begin(), cov.shape().end() - 2);
  absl::StatusOr<Shape> batch = core::BroadcastShapes(mean_batch, cov_batch);
  if (batch.ok()) batch = core::BroadcastShapes(*batch, shape);
  if (!batch.ok()) {
    detail::ThrowOpError(op, absl::StrCat("shape ", core::ShapeToString(shape), ", mean ",
                                          core::ShapeToString(mean.shape()), " and cov ",
                                          core::ShapeToString(cov.shape()), " do not broadcast."));
  }
  batch->push_back(n);
  // z @ U sqrt(S) Vt has covariance V S Vt = cov for a symmetric positive semi-definite
  // cov, as MLX draws it.
  const std::vector<Array> usv = linalg::svd(astype(cov, work));
  const Array root = matmul(usv[0] * expand_dims(sqrt(usv[1]), -2), usv[2]);
  const Array z = normal(*batch, work, 0.0, 1.0, key, mean.device());
  return astype(astype(mean, work) + squeeze(matmul(expand_dims(z, -2), root), -2), dtype);
}

Array gumbel(const Shape& shape, Dtype dtype, const std::optional<Array>& key, Device device) {
  const Dtype draw = DrawDtype("gumbel", dtype);
  const double tiny = draw == float64 ? DBL_MIN : FLT_MIN;  // both logs stay finite
  return astype(-log(-log(uniform(shape, draw, tiny, 1.0, key, std::move(device)))), dtype);
}

Array laplace(const Shape& shape, Dtype dtype, double loc, double scale,
              const std::optional<Array>& key, Device device) {
  const Dtype draw = DrawDtype("laplace", dtype);
  const double low = -1.0 + (draw == float64 ? DBL_EPSILON : FLT_EPSILON);  // log1p(-1) = -inf
  const Array u = uniform(shape, draw, low, 1.0, key, std::move(device));
  return astype(-sign(u) * log1p(-abs(u)) * scale + loc, dtype);
}

Array truncated_normal(double lower, double upper, const Shape& shape, Dtype dtype,
                       const std::optional<Array>& key, Device device) {
  const Dtype draw = DrawDtype("truncated_normal", dtype);
  if (!(lower < upper)) {
    detail::ThrowOpError("truncated_normal",
                         absl::StrCat("needs lower < upper, got ", lower, " and ", upper, "."));
  }
  const double root2 = std::sqrt(2.0);
  const Array u = uniform(shape, draw, std::erf(lower / root2), std::erf(upper / root2), key,
                          std::move(device));
  return astype(clip(erfinv(u) * root2, lower, upper), dtype);
}

Array permutation(int64_t n, const std::optional<Array>& key, Device device) {
  if (n < 0) detail::ThrowOpError("permutation", absl::StrCat("n ", n, " is negative."));
  return argsort(bits({n}, key, std::move(device)));
}

Array permutation(const Array& x, int axis, const std::optional<Array>& key) {
  const int64_t ax = detail::NormalizeAxis("permutation", axis, x.ndim());
  return take(x, permutation(x.shape()[ax], key, x.device()), static_cast<int>(ax));
}

Array categorical(const Array& logits, int axis, const std::optional<Array>& key) {
  const int64_t ax = detail::NormalizeAxis("categorical", axis, logits.ndim());
  return argmax(logits + gumbel(logits.shape(), float32, key, logits.device()),
                static_cast<int>(ax));
}

Array categorical(const Array& logits, int axis, int num_samples, const std::optional<Array>& key) {
  const int64_t ax = detail::NormalizeAxis("categorical", axis, logits.ndim());
  if (num_samples < 0) {
    detail::ThrowOpError("categorical", absl::StrCat("num_samples ", num_samples, " is negative."));
  }
  // Move the axis last, add a samples axis before it, and draw all samples at once.
  std::vector<int> perm;
  for (int d = 0; d < logits.ndim(); ++d) {
    if (d != ax) perm.push_back(d);
  }
  perm.push_back(static_cast<int>(ax));
  Shape shape;
  for (int d : perm) shape.push_back(logits.shape()[d]);
  shape.insert(shape.end() - 1, 1);
  const Array moved = reshape(transpose(logits, perm), shape);
  shape[shape.size() - 2] = num_samples;
  return argmax(moved + gumbel(shape, float32, key, logits.device()), -1);
}

}  // namespace ferry::random
