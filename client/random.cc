#include "client/random.h"

#include <mutex>
#include <vector>

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::random {
namespace {

// The global PRNG state: a seed and a count of keys handed out.
struct GlobalState {
  std::mutex mu;
  uint64_t seed = 0;
  uint64_t counter = 0;
};

GlobalState& Global() {
  static GlobalState* state = new GlobalState;
  return *state;
}

// SplitMix64's finalizer: neighbouring counters give unrelated keys.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Array NextKey() {
  GlobalState& state = Global();
  std::lock_guard<std::mutex> lock(state.mu);
  return key(Mix(state.seed ^ Mix(state.counter++)));
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
  state.seed = seed;
  state.counter = 0;
}

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

}  // namespace ferry::random
