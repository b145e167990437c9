#ifndef FERRY_CLIENT_RANDOM_H_
#define FERRY_CLIENT_RANDOM_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "client/array.h"
#include "client/device.h"
#include "client/dtype.h"

namespace ferry::random {

// Counter-based random numbers (Philox 4x32-10, as core/philox.h): a key, a uint32 (2,)
// array, fixes the numbers everywhere, so the same key gives the same values on the local
// device and on any daemon. Keys are 8 bytes and move between devices by themselves.

// The key for `seed`: {seed >> 32, seed & 0xffffffff}, as MLX.
Array key(uint64_t seed);

// Re-seeds the global state that calls without a key draw from (a fresh key per call).
void seed(uint64_t seed);

// A seeded stream of keys of its own (as torch.Generator): the keys the global state hands
// out after seed(s), without touching it. Not thread-safe; one user at a time.
class Generator {
 public:
  explicit Generator(uint64_t seed) : seed_(seed) {}
  Array next_key();

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// While one lives, calls without a key on this thread draw from `generator` instead of the
// global state: a batch row's sampler, seeded apart from the rows beside it.
class UseGenerator {
 public:
  explicit UseGenerator(Generator* generator);
  ~UseGenerator();
  UseGenerator(const UseGenerator&) = delete;
  UseGenerator& operator=(const UseGenerator&) = delete;

 private:
  Generator* previous_;
};

// Uniform in [low, high). dtype must be floating.
Array uniform(const Shape& shape, Dtype dtype = float32, double low = 0.0, double high = 1.0,
              const std::optional<Array>& key = std::nullopt, Device device = default_device());
Array uniform(const Shape& shape, Dtype dtype, Device device);

// Normal with mean `loc` and standard deviation `scale`. dtype must be floating.
Array normal(const Shape& shape, Dtype dtype = float32, double loc = 0.0, double scale = 1.0,
             const std::optional<Array>& key = std::nullopt, Device device = default_device());
Array normal(const Shape& shape, Dtype dtype, Device device);

// ---- Ops part B ----------------------------------------------------------------------------

// uint32 words of the counter-based stream (element i: word 0 of Philox block i).
Array bits(const Shape& shape, const std::optional<Array>& key = std::nullopt,
           Device device = default_device());

// `num` new keys, shape (num, 2), from `key` (MLX's split: bits of shape (num, 2)); on the
// key's device. The pair form gives the two rows of split(key, 2).
Array split(const Array& key, int num);
std::pair<Array, Array> split(const Array& key);

// true with probability p (in [0, 1]). The array form broadcasts p to `shape` (p's own
// shape when omitted) and lives on p's device.
Array bernoulli(double p, const Shape& shape, const std::optional<Array>& key = std::nullopt,
                Device device = default_device());
Array bernoulli(const Array& p, const std::optional<Shape>& shape = std::nullopt,
                const std::optional<Array>& key = std::nullopt);

// Samples of the normal distributions with means `mean` (..., n) and covariances `cov`
// (..., n, n, symmetric positive semi-definite), of shape broadcast(shape, mean's and cov's
// batches) + (n,), as MLX: z @ U sqrt(S) Vt from cov's SVD. dtype must be floating.
Array multivariate_normal(const Array& mean, const Array& cov, const Shape& shape = {},
                          Dtype dtype = float32, const std::optional<Array>& key = std::nullopt);

// Integers uniform in [low, high), of an integer dtype (24 random bits per sample, as
// uniform's).
Array randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype = int32,
              const std::optional<Array>& key = std::nullopt, Device device = default_device());

// Indices (uint32) drawn from the distribution softmax(logits) along `axis`, by the Gumbel
// trick as MLX: the result drops that axis; with num_samples, a last axis of that many
// draws is added.
Array categorical(const Array& logits, int axis = -1,
                  const std::optional<Array>& key = std::nullopt);
Array categorical(const Array& logits, int axis, int num_samples,
                  const std::optional<Array>& key = std::nullopt);

// Standard normal samples truncated to [lower, upper], as MLX: erfinv of a uniform between
// the bounds' erf values, clipped to the bounds. dtype must be floating.
Array truncated_normal(double lower, double upper, const Shape& shape, Dtype dtype = float32,
                       const std::optional<Array>& key = std::nullopt,
                       Device device = default_device());

// Gumbel(0, 1) samples, -log(-log(u)) with u uniform in [the smallest normal, 1): finite.
// dtype must be floating (float16 and bfloat16 drawn in float32 and rounded).
Array gumbel(const Shape& shape, Dtype dtype = float32,
             const std::optional<Array>& key = std::nullopt, Device device = default_device());

// Laplace samples with mean `loc` and scale `scale` (variance 2 scale^2), by the inverse
// CDF of a uniform in (-1, 1), as MLX. dtype must be floating.
Array laplace(const Shape& shape, Dtype dtype = float32, double loc = 0.0, double scale = 1.0,
              const std::optional<Array>& key = std::nullopt, Device device = default_device());

// A random ordering of 0..n-1 (uint32), the argsort of random bits; or `x` shuffled along
// `axis` with one.
Array permutation(int64_t n, const std::optional<Array>& key = std::nullopt,
                  Device device = default_device());
Array permutation(const Array& x, int axis = 0, const std::optional<Array>& key = std::nullopt);

}  // namespace ferry::random

#endif  // FERRY_CLIENT_RANDOM_H_
