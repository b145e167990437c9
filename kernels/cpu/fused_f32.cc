// Compiles a float32 chain to a tile program (fused_f32_tiles.h) and runs it with the
// widest instruction set the CPU has. The baseline build of the tile loop lives here; the
// AVX2 and AVX-512 builds in fused_f32_avx2.cc and fused_f32_avx512.cc.

#include "kernels/cpu/fused_f32.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#include "kernels/cpu/fused_f32_tiles.h"

namespace ferry::kernels::cpu {
namespace f32 {

namespace {

// The build for any CPU: SSE2 on x86-64 (16-byte vectors), plain stores elsewhere.
struct Baseline {
  static constexpr int kLanes = 4;
  typedef float Vec __attribute__((vector_size(16)));
  typedef int32_t Mask __attribute__((vector_size(16)));
  static void Stream(float* p, Vec v) {
#if defined(__SSE2__)
    _mm_stream_ps(p, v);
#else
    std::memcpy(p, &v, sizeof(v));
#endif
  }
};

void RunTilesBaseline(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                      bool stream) {
  RunTiles<Baseline>(code, size, start, end, out, stream);
}

TileRunner Runner(SimdLevel level) {
#if defined(FERRY_F32_X86_BUILDS)
  if (level == SimdLevel::kAvx512) return RunTilesAvx512;
  if (level == SimdLevel::kAvx2) return RunTilesAvx2;
#endif
  return RunTilesBaseline;
}

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

struct alignas(64) Tile {
  float v[kTile];
};

// A compiled chain: its code, and the tiles its operands other than dense inputs live in
// (repeated scalars, then spill slots).
struct Program {
  std::vector<Instr> code;
  std::vector<Tile> tiles;
};

// Compiles `expr` with the ops `ops` (one per node after the parameters). Node j's value is
// in the accumulator right after its op runs; it is spilled to a slot only when a node
// other than j + 1 reads it (or j + 1 reads it twice), and slots are reused once their
// value's last reader has run.
Program Compile(const core::Graph& expr, absl::Span<const Tensor> inputs,
                const std::vector<Op>& ops) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  const int32_t params = static_cast<int32_t>(inputs.size());
  std::vector<int32_t> last_reader(count, -1);
  std::vector<bool> spilled(count, false);
  for (int32_t j = params; j < count; ++j) {
    const std::vector<int32_t>& in = expr.nodes[j].inputs;
    for (int32_t input : in) {
      last_reader[input] = j;
      if (input >= params && (j > input + 1 || (in.size() == 2 && in[0] == in[1]))) {
        spilled[input] = true;
      }
    }
  }

  // Where each value lives: a dense input's data, or the index of its tile in `tiles`.
  std::vector<float*> data(count, nullptr);
  std::vector<int32_t> tile_of(count, -1);
  int32_t tiles = 0;
  std::vector<float> scalars;
  for (int32_t p = 0; p < params; ++p) {
    if (inputs[p].size() == 1) {
      tile_of[p] = tiles++;
      scalars.push_back(*inputs[p].data<float>());
    } else {
      data[p] = inputs[p].data<float>();
    }
  }
  const int32_t first_slot = tiles;
  std::vector<int32_t> free_slots;

  Program program;
  std::vector<int32_t> code_tile;  // per instruction: its operand's tile, or -1
  auto emit = [&](Op op, int32_t value, bool reverse) {
    program.code.push_back({op, reverse, data[value], data[value] != nullptr ? 1 : 0});
    code_tile.push_back(tile_of[value]);
  };
  for (int32_t j = params; j < count; ++j) {
    const std::vector<int32_t>& in = expr.nodes[j].inputs;
    const int32_t held = j - 1 >= params ? j - 1 : -1;  // the accumulator's value
    if (in.size() == 1) {
      if (in[0] != held) emit(Op::kLoad, in[0], false);
      program.code.push_back({ops[j]});
      code_tile.push_back(-1);
    } else if (in[0] == held) {
      emit(ops[j], in[1], false);
    } else if (in[1] == held) {
      emit(ops[j], in[0], true);
    } else {
      emit(Op::kLoad, in[0], false);
      emit(ops[j], in[1], false);
    }
    for (int32_t input : in) {
      if (spilled[input] && last_reader[input] == j && tile_of[input] >= 0) {
        free_slots.push_back(tile_of[input]);
        tile_of[input] = -1;  // once, though j may read it twice
      }
    }
    if (spilled[j]) {
      if (free_slots.empty()) free_slots.push_back(tiles++);
      tile_of[j] = free_slots.back();
      free_slots.pop_back();
      emit(Op::kSpill, j, false);
    }
  }

