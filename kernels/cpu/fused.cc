// A fused elementwise group, evaluated in blocks of a few thousand elements: each member
// runs its ordinary kernel over one block at a time, so intermediates live in a handful of
// cache-resident block buffers and memory is read and written once. Using the members' own
// kernels keeps fused results identical to unfused ones, dtype rules included.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

// Elements per block: a block of a float64 value is 64 KiB, so the few live at once stay
// in L2.
constexpr int64_t kBlock = 8192;
constexpr size_t kSlotBytes = kBlock * 8;

// Scratch memory for one call, outside the backend's budget (it is a few blocks).
class BlockStorage : public Storage {
 public:
  explicit BlockStorage(size_t size) : Storage(std::aligned_alloc(64, size), size) {}
  ~BlockStorage() override { std::free(data()); }
};

// Copies elements [start, start + n) of `in` broadcast to `shape` into `dst`.
void GatherBroadcast(const Tensor& in, absl::Span<const int64_t> shape, int64_t start, int64_t n,
                     void* dst) {
  const std::vector<int64_t> strides = BroadcastStrides(in.shape(), shape);
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (int64_t rest = start, d = rank - 1; d >= 0; --d) {
    index[d] = rest % shape[d];
    rest /= shape[d];
    offset += index[d] * strides[d];
  }
  const size_t size = core::SizeOf(in.dtype());
  const char* src = static_cast<const char*>(in.raw());
  char* out = static_cast<char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * size, src + offset * size, size);
    for (int d = rank - 1; d >= 0; --d) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

// Slots for the inner values of `expr` (every node after the `params` parameters but the
// last): slot_of[j] for node j, a slot reused once its value's last reader has run.
// Returns how many slots there are.
int32_t AssignSlots(const core::Graph& expr, int32_t params, std::vector<int32_t>& slot_of) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  std::vector<int32_t> last_reader(count, -1);
  for (int32_t j = params; j < count; ++j) {
    for (int32_t input : expr.nodes[j].inputs) last_reader[input] = j;
  }
  slot_of.assign(count, -1);
  std::vector<int32_t> free_slots;
  int32_t slots = 0;
  for (int32_t j = params; j < count - 1; ++j) {
    if (free_slots.empty()) free_slots.push_back(slots++);
    slot_of[j] = free_slots.back();
    free_slots.pop_back();
    for (int32_t input : expr.nodes[j].inputs) {
      // Once per value, though a node may read it twice (x * x).
      if (input >= params && last_reader[input] == j) {
        free_slots.push_back(slot_of[input]);
        last_reader[input] = -1;
      }
    }
  }
  return slots;
}

// The float32 fast path: chains of float32 arithmetic (the common case) evaluated in
// L1-sized blocks by tight loops, without a kernel call per block and op. Each op is the
// unfused kernel's expression on floats, so results are bit-for-bit the same (comparisons
// combined with | rather than ||, so the compiler can vectorize them).
namespace f32 {

constexpr int64_t kBlock = 512;  // 2 KiB per value: every live block stays in L1
constexpr int64_t kPrefetchAhead = 4 * kBlock;

enum class Op { kAdd, kSub, kMul, kDiv, kMaximum, kMinimum, kNeg, kAbs, kRelu, kExp, kTanh };

bool Lookup(const std::string& name, Op* op) {
  static const auto* const ops = new absl::flat_hash_map<std::string, Op>{
      {"add", Op::kAdd},         {"sub", Op::kSub},         {"mul", Op::kMul},   {"div", Op::kDiv},
      {"maximum", Op::kMaximum}, {"minimum", Op::kMinimum}, {"neg", Op::kNeg},   {"abs", Op::kAbs},
      {"relu", Op::kRelu},       {"exp", Op::kExp},         {"tanh", Op::kTanh},
  };
  auto it = ops->find(name);
  if (it == ops->end()) return false;
  *op = it->second;
  return true;
}

// A value within one block: `n` elements at `data`, or one element repeated.
struct Operand {
  const float* data;
  bool scalar;
};

// Built three times on x86-64 Linux, for AVX-512, AVX2 and the baseline, and picked at load
// time: 16 or 8 floats per instruction where the CPU has them, without requiring them.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define FERRY_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FERRY_INLINE __attribute__((always_inline)) inline
#else
#define FERRY_SIMD_CLONES
#define FERRY_INLINE inline
#endif

template <typename F>
FERRY_INLINE void Binary(Operand a, Operand b, float* out, int64_t n, F f) {
  if (a.scalar && !b.scalar) {
    const float x = *a.data;
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b.data[i]);
  } else if (b.scalar && !a.scalar) {
    const float y = *b.data;
    for (int64_t i = 0; i < n; ++i) out[i] = f(a.data[i], y);
  } else if (a.scalar && b.scalar) {
    const float v = f(*a.data, *b.data);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a.data[i], b.data[i]);
  }
}

