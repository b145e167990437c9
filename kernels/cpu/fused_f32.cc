// Compiles a float32 chain to a tile program (fused_f32_tiles.h) and runs it with the
// widest instruction set the CPU has. The baseline build of the tile loop lives here; the
// AVX2 and AVX-512 builds in fused_f32_avx2.cc and fused_f32_avx512.cc.

#include "kernels/cpu/fused_f32.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#include "kernels/cpu/fused_f32_tiles.h"

namespace ferry::kernels::cpu {

// The code with its operands named rather than placed: each call binds them to its own
// inputs and tiles (f32::Bind), so a plan compiles once.
struct Float32Program {
  int64_t size = 0;                        // elements of the result
  std::vector<bool> scalar;                // per parameter: a single element, read from a tile
  std::vector<int32_t> scalar_tile_input;  // per scalar tile (the first tiles): its parameter
  int32_t tiles = 0;                       // scalar tiles, then spill slots
  std::vector<f32::Instr> code;            // bases unset
  std::vector<int32_t> operand_input;      // per instruction: the dense parameter read, or -1
  std::vector<int32_t> operand_tile;       // per instruction: the tile read, or -1
};

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
#if defined(FERRY_X86_SIMD_BUILDS)
  if (level == SimdLevel::kAvx512) return RunTilesAvx512;
  if (level == SimdLevel::kAvx2) return RunTilesAvx2;
#endif
  return RunTilesBaseline;
}

bool Lookup(const std::string& name, Op* op) {
  static const auto* const ops = new absl::flat_hash_map<std::string, Op>{
      {"add", Op::kAdd},         {"sub", Op::kSub},         {"mul", Op::kMul},   {"div", Op::kDiv},
      {"maximum", Op::kMaximum}, {"minimum", Op::kMinimum}, {"neg", Op::kNeg},   {"abs", Op::kAbs},
      {"relu", Op::kRelu},       {"exp", Op::kExp},         {"tanh", Op::kTanh}, {"log", Op::kLog},
      {"erf", Op::kErf},         {"gelu", Op::kGelu},       {"sin", Op::kSin},   {"cos", Op::kCos},
  };
  auto it = ops->find(name);
  if (it == ops->end()) return false;
  *op = it->second;
  return true;
}

struct alignas(64) Tile {
  float v[kTile];
};

// A program bound to one call's inputs: its code, and the tiles its operands other than
// dense inputs live in (repeated scalars, then spill slots).
struct Program {
  std::vector<Instr> code;
  std::vector<Tile> tiles;
};

// Compiles `expr` with the ops `ops` (one per node after the `params` parameters). Node j's
// value is in the accumulator right after its op runs; it is spilled to a slot only when a
// node other than j + 1 reads it (or j + 1 reads it twice), and slots are reused once their
// value's last reader has run.
void Compile(const core::Graph& expr, int32_t params, const std::vector<Op>& ops,
             Float32Program& program) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
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

  // Where each value lives: a dense input (operand_input), or its tile.
  std::vector<int32_t> tile_of(count, -1);
  int32_t tiles = 0;
  for (int32_t p = 0; p < params; ++p) {
    if (program.scalar[p]) {
      tile_of[p] = tiles++;
      program.scalar_tile_input.push_back(p);
    }
  }
  std::vector<int32_t> free_slots;

  auto emit = [&](Op op, int32_t value, bool reverse) {
    const bool dense = value < params && !program.scalar[value];
    program.code.push_back({op, reverse, nullptr, dense ? 1 : 0});
    program.operand_input.push_back(dense ? value : -1);
    program.operand_tile.push_back(tile_of[value]);
  };
  for (int32_t j = params; j < count; ++j) {
    const std::vector<int32_t>& in = expr.nodes[j].inputs;
    const int32_t held = j - 1 >= params ? j - 1 : -1;  // the accumulator's value
    if (in.size() == 1) {
      if (in[0] != held) emit(Op::kLoad, in[0], false);
      program.code.push_back({ops[j]});
      program.operand_input.push_back(-1);
      program.operand_tile.push_back(-1);
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
  program.tiles = tiles;
}

// `program` with its operands placed: scalars and spill slots in tiles, dense inputs at
// their data, or with `tail` > 0 (the last elements, fewer than a tile) in tiles holding
// zero-padded copies of their elements [start, start + tail).
Program Bind(const Float32Program& program, absl::Span<const Tensor> inputs, int64_t start = 0,
             int64_t tail = 0) {
  Program bound;
  bound.code = program.code;
  const size_t params = inputs.size();
  bound.tiles.resize(static_cast<size_t>(program.tiles) + (tail > 0 ? params : 0));
  for (size_t s = 0; s < program.scalar_tile_input.size(); ++s) {
    const float scalar = *inputs[program.scalar_tile_input[s]].data<float>();
    std::fill(bound.tiles[s].v, bound.tiles[s].v + kTile, scalar);
  }
  if (tail > 0) {
    for (size_t p = 0; p < params; ++p) {
      if (program.scalar[p]) continue;
      const float* data = inputs[p].data<float>() + start;
      std::copy(data, data + tail, bound.tiles[program.tiles + p].v);
    }
  }
  for (size_t i = 0; i < bound.code.size(); ++i) {
    const int32_t input = program.operand_input[i];
    if (input >= 0 && tail > 0) {
      bound.code[i].base = bound.tiles[program.tiles + input].v;
      bound.code[i].step = 0;
    } else if (input >= 0) {
      bound.code[i].base = inputs[input].data<float>();
    } else if (program.operand_tile[i] >= 0) {
      bound.code[i].base = bound.tiles[program.operand_tile[i]].v;
    }
  }
  return bound;
}

}  // namespace
}  // namespace f32

