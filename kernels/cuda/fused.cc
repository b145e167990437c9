#include "kernels/cuda/fused.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
      {"gelu", "0.5f * x * (1.0f + erff(x * 0.70710678118654752440f))"},
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

bool IsFloat32(const core::Node& node) { return node.out.dtype == core::DType::kFloat32; }
bool IsBool(const core::Node& node) { return node.out.dtype == core::DType::kBool; }

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
  for (const core::Node& node : expr.nodes) {
    if (!IsFloat32(node) && !IsBool(node)) return "";
  }
  auto type_of = [&](int32_t j) { return IsFloat32(expr.nodes[j]) ? "float" : "bool"; };
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
    auto input_is = [&](size_t k, bool float32) {
      return k < in.size() && (float32 ? IsFloat32(expr.nodes[in[k]]) : IsBool(expr.nodes[in[k]]));
    };
    std::string value;
    if (auto u = UnaryFormulas().find(node.op);
        u != UnaryFormulas().end() && in.size() == 1 && IsFloat32(node) && input_is(0, true)) {
      value = absl::StrCat("[&] { const float x = ", operand(0), "; return ", u->second, "; }()");
    } else if (auto b = BinaryFormulas().find(node.op); b != BinaryFormulas().end() &&
                                                        in.size() == 2 && IsFloat32(node) &&
                                                        input_is(0, true) && input_is(1, true)) {
      value = absl::StrCat("[&] { const float a = ", operand(0), ", b = ", operand(1), "; return ",
                           b->second, "; }()");
    } else if (auto c = Comparisons().find(node.op); c != Comparisons().end() && in.size() == 2 &&
                                                     IsBool(node) && input_is(0, true) &&
                                                     input_is(1, true)) {
      value = absl::StrCat("[&] { const float a = ", operand(0), ", b = ", operand(1), "; return ",
                           c->second, "; }()");
    } else if (node.op == "where" && in.size() == 3 && input_is(0, false) &&
               input_is(1, IsFloat32(node)) && input_is(2, IsFloat32(node))) {
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
  const bool float_out = IsFloat32(expr.nodes.back());
  const char* out_type = float_out ? "float" : "unsigned char";
  std::string source =
      absl::StrCat("__device__ __forceinline__ ", type_of(count - 1), " ferry_element(",
                   absl::StrJoin(values, ", "), ") {\n  ", absl::StrJoin(body, "\n  "),
                   "\n  return v", count - 1, ";\n}\n\n");

  // The kernel's arguments, each parameter's value at element i, and, where no parameter
  // broadcasts along a dimension (each is dense or a single element), the pack path: four
  // elements per thread and step in one 16-byte (float) or 4-byte (bool) access per operand.
  std::vector<std::string> arguments, at_i, in_pack, aligned;
  bool packs = true;
  for (int32_t p = 0; p < params; ++p) {
    const core::Node& node = expr.nodes[p];
    const bool f = IsFloat32(node);
    arguments.push_back(absl::StrCat("const ", f ? "float" : "unsigned char", "* in_", p));
    const std::string index = ParameterIndex(node.out.shape, out);
    at_i.push_back(absl::StrCat("in_", p, "[", index, "]", f ? "" : " != 0"));
    if (index == "i") {
      aligned.push_back(absl::StrCat("(unsigned long long)in_", p, " % ", f ? 16 : 4, " == 0"));
      in_pack.push_back(absl::StrCat("const ", f ? "float4" : "uchar4", " p", p,
                                     " = reinterpret_cast<const ", f ? "float4" : "uchar4",
                                     "*>(in_", p, ")[q];"));
    } else if (index == "0") {
      in_pack.push_back(absl::StrCat("const ", f ? "float" : "bool", " s", p, " = in_", p, "[0]",
                                     f ? "" : " != 0", ";"));
    } else {
      packs = false;
    }
  }
  arguments.push_back(absl::StrCat(out_type, "* out"));
  arguments.push_back("long long n");
  absl::StrAppend(&source, "extern \"C\" __global__ void __launch_bounds__(256) ferry_fused(",
                  absl::StrJoin(arguments, ", "), ") {\n  long long start = 0;\n");
  // Each thread reads element i (or pack q) of every input before writing it to out, so out
  // may be an input's memory (the executor's in-place reuse).
  if (packs) {
    aligned.push_back(absl::StrCat("(unsigned long long)out % ", float_out ? 16 : 4, " == 0"));
    std::string lanes;
    for (const char* lane : {"x", "y", "z", "w"}) {
      std::vector<std::string> lane_values;
      for (int32_t p = 0; p < params; ++p) {
        const std::string index = ParameterIndex(expr.nodes[p].out.shape, out);
        if (index == "i") {
          lane_values.push_back(
              absl::StrCat("p", p, ".", lane, IsFloat32(expr.nodes[p]) ? "" : " != 0"));
        } else {
          lane_values.push_back(absl::StrCat("s", p));
        }
      }
      absl::StrAppend(&lanes, "      r.", lane, " = ", float_out ? "" : "(unsigned char)",
                      "ferry_element(", absl::StrJoin(lane_values, ", "), ");\n");
    }
    absl::StrAppend(&source, "  if (", absl::StrJoin(aligned, " && "), ") {\n",
                    "    for (long long q = blockIdx.x * 256LL + threadIdx.x; q < n / 4;"
                    " q += (long long)gridDim.x * 256LL) {\n      ",
                    absl::StrJoin(in_pack, "\n      "), "\n      ", float_out ? "float4" : "uchar4",
                    " r;\n", lanes, "      reinterpret_cast<", float_out ? "float4" : "uchar4",
                    "*>(out)[q] = r;\n", "    }\n    start = n / 4 * 4;\n  }\n");
  }
  absl::StrAppend(&source,
                  "  for (long long i = start + blockIdx.x * 256LL + threadIdx.x; i < n;"
                  " i += (long long)gridDim.x * 256LL) {\n",
                  "    out[i] = ", float_out ? "" : "(unsigned char)", "ferry_element(",
                  absl::StrJoin(at_i, ", "), ");\n  }\n}\n");
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