template <typename F>
FERRY_INLINE void Unary(Operand a, float* out, int64_t n, F f) {
  if (a.scalar) {
    const float v = f(*a.data);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a.data[i]);
  }
}

FERRY_SIMD_CLONES void Apply(Op op, Operand a, Operand b, float* out, int64_t n) {
  switch (op) {
    case Op::kAdd:
      return Binary(a, b, out, n, [](float x, float y) { return x + y; });
    case Op::kSub:
      return Binary(a, b, out, n, [](float x, float y) { return x - y; });
    case Op::kMul:
      return Binary(a, b, out, n, [](float x, float y) { return x * y; });
    case Op::kDiv:
      return Binary(a, b, out, n, [](float x, float y) { return x / y; });
    case Op::kMaximum:
      return Binary(a, b, out, n, [](float x, float y) { return ((x > y) | (x != x)) ? x : y; });
    case Op::kMinimum:
      return Binary(a, b, out, n, [](float x, float y) { return ((x < y) | (x != x)) ? x : y; });
    case Op::kNeg:
      return Unary(a, out, n, [](float x) { return -x; });
    case Op::kAbs:
      return Unary(a, out, n, [](float x) { return std::fabs(x); });
    case Op::kRelu:
      return Unary(a, out, n, [](float x) { return ((x > 0.0f) | (x != x)) ? x : 0.0f; });
    case Op::kExp:
      return Unary(a, out, n, [](float x) { return std::exp(x); });
    case Op::kTanh:
      return Unary(a, out, n, [](float x) { return std::tanh(x); });
  }
}

// Copies a block to its place in a large result with non-temporal stores, as memcpy does
// for large copies: a plain store first reads the destination's cache line from memory,
// which for a result far bigger than the caches costs a third of the chain's traffic.
// `dst` is 16-byte aligned.
void StreamStore(const float* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// Runs the expression when every value is float32, every op is one of Op's and every
// input is dense or a single element; returns false (having done nothing) otherwise.
bool TryRun(const core::Graph& expr, absl::Span<const Tensor> inputs, const Tensor& out) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  const int32_t params = static_cast<int32_t>(inputs.size());
  const int64_t total = out.size();
  std::vector<Op> ops(count);
  for (int32_t p = 0; p < params; ++p) {
    const int64_t size = inputs[p].size();
    if (inputs[p].dtype() != core::DType::kFloat32 || (size != total && size != 1)) return false;
  }
  for (int32_t j = params; j < count; ++j) {
    const core::Node& node = expr.nodes[j];
    if (node.out.dtype != core::DType::kFloat32 || !Lookup(node.op, &ops[j])) return false;
  }
  std::vector<int32_t> slot_of;
  std::vector<std::vector<float>> slots(AssignSlots(expr, params, slot_of),
                                        std::vector<float>(kBlock));
  std::vector<Operand> values(count);
  float* const result = out.data<float>();
  constexpr int64_t kStreamBytes = 8 << 20;  // beyond the caches of most machines
  const bool stream = total * 4 >= kStreamBytes && reinterpret_cast<uintptr_t>(result) % 16 == 0;
  std::vector<float> tail(stream ? kBlock : 0);
  for (int64_t start = 0; start < total; start += kBlock) {
    const int64_t n = std::min(kBlock, total - start);
    for (int32_t p = 0; p < params; ++p) {
      const bool scalar = inputs[p].size() == 1;
      values[p] = {inputs[p].data<float>() + (scalar ? 0 : start), scalar};
      // The profile showed the first op of each block waiting on memory: ask for the input
      // a few blocks ahead, so its lines arrive while this block computes.
      if (!scalar && start + kPrefetchAhead < total) {
        const float* ahead = values[p].data + kPrefetchAhead;
        const int64_t lines = std::min(kBlock, total - start - kPrefetchAhead);
        for (int64_t i = 0; i < lines; i += 16) __builtin_prefetch(ahead + i);
      }
    }
    for (int32_t j = params; j < count; ++j) {
      const core::Node& node = expr.nodes[j];
      float* dst = j < count - 1 ? slots[slot_of[j]].data() : stream ? tail.data() : result + start;
      const Operand a = values[node.inputs[0]];
      const Operand b = node.inputs.size() > 1 ? values[node.inputs[1]] : a;
      Apply(ops[j], a, b, dst, n);
      values[j] = {dst, false};
    }
    if (stream) StreamStore(tail.data(), result + start, n);
  }
#if defined(__SSE2__)
  if (stream) _mm_sfence();  // order the streamed stores before whoever reads the result
#endif
  return true;
}

}  // namespace f32

}  // namespace

absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs, const Tensor& out) {
  const core::Graph& expr = fused.expr;
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  const int32_t params = static_cast<int32_t>(inputs.size());
  const int32_t last = count - 1;
  if (params >= count || expr.nodes[last].out != out.type) {
    return absl::InternalError(
        absl::StrCat("[fused] the expression does not produce ", core::TypeToString(out.type)));
  }
  if (f32::TryRun(expr, inputs, out)) return absl::OkStatus();
  const KernelTable& table = CpuKernels();
  std::vector<Kernel> kernels(count, nullptr);
  for (int32_t j = params; j < count; ++j) {
    auto it = table.find(expr.nodes[j].op);
    if (it == table.end()) {
      return absl::UnimplementedError(absl::StrCat("[", expr.nodes[j].op, "] has no CPU kernel"));
    }
    kernels[j] = it->second;
  }

  // Block buffers: one per input that needs gathering, and slots for inner values, reused
  // once the value's last reader has run.
  const int64_t total = out.size();
  std::vector<Tensor> values(count);
  std::vector<std::shared_ptr<Storage>> gathered(params);
  for (int32_t p = 0; p < params; ++p) {
    const int64_t size = inputs[p].size();
    if (size != total && size != 1) gathered[p] = std::make_shared<BlockStorage>(kSlotBytes);
  }
  std::vector<int32_t> slot_of;
  std::vector<std::shared_ptr<Storage>> slots(AssignSlots(expr, params, slot_of));
  for (std::shared_ptr<Storage>& slot : slots) slot = std::make_shared<BlockStorage>(kSlotBytes);

  std::vector<Tensor> args;
  for (int64_t start = 0; start < total; start += kBlock) {
    const int64_t n = std::min(kBlock, total - start);
    for (int32_t p = 0; p < params; ++p) {
      const Tensor& in = inputs[p];
      if (in.size() == 1) {
        values[p] = Tensor{{in.dtype(), {1}}, in.storage, in.offset};
      } else if (gathered[p] == nullptr) {
        values[p] = Tensor{{in.dtype(), {n}},
                           in.storage,
                           in.offset + static_cast<size_t>(start) * core::SizeOf(in.dtype())};
      } else {
        GatherBroadcast(in, out.shape(), start, n, gathered[p]->data());
        values[p] = Tensor{{in.dtype(), {n}}, gathered[p], 0};
      }
    }
    for (int32_t j = params; j < count; ++j) {
      const core::Node& node = expr.nodes[j];
      values[j] = j == last
                      ? Tensor{{out.dtype(), {n}},
                               out.storage,
                               out.offset + static_cast<size_t>(start) * core::SizeOf(out.dtype())}
                      : Tensor{{node.out.dtype, {n}}, slots[slot_of[j]], 0};
      args.clear();
      for (int32_t input : node.inputs) args.push_back(values[input]);
      absl::Status ran = kernels[j](node, args, values[j]);
      if (!ran.ok()) return ran;
    }
  }
  return absl::OkStatus();
}

}  // namespace ferry::kernels::cpu