std::shared_ptr<const Float32Program> CompileFloat32(const core::Graph& expr) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  int32_t params = 0;
  while (params < count && expr.nodes[params].op == "parameter") ++params;
  if (params == count) return nullptr;
  auto program = std::make_shared<Float32Program>();
  program->size = core::NumElements(expr.nodes.back().out.shape);
  for (int32_t p = 0; p < params; ++p) {
    const core::TensorType& type = expr.nodes[p].out;
    const int64_t size = core::NumElements(type.shape);
    if (type.dtype != core::DType::kFloat32 || (size != program->size && size != 1)) return nullptr;
    program->scalar.push_back(size == 1);
  }
  std::vector<f32::Op> ops(count);
  for (int32_t j = params; j < count; ++j) {
    const core::Node& node = expr.nodes[j];
    if (node.out.dtype != core::DType::kFloat32 || !f32::Lookup(node.op, &ops[j])) return nullptr;
  }
  f32::Compile(expr, params, ops, *program);
  return program;
}

bool RunFloat32(const Float32Program& program, absl::Span<const Tensor> inputs, const Tensor& out,
                SimdLevel level) {
  using f32::kTile;
  const int64_t total = program.size;
  if (out.dtype() != core::DType::kFloat32 || out.size() != total ||
      inputs.size() != program.scalar.size()) {
    return false;
  }
  for (size_t p = 0; p < inputs.size(); ++p) {
    if (inputs[p].dtype() != core::DType::kFloat32 ||
        inputs[p].size() != (program.scalar[p] ? 1 : total)) {
      return false;
    }
  }
  const f32::TileRunner run = f32::Runner(std::min(level, BestSimdLevel()));
  float* const result = out.data<float>();
  // Past the caches of most machines a plain store first reads the result's line from
  // memory, a third of the chain's traffic; non-temporal stores (as memcpy's) skip that.
  constexpr int64_t kStreamBytes = 8 << 20;
  const bool stream = total * 4 >= kStreamBytes && reinterpret_cast<uintptr_t>(result) % 64 == 0;
  const int64_t whole = total - total % kTile;
  if (whole > 0) {
    const f32::Program bound = f32::Bind(program, inputs);
    run(bound.code.data(), bound.code.size(), 0, whole, result, stream);
#if defined(__SSE2__)
    if (stream) _mm_sfence();  // order the streamed stores before whoever reads the result
#endif
  }
  if (whole < total) {
    // The last elements: the program over padded copies, its result written to a tile.
    const f32::Program bound = f32::Bind(program, inputs, whole, total - whole);
    f32::Tile last;
    run(bound.code.data(), bound.code.size(), 0, kTile, last.v, false);
    std::copy(last.v, last.v + (total - whole), result + whole);
  }
  return true;
}

bool RunFusedFloat32(const core::Graph& expr, absl::Span<const Tensor> inputs, const Tensor& out,
                     SimdLevel level) {
  const std::shared_ptr<const Float32Program> program = CompileFloat32(expr);
  return program != nullptr && RunFloat32(*program, inputs, out, level);
}

}  // namespace ferry::kernels::cpu