  program.tiles.resize(static_cast<size_t>(tiles));
  for (int32_t s = 0; s < first_slot; ++s) {
    std::fill(program.tiles[s].v, program.tiles[s].v + kTile, scalars[s]);
  }
  for (size_t i = 0; i < program.code.size(); ++i) {
    if (code_tile[i] >= 0) program.code[i].base = program.tiles[code_tile[i]].v;
  }
  return program;
}

// The last `n` < kTile elements: the program again, its dense inputs read from zero-padded
// copies of their last elements and its result written to a tile, then copied out.
void RunTail(const Program& program, TileRunner run, int64_t start, int64_t n, float* result) {
  std::vector<Instr> code = program.code;
  std::vector<Tile> copies(code.size());
  absl::flat_hash_map<const float*, float*> copy_of;
  for (size_t i = 0; i < code.size(); ++i) {
    Instr& ins = code[i];
    if (ins.step == 0) continue;
    auto [it, inserted] = copy_of.try_emplace(ins.base, copies[i].v);
    if (inserted) {
      std::fill(copies[i].v, copies[i].v + kTile, 0.0f);
      std::copy(ins.base + start, ins.base + start + n, copies[i].v);
    }
    ins.base = it->second;
    ins.step = 0;
  }
  Tile out;
  run(code.data(), code.size(), 0, kTile, out.v, false);
  std::copy(out.v, out.v + n, result + start);
}

}  // namespace
}  // namespace f32

SimdLevel BestSimdLevel() {
#if defined(FERRY_F32_X86_BUILDS)
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
    if (__builtin_cpu_supports("avx2")) return SimdLevel::kAvx2;
    return SimdLevel::kBaseline;
  }();
  return level;
#else
  return SimdLevel::kBaseline;
#endif
}

bool RunFusedFloat32(const core::Graph& expr, absl::Span<const Tensor> inputs, const Tensor& out,
                     SimdLevel level) {
  using f32::kTile;
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  const int32_t params = static_cast<int32_t>(inputs.size());
  const int64_t total = out.size();
  for (int32_t p = 0; p < params; ++p) {
    const int64_t size = inputs[p].size();
    if (inputs[p].dtype() != core::DType::kFloat32 || (size != total && size != 1)) return false;
  }
  std::vector<f32::Op> ops(count);
  for (int32_t j = params; j < count; ++j) {
    const core::Node& node = expr.nodes[j];
    if (node.out.dtype != core::DType::kFloat32 || !f32::Lookup(node.op, &ops[j])) return false;
  }
  const f32::Program program = f32::Compile(expr, inputs, ops);
  const f32::TileRunner run = f32::Runner(std::min(level, BestSimdLevel()));
  float* const result = out.data<float>();
  // Past the caches of most machines a plain store first reads the result's line from
  // memory, a third of the chain's traffic; non-temporal stores (as memcpy's) skip that.
  constexpr int64_t kStreamBytes = 8 << 20;
  const bool stream = total * 4 >= kStreamBytes && reinterpret_cast<uintptr_t>(result) % 64 == 0;
  const int64_t whole = total - total % kTile;
  run(program.code.data(), program.code.size(), 0, whole, result, stream);
#if defined(__SSE2__)
  if (stream) _mm_sfence();  // order the streamed stores before whoever reads the result
#endif
  if (whole < total) f32::RunTail(program, run, whole, total - whole, result);
  return true;
}

}  // namespace ferry::kernels::cpu
