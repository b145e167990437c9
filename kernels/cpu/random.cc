// random_uniform and random_normal: element i is a pure function of the key and i
// (core/philox.h says exactly how), so every backend draws the same numbers.

#include <cmath>
#include <limits>

#include "core/philox.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

absl::StatusOr<core::PhiloxKey> ReadKey(const core::Node& node, const Tensor& key) {
  if (key.dtype() != core::DType::kUInt32 || key.shape() != core::Shape{2}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", node.op, "] the key must be uint32(2,), not ", core::TypeToString(key.type)));
  }
  const uint32_t* words = key.data<uint32_t>();
  return core::PhiloxKeyFromWords(words[0], words[1]);
}

// Fills `out` with PhiloxUniform(i, key, a, b) or PhiloxNormal(i, key, a, b) rounded to
// the output dtype. Rounding can carry a uniform sample up to `high`; such a sample becomes
// the largest value below it, so the interval stays [low, high) in every dtype.
template <bool kUniform>
absl::Status RandomKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                          const Tensor& out) {
  absl::StatusOr<core::PhiloxKey> key = ReadKey(node, inputs[0]);
  if (!key.ok()) return key.status();
  absl::StatusOr<double> a = GetAttr<double>(node, kUniform ? "low" : "loc");
  if (!a.ok()) return a.status();
  absl::StatusOr<double> b = GetAttr<double>(node, kUniform ? "high" : "scale");
  if (!b.ok()) return b.status();
  return DispatchDType(out.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    if constexpr (!kIsFloating<T>) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] needs a floating dtype, not ", DTypeString(out.dtype())));
    } else {
      T* y = out.data<T>();
      const int64_t n = out.size();
      if constexpr (kUniform) {
        const bool cap = *a < *b;
        const C below_high = LargestBelow<T>(*b);
        for (int64_t i = 0; i < n; ++i) {
          Store(y + i, static_cast<C>(core::PhiloxUniform(static_cast<uint64_t>(i), *key, *a, *b)));
          if (cap && static_cast<double>(Load(y + i)) >= *b) Store(y + i, below_high);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          Store(y + i, static_cast<C>(core::PhiloxNormal(static_cast<uint64_t>(i), *key, *a, *b)));
        }
      }
      return absl::OkStatus();
    }
  });
}

// random_bits: word 0 of the Philox block of each element's index.
absl::Status BitsKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  absl::StatusOr<core::PhiloxKey> key = ReadKey(node, inputs[0]);
  if (!key.ok()) return key.status();
  uint32_t* y = out.data<uint32_t>();
  const int64_t n = out.size();
  for (int64_t i = 0; i < n; ++i) y[i] = core::PhiloxBlock(static_cast<uint64_t>(i), *key).v[0];
  return absl::OkStatus();
}

}  // namespace

void RegisterRandomKernels(KernelTable& table) {
  table["random_uniform"] = &RandomKernel<true>;
  table["random_normal"] = &RandomKernel<false>;
  table["random_bits"] = &BitsKernel;
}

}  // namespace ferry::kernels::cpu
