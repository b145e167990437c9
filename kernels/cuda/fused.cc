#include "kernels/cuda/fused.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "kernels/cuda/cubin_cache.h"
#include "kernels/cuda/nvrtc_loader.h"

namespace ferry::kernels::cuda {
namespace {

// Float32 formulas, each as unary.cu / binary.cu computes it for float ("x", "a", "b").
const absl::flat_hash_map<std::string, std::string>& UnaryFormulas() {
  static const auto* formulas = new absl::flat_hash_map<std::string, std::string>{
      {"neg", "-x"},
      {"abs", "fabsf(x)"},
      {"relu", "(x > 0.0f || x != x) ? x : 0.0f"},
      {"exp", "expf(x)"},
      {"log", "logf(x)"},
      {"sqrt", "sqrtf(x)"},
      {"rsqrt", "1.0f / sqrtf(x)"},
      {"sin", "sinf(x)"},
      {"cos", "cosf(x)"},
      {"tanh", "tanhf(x)"},
      {"sigmoid", "1.0f / (1.0f + expf(-x))"},
      {"erf", "erff(x)"},
      {"log1p", "log1pf(x)"},
      {"expm1", "expm1f(x)"},
      {"log2", "log2f(x)"},
      {"log10", "log10f(x)"},
      {"square", "x * x"},
      {"floor", "floorf(x)"},
      {"ceil", "ceilf(x)"},
      {"round", "rintf(x)"},
      {"sign", "x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x"},
      {"gelu", "0.5f * x * erfcf(x * -0.70710678118654752440f)"},
  };
  return *formulas;
}

const absl::flat_hash_map<std::string, std::string>& BinaryFormulas() {
  static const auto* formulas = new absl::flat_hash_map<std::string, std::string>{
      {"add", "a + b"},
      {"sub", "a - b"},
      {"mul", "a * b"},
      {"div", "a / b"},
      {"pow", "powf(a, b)"},
      {"maximum", "(a > b || a != a) ? a : b"},
      {"minimum", "(a < b || a != a) ? a : b"},
  };
  return *formulas;
}

// Comparisons of two float32 values, giving bool.
const absl::flat_hash_map<std::string, std::string>& Comparisons() {
  static const auto* formulas = new absl::flat_hash_map<std::string, std::string>{
      {"equal", "a == b"},      {"not_equal", "a != b"}, {"less", "a < b"},
      {"less_equal", "a <= b"}, {"greater", "a > b"},    {"greater_equal", "a >= b"},
  };
  return *formulas;
}

// A float32 formula as the same op's kernel computes it in double: double functions and
// constants (expf -> exp, 1.0f -> 1.0).
std::string DoubleFormula(const std::string& text) {
  return absl::StrReplaceAll(text, {{"fabsf(", "fabs("},
                                    {"expf(", "exp("},
                                    {"logf(", "log("},
                                    {"sqrtf(", "sqrt("},
                                    {"sinf(", "sin("},
                                    {"cosf(", "cos("},
                                    {"tanhf(", "tanh("},
                                    {"erff(", "erf("},
                                    {"erfcf(", "erfc("},
                                    {"log1pf(", "log1p("},
                                    {"expm1f(", "expm1("},
                                    {"log2f(", "log2("},
                                    {"log10f(", "log10("},
                                    {"floorf(", "floor("},
                                    {"ceilf(", "ceil("},
                                    {"rintf(", "rint("},
                                    {"powf(", "pow("},
                                    {"0.0f", "0.0"},
                                    {"1.0f", "1.0"},
                                    {"0.5f", "0.5"},
                                    {"0.70710678118654752440f", "0.70710678118654752440"}});
}

bool IsBool(const core::Node& node) { return node.out.dtype == core::DType::kBool; }

// How a dtype's elements are stored, and read or written four at a time (float16 and
// bfloat16 are computed in float, as the prebuilt kernels do: each op's result rounded).
struct Storage {
  const char* element;  // the C type of one element in memory
  const char* pack;     // four of them, read or written in one access
  int pack_bytes;       // 0: no such access (float64)
  const char* load;     // float from `element`: "" or a function of the generated source
  const char* store;    // `element` from float
};

Storage StorageOf(core::DType dtype) {
  switch (dtype) {
    case core::DType::kFloat16:
      return {"unsigned short", "ushort4", 8, "ferry_from_half", "ferry_to_half"};
    case core::DType::kBFloat16:
      return {"unsigned short", "ushort4", 8, "ferry_from_bfloat16", "ferry_to_bfloat16"};
    case core::DType::kBool:
      return {"unsigned char", "uchar4", 4, "", "(unsigned char)"};
    case core::DType::kFloat64:
      return {"double", "", 0, "", ""};  // no pack path: 32 bytes have no vector type
    default:
      return {"float", "float4", 16, "", ""};
  }
}

// Conversions between float and float16/bfloat16 bits, rounding to nearest even as
// __float2half_rn and __float2bfloat16_rn do (NaN becomes 0x7fff, as there), in integer
// arithmetic: the same source for NVRTC on every architecture and for the CUDA emulator.
constexpr char kHalfConversions[] =
    R"(__device__ __forceinline__ float ferry_bits_float(unsigned int u) {
  union { unsigned int u; float f; } v;
  v.u = u;
  return v.f;
}
__device__ __forceinline__ unsigned int ferry_float_bits(float f) {
  union { unsigned int u; float f; } v;
  v.f = f;
  return v.u;
}
__device__ __forceinline__ float ferry_from_half(unsigned short h) {
  const unsigned int sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return ferry_bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return ferry_bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  const float subnormal = (float)mantissa * 5.9604644775390625e-8f;  // mantissa * 2^-24, exact
  return sign ? -subnormal : subnormal;
}
__device__ __forceinline__ unsigned short ferry_to_half(float f) {
  const unsigned int u = ferry_float_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fffu;
  if (a >= 0x47800000u) return (unsigned short)(sign | 0x7c00u);  // 2^16 and up: infinity
  if (a < 0x38800000u) {
    // Below 2^-14, a subnormal half: adding 0.5 puts its ten bits at the bottom of the
    // float's mantissa, rounded to nearest even by the addition itself.
    return (unsigned short)(sign | (ferry_float_bits(ferry_bits_float(a) + 0.5f) - 0x3f000000u));
  }
  // Rebias the exponent and round the 13 dropped bits to nearest even (a carry may reach
  // the exponent, up to infinity).
  return (unsigned short)(sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
}
__device__ __forceinline__ float ferry_from_bfloat16(unsigned short h) {
  return ferry_bits_float((unsigned int)h << 16);
}
__device__ __forceinline__ unsigned short ferry_to_bfloat16(float f) {
  const unsigned int u = ferry_float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

)";

// The expression that reads parameter `p` (of `shape`) at output element `i` of `out`:
// dense when the shapes agree, else through each broadcast dimension's coordinate.
std::string ParameterIndex(const core::Shape& shape, const core::Shape& out) {
  if (shape == out) return "i";
  const size_t rank = out.size();
  const size_t offset = rank - shape.size();
  std::vector<std::string> terms;
  int64_t out_stride = 1, in_stride = 1;
  for (size_t d = rank; d-- > 0;) {
    const int64_t in_dim = d >= offset ? shape[d - offset] : 1;
    if (in_dim != 1) {
      terms.push_back(
          absl::StrCat("(i / ", out_stride, "LL % ", out[d], "LL) * ", in_stride, "LL"));
    }
    in_stride *= in_dim;
    out_stride *= out[d];
  }
  return terms.empty() ? "0" : absl::StrJoin(terms, " + ");
}

}  // namespace

std::string FusedKernelSource(const core::Graph& expr) {
  const int32_t count = static_cast<int32_t>(expr.nodes.size());
  int32_t params = 0;
  while (params < count && expr.nodes[params].op == "parameter") ++params;
  if (params == count || expr.outputs.size() != 1 || expr.outputs[0] != count - 1) return "";
  const core::Shape& out = expr.nodes.back().out.shape;
  // The group's one floating dtype (its values are that or bool).
  std::optional<core::DType> floating;
  for (const core::Node& node : expr.nodes) {
    if (IsBool(node)) continue;
    if (node.out.dtype != core::DType::kFloat32 && node.out.dtype != core::DType::kFloat16 &&
        node.out.dtype != core::DType::kBFloat16 && node.out.dtype != core::DType::kFloat64) {
      return "";
    }
    if (floating.has_value() && *floating != node.out.dtype) return "";
    floating = node.out.dtype;
  }
  const bool half = floating == core::DType::kFloat16 || floating == core::DType::kBFloat16;
  auto is_float = [&](int32_t j) { return !IsBool(expr.nodes[j]); };
  // Values compute in float (float64: double, with the formulas' double functions).
  const bool wide = floating == core::DType::kFloat64;
  const char* compute = wide ? "double" : "float";
  auto formula = [&](const std::string& text) { return wide ? DoubleFormula(text) : text; };
  auto type_of = [&](int32_t j) { return is_float(j) ? compute : "bool"; };
  auto storage_of = [&](int32_t j) { return StorageOf(expr.nodes[j].out.dtype); };
  // An op's float result, rounded to a half dtype as the op's own kernel stores it.
  const Storage half_storage = StorageOf(half ? *floating : core::DType::kFloat32);
  auto rounded = [&](std::string value) {
    if (!half) return value;
    return absl::StrCat(half_storage.load, "(", half_storage.store, "(", value, "))");
  };
  // ferry_element computes one output element from its parameters' values.
  std::vector<std::string> values, body;
  for (int32_t p = 0; p < params; ++p) {
    if (expr.nodes[p].out.shape.size() > out.size()) return "";
    values.push_back(absl::StrCat(type_of(p), " v", p));
  }
  for (int32_t j = params; j < count; ++j) {
    const core::Node& node = expr.nodes[j];
    const std::vector<int32_t>& in = node.inputs;
    auto operand = [&](size_t k) { return absl::StrCat("v", in[k]); };
    auto input_is = [&](size_t k, bool float_value) {
      return k < in.size() && is_float(in[k]) == float_value;
    };
    std::string value;
    if (auto u = UnaryFormulas().find(node.op);
        u != UnaryFormulas().end() && in.size() == 1 && is_float(j) && input_is(0, true)) {
      value = rounded(absl::StrCat("[&] { const ", compute, " x = ", operand(0), "; return ",
                                   formula(u->second), "; }()"));
    } else if (auto b = BinaryFormulas().find(node.op); b != BinaryFormulas().end() &&
                                                        in.size() == 2 && is_float(j) &&
                                                        input_is(0, true) && input_is(1, true)) {
      value = rounded(absl::StrCat("[&] { const ", compute, " a = ", operand(0),
                                   ", b = ", operand(1), "; return ", formula(b->second), "; }()"));
    } else if (auto c = Comparisons().find(node.op); c != Comparisons().end() && in.size() == 2 &&
                                                     IsBool(node) && input_is(0, true) &&
                                                     input_is(1, true)) {
      value = absl::StrCat("[&] { const ", compute, " a = ", operand(0), ", b = ", operand(1),
                           "; return ", c->second, "; }()");
    } else if (node.op == "where" && in.size() == 3 && input_is(0, false) &&
               input_is(1, is_float(j)) && input_is(2, is_float(j))) {
      value = absl::StrCat(operand(0), " ? ", operand(1), " : ", operand(2));
    } else if ((node.op == "logical_and" || node.op == "logical_or") && in.size() == 2 &&
               IsBool(node) && input_is(0, false) && input_is(1, false)) {
      value = absl::StrCat(operand(0), node.op == "logical_and" ? " && " : " || ", operand(1));
    } else if (node.op == "logical_not" && in.size() == 1 && IsBool(node) && input_is(0, false)) {
      value = absl::StrCat("!", operand(0));
    } else {
      return "";
    }
    body.push_back(absl::StrCat("const ", type_of(j), " v", j, " = ", value, ";"));
  }
  const Storage out_storage = storage_of(count - 1);
  auto stored = [&](const std::string& value) {
    return *out_storage.store == '\0' ? value : absl::StrCat(out_storage.store, "(", value, ")");
  };
  std::string source =
      absl::StrCat(half ? kHalfConversions : "", "__device__ __forceinline__ ", type_of(count - 1),
                   " ferry_element(", absl::StrJoin(values, ", "), ") {\n  ",
                   absl::StrJoin(body, "\n  "), "\n  return v", count - 1, ";\n}\n\n");

  // The kernel's arguments, each parameter's value at element i, and, where no parameter
  // broadcasts along a dimension (each is dense or a single element), the pack path: four
  // elements per thread and step in one access per operand (16 bytes of float, 8 of a half
  // dtype, 4 of bool; float64 groups have none).
  auto loaded = [&](int32_t p, const std::string& element) {
    const Storage st = storage_of(p);
    if (IsBool(expr.nodes[p])) return absl::StrCat(element, " != 0");
    return *st.load != '\0' ? absl::StrCat(st.load, "(", element, ")") : element;
  };
  std::vector<std::string> arguments, at_i, in_pack, aligned, indices;
  bool packs = out_storage.pack_bytes > 0;
  for (int32_t p = 0; p < params; ++p) {
    const Storage st = storage_of(p);
    arguments.push_back(absl::StrCat("const ", st.element, "* in_", p));
    const std::string& index = indices.emplace_back(ParameterIndex(expr.nodes[p].out.shape, out));
    at_i.push_back(loaded(p, absl::StrCat("in_", p, "[", index, "]")));
    if (st.pack_bytes == 0) {
      packs = false;
    } else if (index == "i") {
      aligned.push_back(absl::StrCat("(unsigned long long)in_", p, " % ", st.pack_bytes, " == 0"));
      in_pack.push_back(absl::StrCat("const ", st.pack, " p", p, " = reinterpret_cast<const ",
                                     st.pack, "*>(in_", p, ")[q];"));
    } else if (index == "0") {
      in_pack.push_back(absl::StrCat("const ", type_of(p), " s", p, " = ",
                                     loaded(p, absl::StrCat("in_", p, "[0]")), ";"));
    } else {
      packs = false;
    }
  }
  arguments.push_back(absl::StrCat(out_storage.element, "* out"));
  arguments.push_back("long long n");
  absl::StrAppend(&source, "extern \"C\" __global__ void __launch_bounds__(256) ferry_fused(",
                  absl::StrJoin(arguments, ", "), ") {\n  long long start = 0;\n");
  // Each thread reads element i (or pack q) of every input before writing it to out, so out
  // may be an input's memory (the executor's in-place reuse).
  if (packs) {
    aligned.push_back(absl::StrCat("(unsigned long long)out % ", out_storage.pack_bytes, " == 0"));
    std::string lanes;
    for (const char* lane : {"x", "y", "z", "w"}) {
      std::vector<std::string> lane_values;
      for (int32_t p = 0; p < params; ++p) {
        if (indices[p] == "i") {
          lane_values.push_back(loaded(p, absl::StrCat("p", p, ".", lane)));
        } else {
          lane_values.push_back(absl::StrCat("s", p));
        }
      }
      absl::StrAppend(&lanes, "      r.", lane, " = ",
                      stored(absl::StrCat("ferry_element(", absl::StrJoin(lane_values, ", "), ")")),
                      ";\n");
    }
    absl::StrAppend(&source, "  if (", absl::StrJoin(aligned, " && "), ") {\n",
                    "    for (long long q = blockIdx.x * 256LL + threadIdx.x; q < n / 4;"
                    " q += (long long)gridDim.x * 256LL) {\n      ",
                    absl::StrJoin(in_pack, "\n      "), "\n      ", out_storage.pack, " r;\n",
                    lanes, "      reinterpret_cast<", out_storage.pack, "*>(out)[q] = r;\n",
                    "    }\n    start = n / 4 * 4;\n  }\n");
  }
  absl::StrAppend(
      &source,
      "  for (long long i = start + blockIdx.x * 256LL + threadIdx.x; i < n;"
      " i += (long long)gridDim.x * 256LL) {\n",
      "    out[i] = ", stored(absl::StrCat("ferry_element(", absl::StrJoin(at_i, ", "), ")")),
      ";\n  }\n}\n");
  return source;
}

cudaError_t FusedKernel::Launch(absl::Span<const Tensor> inputs, const Tensor& out,
                                cudaStream_t stream, int64_t generation) const {
  cudaKernel_t kernel = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (loaded_generation_ != generation) {
      // A reset unloaded the library this kernel came from; the old handle is not used.
      cudaLibrary_t library = nullptr;
      cudaError_t loaded =
          cudaLibraryLoadData(&library, cubin_.data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
      if (loaded == cudaSuccess) loaded = cudaLibraryGetKernel(&kernel_, library, "ferry_fused");
      if (loaded != cudaSuccess) return loaded;
      loaded_generation_ = generation;
    }
    kernel = kernel_;
  }
  long long n = out.size();
  if (n == 0) return cudaSuccess;
  std::vector<void*> pointers;
  for (const Tensor& input : inputs) pointers.push_back(input.raw());
  void* result = out.raw();
  std::vector<void*> arguments;
  for (void*& pointer : pointers) arguments.push_back(&pointer);
  arguments.push_back(&result);
  arguments.push_back(&n);
  // A thread per four elements: the pack path's count (the others loop over the grid).
  const long long blocks = std::min<long long>((n + 1023) / 1024, 1 << 20);
  return cudaLaunchKernel(reinterpret_cast<const void*>(kernel),
                          dim3(static_cast<unsigned>(blocks)), dim3(256), arguments.data(), 0,
                          stream);
}

std::shared_ptr<const FusedKernel> CompileFusedKernel(const core::Graph& expr, int major, int minor,
                                                      std::string* why) {
  std::string source = FusedKernelSource(expr);
  if (source.empty()) {
    *why = "a value or op the generator does not cover";
    return nullptr;
  }
  // The same group recurs in many graphs (each training step's, each model's layers): its
  // kernel is compiled once per process and GPU generation (NVRTC takes tens of ms).
  static absl::Mutex mu(absl::kConstInit);
  static auto* compiled = new absl::flat_hash_map<std::string, std::shared_ptr<const FusedKernel>>;
  const std::string key = absl::StrCat(major, ".", minor, "\n", source);
  {
    absl::MutexLock lock(&mu);
    if (auto it = compiled->find(key); it != compiled->end()) return it->second;
  }
  absl::StatusOr<const Nvrtc*> nvrtc = LoadNvrtc();
  if (!nvrtc.ok()) {
    *why = std::string(nvrtc.status().message());
    return nullptr;
  }
  int nvrtc_major = 0, nvrtc_minor = 0;
  (*nvrtc)->Version(&nvrtc_major, &nvrtc_minor);
  const std::string compiler =
      absl::StrCat("nvrtc ", nvrtc_major, ".", nvrtc_minor, " sm_", major, minor);
  const std::string cache_dir = CubinCacheDir();
  absl::StatusOr<std::string> cubin;
  if (std::optional<std::string> cached = LoadCubin(cache_dir, compiler, source)) {
    cubin = *std::move(cached);
  } else {
    cubin = CompileToCubin(**nvrtc, source, major, minor);
    if (!cubin.ok()) {
      *why = std::string(cubin.status().message());
      return nullptr;
    }
    StoreCubin(cache_dir, compiler, source, *cubin);  // a cache: failing to store is fine
  }
  auto kernel = std::make_shared<const FusedKernel>(std::move(source), *std::move(cubin));
  absl::MutexLock lock(&mu);
  if (compiled->size() >= 4096) compiled->clear();  // a bound, not an LRU: rarely reached
  compiled->emplace(key, kernel);
  return kernel;
}

}  // namespace ferry::kernels::cuda
