// A fused elementwise group, evaluated in blocks of a few thousand elements: each member
// runs its ordinary kernel over one block at a time, so intermediates live in a handful of
// cache-resident block buffers and memory is read and written once. Using the members' own
// kernels keeps fused results identical to unfused ones, dtype rules included. Chains of
// float32 arithmetic take a faster path first (fused_f32.h).

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fused_f32.h"
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

// Writes `count` copies of the `size`-byte element at `value` from `dst` on.
void FillRepeated(const char* value, size_t size, int64_t count, char* dst) {
  auto fill = [&](auto element) {
    std::memcpy(&element, value, sizeof(element));
    auto* typed = reinterpret_cast<decltype(element)*>(dst);
    std::fill(typed, typed + count, element);
  };
  switch (size) {
    case 1:
      return fill(uint8_t{});
    case 2:
      return fill(uint16_t{});
    case 4:
      return fill(uint32_t{});
    case 8:
      return fill(uint64_t{});
    default:
      for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * size, value, size);
  }
}

// Copies elements [start, start + n) of `in` broadcast to `shape` into `dst`, in runs: the
// innermost dimensions the input holds whole (a bias row: memcpy of each row) or repeats
// (a column: one element filled along each row), so a block costs a few calls, not one per
// element.
void GatherBroadcast(const Tensor& in, absl::Span<const int64_t> shape, int64_t start, int64_t n,
                     void* dst) {
  const std::vector<int64_t> strides = BroadcastStrides(in.shape(), shape);
  const int rank = static_cast<int>(shape.size());
  // The run: the innermost dimensions (of more than one element) that are all contiguous in
  // the input, or all repeated.
  int64_t run = 1;
  bool repeated = false;
  int d = rank - 1;
  while (d >= 0 && shape[d] == 1) --d;
  if (d >= 0) repeated = strides[d] == 0;
  for (; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[d] != (repeated ? 0 : run)) break;
    run *= shape[d];
  }
  const size_t size = core::SizeOf(in.dtype());
  const char* src = static_cast<const char*>(in.raw());
  char* out = static_cast<char*>(dst);
  for (int64_t position = start, end = start + n; position < end;) {
    int64_t offset = 0;
    for (int64_t rest = position, k = rank - 1; k >= 0; --k) {
      offset += (rest % shape[k]) * strides[k];
      rest /= shape[k];
    }
    const int64_t length = std::min(run - position % run, end - position);
    if (repeated) {
      FillRepeated(src + offset * size, size, length, out);
    } else {
      std::memcpy(out, src + offset * size, static_cast<size_t>(length) * size);
    }
    out += length * size;
    position += length;
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

// What RunFused works out once per expression: the fast path's program where it applies,
// and for the general path each member's kernel and the block slots of inner values.
struct CpuCompiledFused final : CompiledFused {
  int32_t params = 0;
  std::shared_ptr<const Float32Program> float32;
  absl::Status missing_kernel;  // UNIMPLEMENTED when a member has no kernel
  std::vector<Kernel> kernels;  // per node; null for the parameters
  std::vector<int32_t> slot_of;
  int32_t slots = 0;
};

}  // namespace

std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused) {
  const core::Graph& expr = fused.expr;
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  auto compiled = std::make_shared<CpuCompiledFused>();
  int32_t& params = compiled->params;
  while (params < count && expr.nodes[params].op == "parameter") ++params;
  compiled->float32 = CompileFloat32(expr);
  const KernelTable& table = CpuKernels();
  compiled->kernels.assign(count, nullptr);
  for (int32_t j = params; j < count; ++j) {
    auto it = table.find(expr.nodes[j].op);
    if (it == table.end()) {
      compiled->missing_kernel =
          absl::UnimplementedError(absl::StrCat("[", expr.nodes[j].op, "] has no CPU kernel"));
      break;
    }
    compiled->kernels[j] = it->second;
  }
  compiled->slots = AssignSlots(expr, params, compiled->slot_of);
  return compiled;
}

absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs, const Tensor& out) {
  const core::Graph& expr = fused.expr;
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  const int32_t params = static_cast<int32_t>(inputs.size());
  const int32_t last = count - 1;
  if (params >= count || expr.nodes[last].out != out.type) {
    return absl::InternalError(
        absl::StrCat("[fused] the expression does not produce ", core::TypeToString(out.type)));
  }
  // A plan's expression comes compiled (Executor::Prepare); any other is compiled here.
  std::shared_ptr<const CompiledFused> compiled_here;
  const auto* compiled = dynamic_cast<const CpuCompiledFused*>(fused.compiled.get());
  if (compiled == nullptr) {
    compiled_here = CompileFused(fused);
    compiled = static_cast<const CpuCompiledFused*>(compiled_here.get());
  }
  if (compiled->params != params) {
    return absl::InternalError(absl::StrCat("[fused] the expression has ", compiled->params,
                                            " parameters but ", params, " inputs were given"));
  }
  if (compiled->float32 != nullptr &&
      RunFloat32(*compiled->float32, inputs, out, BestSimdLevel())) {
    return absl::OkStatus();
  }
  if (!compiled->missing_kernel.ok()) return compiled->missing_kernel;
  const std::vector<Kernel>& kernels = compiled->kernels;
  const std::vector<int32_t>& slot_of = compiled->slot_of;

  // Block buffers: one per input that needs gathering, and slots for inner values, reused
  // once the value's last reader has run.
  const int64_t total = out.size();
  std::vector<Tensor> values(count);
  std::vector<std::shared_ptr<Storage>> gathered(params);
  for (int32_t p = 0; p < params; ++p) {
    const int64_t size = inputs[p].size();
    if (size != total && size != 1) gathered[p] = std::make_shared<BlockStorage>(kSlotBytes);
  }
  std::vector<std::shared_ptr<Storage>> slots(compiled->slots);
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
