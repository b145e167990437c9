// The CPU backend against what it should match: matmul against OpenBLAS called directly, a
// convolution against OpenBLAS on its lowered product alone, a 4-bit quantized_matmul
// against OpenBLAS on the same layer in float32, a mixture of experts' gather_mm against an
// sgemm per expert, the factorizations against OpenBLAS's LAPACK called directly, a fused
// elementwise chain against memcpy (a pass over memory can go no faster), exp and tanh
// against the C library's, and the FFT against FFTW.

#include <cblas.h>
#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/report.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/lapack.h"
#include "kernels/executor.h"

namespace ferry::bench {
namespace {

using core::DType;

template <typename T>
T Check(absl::StatusOr<T> value) {
  if (!value.ok()) throw std::runtime_error(std::string(value.status().message()));
  return *std::move(value);
}

// Appends a node with its type inferred by core.
int32_t AddNode(core::Graph& graph, const std::string& op, std::vector<int32_t> inputs,
                core::Attrs attrs = {}) {
  std::vector<core::TensorType> types;
  for (int32_t input : inputs) types.push_back(graph.nodes[input].out);
  core::TensorType out = Check(core::InferOp(op, types, attrs));
  graph.nodes.push_back(core::Node{op, std::move(inputs), std::move(attrs), out});
  return static_cast<int32_t>(graph.nodes.size()) - 1;
}

int32_t AddParameter(core::Graph& graph, int64_t index, const core::TensorType& type) {
  return AddNode(graph, "parameter", {},
                 {{"index", index}, {"dtype", type.dtype}, {"shape", type.shape}});
}

int32_t AddScalar(core::Graph& graph, float value) {
  core::HostTensor host{{DType::kFloat32, {}}, std::string(sizeof(float), '\0')};
  std::memcpy(host.data.data(), &value, sizeof(float));
  return AddNode(graph, "constant", {}, {{"value", host}});
}

kernels::Tensor RandomTensor(kernels::Backend& backend, const core::TensorType& type) {
  kernels::Tensor tensor = Check(backend.Allocate(type));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1, 1);
  float* data = tensor.data<float>();
  for (int64_t i = 0; i < tensor.size(); ++i) data[i] = value(rng);
  return tensor;
}

void SgemmBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t n = options.quick ? 256 : 2048;
  const int repeats = options.quick ? 2 : 7;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  kernels::Executor executor(*backend);
  const core::TensorType type{DType::kFloat32, {n, n}};
  core::Graph graph;
  const int32_t a = AddParameter(graph, 0, type);
  const int32_t b = AddParameter(graph, 1, type);
  graph.outputs = {AddNode(graph, "matmul", {a, b})};
  std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
  std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, type),
                                             RandomTensor(*backend, type)};
  const double ferry_s = BestSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });

  std::vector<float> c(static_cast<size_t>(n * n));
  const double blas_s = BestSeconds(repeats, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                parameters[0].data<float>(), n, parameters[1].data<float>(), n, 0.0f, c.data(), n);
  });
  const double flops = 2.0 * n * n * n;
  rows.push_back(MakeRow(absl::StrCat("sgemm ", n, "x", n, " (CPU backend vs OpenBLAS)"),
                         absl::StrFormat("%.1f GFLOP/s", flops / ferry_s / 1e9),
                         absl::StrFormat("%.1f GFLOP/s", flops / blas_s / 1e9), blas_s / ferry_s,
                         false, 0.95));
}

// A 3x3 convolution of a ResNet stage (channels last, padding 1) against the one sgemm its
// lowering multiplies (batch x pixels by taps x channels, times the filters): the ratio is
// what building the lowered matrix costs.
void ConvolutionBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t batch = options.quick ? 1 : 8, size = options.quick ? 16 : 56;
  const int64_t channels = options.quick ? 16 : 64;
  const int repeats = options.quick ? 2 : 7;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  kernels::Executor executor(*backend);
  const core::TensorType x_type{DType::kFloat32, {batch, size, size, channels}};
  const core::TensorType w_type{DType::kFloat32, {channels, 3, 3, channels}};
  core::Graph graph;
  const int32_t x = AddParameter(graph, 0, x_type);
  const int32_t w = AddParameter(graph, 1, w_type);
  graph.outputs = {AddNode(graph, "convolution", {x, w},
                           {{"stride", std::vector<int64_t>{1, 1}},
                            {"padding_lo", std::vector<int64_t>{1, 1}},
                            {"padding_hi", std::vector<int64_t>{1, 1}},
                            {"kernel_dilation", std::vector<int64_t>{1, 1}},
                            {"groups", int64_t{1}}})};
  std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
  std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, x_type),
                                             RandomTensor(*backend, w_type)};
  const double ferry_s = BestSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });

  const int64_t m = batch * size * size, n = channels, k = 9 * channels;
  std::vector<float> lowered(static_cast<size_t>(m * k), 0.5f), y(static_cast<size_t>(m * n));
  const double blas_s = BestSeconds(repeats, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, lowered.data(), k,
                parameters[1].data<float>(), k, 0.0f, y.data(), n);
  });
  const double flops = 2.0 * m * n * k;
  rows.push_back(MakeRow(absl::StrCat("conv 3x3 ", batch, "x", size, "x", size, "x", channels,
                                      " (CPU backend vs its sgemm alone)"),
                         absl::StrFormat("%.1f GFLOP/s", flops / ferry_s / 1e9),
                         absl::StrFormat("%.1f GFLOP/s", flops / blas_s / 1e9), blas_s / ferry_s,
                         false, 0.8));
}

// A 4-bit linear layer (group size 64) against the same layer unquantized, OpenBLAS on its
// float32 weights: for one row of x (decoding) both are bound by reading the weights, which
// quantization makes 7x smaller; for 64 rows the product's work dominates and the quantized
// layer also unpacks every weight once (in one thread, OpenBLAS in all).
void QuantizedMatmulBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t n = options.quick ? 512 : 4096;
  const int repeats = options.quick ? 2 : 9;
  constexpr int64_t kBits = 4, kGroup = 64;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  const core::TensorType wq_type{DType::kUInt32, {n, n * kBits / 32}};
  const core::TensorType groups_type{DType::kFloat32, {n, n / kGroup}};
  kernels::Tensor wq = Check(backend->Allocate(wq_type));
  std::mt19937 rng(2);
  for (int64_t i = 0; i < wq.size(); ++i) wq.data<uint32_t>()[i] = rng();
  kernels::Tensor scales = RandomTensor(*backend, groups_type);
  kernels::Tensor biases = RandomTensor(*backend, groups_type);
  const core::TensorType w_type{DType::kFloat32, {n, n}};
  kernels::Tensor w = RandomTensor(*backend, w_type);  // the float layer's weights
  for (int64_t m : {int64_t{1}, int64_t{8}, int64_t{64}}) {
    kernels::Executor executor(*backend);
    const core::TensorType x_type{DType::kFloat32, {m, n}};
    core::Graph graph;
    const int32_t x = AddParameter(graph, 0, x_type);
    graph.outputs = {
        AddNode(graph, "quantized_matmul",
                {x, AddParameter(graph, 1, wq_type), AddParameter(graph, 2, groups_type),
                 AddParameter(graph, 3, groups_type)},
                {{"bits", kBits}, {"group_size", kGroup}, {"transpose", int64_t{1}}})};
    std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
    std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, x_type), wq, scales, biases};
    const double ferry_s = BestSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });
    std::vector<float> y(static_cast<size_t>(m * n));
    const double blas_s = BestSeconds(repeats, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, n, 1.0f,
                  parameters[0].data<float>(), n, w.data<float>(), n, 0.0f, y.data(), n);
    });
    const double flops = 2.0 * m * n * n;
    rows.push_back(MakeRow(absl::StrCat("quantized_matmul 4-bit ", m, "x", n, " @ ", n, "x", n,
                                        "^T (vs OpenBLAS on float32 weights)"),
                           absl::StrFormat("%.1f GFLOP/s", flops / ferry_s / 1e9),
                           absl::StrFormat("%.1f GFLOP/s", flops / blas_s / 1e9), blas_s / ferry_s,
                           false,
                           m == 1   ? 1.0
                           : m == 8 ? 0.5
                                    : 0.6));
  }
}

// A mixture of experts' layer: gather_mm of single rows against 16 experts' weights (1024 x
// 512, swapaxes(w) as SwitchLinear multiplies them), 1024 (token, expert) pairs sorted by
// expert as SwitchGLU sorts a prefill's, against one OpenBLAS sgemm per expert's rows: the
// ratio is what reading the indices and finding the runs cost.
void GatherMmBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t experts = options.quick ? 4 : 16, d = options.quick ? 128 : 1024;
  const int64_t h = options.quick ? 64 : 512, pairs = options.quick ? 64 : 1024;
  const int repeats = options.quick ? 2 : 7;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  kernels::Executor executor(*backend);
  const core::TensorType x_type{DType::kFloat32, {pairs, 1, d}};
  const core::TensorType w_type{DType::kFloat32, {experts, h, d}};
  const core::TensorType index_type{DType::kInt32, {pairs}};
  core::Graph graph;
  const int32_t x = AddParameter(graph, 0, x_type);
  const int32_t w = AddParameter(graph, 1, w_type);
  const int32_t wt = AddNode(graph, "transpose", {w}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
  graph.outputs = {
      AddNode(graph, "gather_mm",
              {x, wt, AddParameter(graph, 2, index_type), AddParameter(graph, 3, index_type)})};
  std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
  kernels::Tensor lhs = Check(backend->Allocate(index_type));
  kernels::Tensor rhs = Check(backend->Allocate(index_type));
  for (int64_t i = 0; i < pairs; ++i) {
    lhs.data<int32_t>()[i] = static_cast<int32_t>(i);
    rhs.data<int32_t>()[i] = static_cast<int32_t>(i * experts / pairs);
  }
  std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, x_type),
                                             RandomTensor(*backend, w_type), lhs, rhs};
  const double ferry_s = BestSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });
  std::vector<float> y(static_cast<size_t>(pairs * h));
  const int64_t per_expert = pairs / experts;
  const double blas_s = BestSeconds(repeats, [&] {
    for (int64_t e = 0; e < experts; ++e) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(per_expert),
                  static_cast<int>(h), static_cast<int>(d), 1.0f,
                  parameters[0].data<float>() + e * per_expert * d, static_cast<int>(d),
                  parameters[1].data<float>() + e * h * d, static_cast<int>(d), 0.0f,
                  y.data() + e * per_expert * h, static_cast<int>(h));
    }
  });
  const double flops = 2.0 * pairs * d * h;
  rows.push_back(
      MakeReportRow(absl::StrCat("gather_mm ", pairs, " sorted rows x ", experts, " experts of ", d,
                                 "x", h, " (CPU backend vs an sgemm per expert)"),
                    absl::StrFormat("%.1f GFLOP/s", flops / ferry_s / 1e9),
                    absl::StrFormat("%.1f GFLOP/s", flops / blas_s / 1e9), blas_s / ferry_s));
}

// cholesky, solve (64 right-hand sides), eigh and svd of one float32 matrix against the
// LAPACK routine each calls, on a copy of the input as LAPACK overwrites it: the ratio is
// what the executor and the row-major layout (transposed copies for solve and eigh) cost;
// and cholesky of a batch of small matrices against a loop of LAPACK calls.
void LinalgBenchmark(const Options& options, std::vector<Row>& rows) {
  const int n = options.quick ? 96 : 1024, small = options.quick ? 64 : 512;
  const int repeats = options.quick ? 2 : 5;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  // Symmetric positive definite inputs: r r^T + n I.
  auto spd = [&](int size) {
    const core::TensorType type{DType::kFloat32, {size, size}};
    kernels::Tensor r = RandomTensor(*backend, type);
    kernels::Tensor a = Check(backend->Allocate(type));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, size, size, size, 1.0f, r.data<float>(),
                size, r.data<float>(), size, 0.0f, a.data<float>(), size);
    for (int i = 0; i < size; ++i) a.data<float>()[i * size + i] += static_cast<float>(size);
    return a;
  };
  auto run = [&](const std::string& op, core::Attrs attrs, std::vector<kernels::Tensor> inputs) {
    kernels::Executor executor(*backend);
    core::Graph graph;
    std::vector<int32_t> parameters;
    for (size_t i = 0; i < inputs.size(); ++i) {
      parameters.push_back(AddParameter(graph, static_cast<int64_t>(i), inputs[i].type));
    }
    graph.outputs = {AddNode(graph, op, parameters, std::move(attrs))};
    std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
    return BestSeconds(repeats, [&] { Check(executor.Run(*plan, inputs)); });
  };
  auto add_row = [&](const std::string& name, double flops, double ferry_s, double lapack_s) {
    rows.push_back(MakeRow(
        absl::StrCat(name, " (vs LAPACK)"), absl::StrFormat("%.1f GFLOP/s", flops / ferry_s / 1e9),
        absl::StrFormat("%.1f GFLOP/s", flops / lapack_s / 1e9), lapack_s / ferry_s, false, 0.85));
  };
  const kernels::Tensor a = spd(n), a_small = spd(small);
  std::vector<float> work(static_cast<size_t>(n) * n);
  {
    const double ferry_s = run("cholesky", {{"upper", int64_t{0}}}, {a});
    const double lapack_s = BestSeconds(repeats, [&] {
      std::memcpy(work.data(), a.raw(), a.nbytes());
      kernels::cpu::lapack::potrf('U', n, work.data(), n);
    });
    add_row(absl::StrCat("cholesky ", n, "x", n), n * static_cast<double>(n) * n / 3, ferry_s,
            lapack_s);
  }
  {
    const int k = 64;
    const kernels::Tensor b = RandomTensor(*backend, {DType::kFloat32, {n, k}});
    const double ferry_s = run("solve", {}, {a, b});
    std::vector<float> rhs(static_cast<size_t>(n) * k);
    std::vector<int> pivots(static_cast<size_t>(n));
    const double lapack_s = BestSeconds(repeats, [&] {
      std::memcpy(work.data(), a.raw(), a.nbytes());
      std::memcpy(rhs.data(), b.raw(), b.nbytes());
      kernels::cpu::lapack::getrf(n, n, work.data(), n, pivots.data());
      kernels::cpu::lapack::getrs('T', n, k, work.data(), n, pivots.data(), rhs.data(), n);
    });
    add_row(absl::StrCat("solve ", n, "x", n, " @ ", n, "x", k),
            2.0 * n * static_cast<double>(n) * n / 3 + 2.0 * n * static_cast<double>(n) * k,
            ferry_s, lapack_s);
  }
  {
    const double ferry_s =
        run("eigh", {{"upper", int64_t{0}}, {"compute_vectors", int64_t{1}}}, {a_small});
    std::vector<float> w(static_cast<size_t>(small));
    float query = 0;
    int iquery = 0;
    kernels::cpu::lapack::syevd('V', 'U', small, work.data(), small, w.data(), &query, -1, &iquery,
                                -1);
    std::vector<float> lwork(static_cast<size_t>(query));
    std::vector<int> iwork(static_cast<size_t>(iquery));
    const double lapack_s = BestSeconds(repeats, [&] {
      std::memcpy(work.data(), a_small.raw(), a_small.nbytes());
      kernels::cpu::lapack::syevd('V', 'U', small, work.data(), small, w.data(), lwork.data(),
                                  static_cast<int>(lwork.size()), iwork.data(),
                                  static_cast<int>(iwork.size()));
    });
    // syevd with vectors: about 9 n^3 flops (Golub and Van Loan).
    add_row(absl::StrCat("eigh ", small, "x", small), 9.0 * small * small * small, ferry_s,
            lapack_s);
  }
  {
    const double ferry_s = run("svd", {{"compute_uv", int64_t{1}}}, {a_small});
    std::vector<float> s(static_cast<size_t>(small)), u(work.size()), vt(work.size());
    std::vector<int> iwork(static_cast<size_t>(8 * small));
    float query = 0;
    kernels::cpu::lapack::gesdd('A', small, small, work.data(), small, s.data(), u.data(), small,
                                vt.data(), small, &query, -1, iwork.data());
    std::vector<float> lwork(static_cast<size_t>(query));
    const double lapack_s = BestSeconds(repeats, [&] {
      std::memcpy(work.data(), a_small.raw(), a_small.nbytes());
      kernels::cpu::lapack::gesdd('A', small, small, work.data(), small, s.data(), u.data(), small,
                                  vt.data(), small, lwork.data(), static_cast<int>(lwork.size()),
                                  iwork.data());
    });
    // gesdd with vectors of a square matrix: about 22 n^3 flops.
    add_row(absl::StrCat("svd ", small, "x", small), 22.0 * small * small * small, ferry_s,
            lapack_s);
  }
  {
    // A batch of small matrices, which the backend spreads over the cores, against a loop of
    // potrf calls on one thread (what it did before, as PyTorch's and MLX's CPU kernels do).
    const int count = options.quick ? 256 : 16384, order = 8;
    const core::TensorType type{DType::kFloat32, {count, order, order}};
    kernels::Tensor many = Check(backend->Allocate(type));
    for (int b = 0; b < count; ++b) {
      float* m = many.data<float>() + b * order * order;
      for (int i = 0; i < order; ++i) {
        for (int j = 0; j < order; ++j) m[i * order + j] = i == j ? order : 1.0f / (1 + i + j);
      }
    }
    const double ferry_s = run("cholesky", {{"upper", int64_t{0}}}, {many});
    std::vector<float> copies(static_cast<size_t>(count) * order * order);
    const double lapack_s = BestSeconds(repeats, [&] {
      std::memcpy(copies.data(), many.raw(), many.nbytes());
      for (int b = 0; b < count; ++b) {
        kernels::cpu::lapack::potrf('U', order, copies.data() + b * order * order, order);
      }
    });
    const double flops = count * static_cast<double>(order) * order * order / 3;
    rows.push_back(MakeReportRow(
        absl::StrCat("cholesky ", count, " x ", order, "x", order, " (vs a loop of LAPACK calls)"),
        absl::StrFormat("%.2f GFLOP/s", flops / ferry_s / 1e9),
        absl::StrFormat("%.2f GFLOP/s", flops / lapack_s / 1e9), lapack_s / ferry_s));
  }
}

// y = -(abs(maximum((x * 1.5 + 0.5) - x, 0.1) * 2)) + 1: eight elementwise ops.
core::Graph ChainGraph(const core::TensorType& type) {
  core::Graph graph;
  const int32_t x = AddParameter(graph, 0, type);
  int32_t v = AddNode(graph, "mul", {x, AddScalar(graph, 1.5f)});
  v = AddNode(graph, "add", {v, AddScalar(graph, 0.5f)});
  v = AddNode(graph, "sub", {v, x});
  v = AddNode(graph, "maximum", {v, AddScalar(graph, 0.1f)});
  v = AddNode(graph, "mul", {v, AddScalar(graph, 2.0f)});
  v = AddNode(graph, "abs", {v});
  v = AddNode(graph, "neg", {v});
  v = AddNode(graph, "add", {v, AddScalar(graph, 1.0f)});
  graph.outputs = {v};
  return graph;
}

void FusedChainBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t n = options.quick ? (int64_t{1} << 20) : (int64_t{1} << 24);  // 4 or 64 MiB
  const int repeats = options.quick ? 2 : 11;
  const core::TensorType type{DType::kFloat32, {n}};
  const size_t bytes = static_cast<size_t>(n) * 4;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, type)};
  double seconds[2];
  for (bool fuse : {true, false}) {
    kernels::Executor executor(*backend);
    executor.set_fusion(fuse);
    std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(ChainGraph(type)));
    seconds[fuse ? 0 : 1] =
        MedianThreadCpuSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });
  }
  std::vector<char> dst(bytes, 1);
  const double memcpy_s =
      MedianThreadCpuSeconds(repeats, [&] { std::memcpy(dst.data(), parameters[0].raw(), bytes); });
  // Bandwidth counts bytes read plus bytes written, the same for all three. Times are the
  // calling thread's CPU seconds (median): all three run on that one thread, and on a shared
  // machine wall time mostly measures waiting for a core (stalls on memory still count).
  const std::string size = absl::StrCat(bytes >> 20, " MiB");
  rows.push_back(MakeRow(absl::StrCat("fused 8-op elementwise chain, ", size, " (vs memcpy)"),
                         FormatRate(2.0 * bytes / seconds[0]), FormatRate(2.0 * bytes / memcpy_s),
                         memcpy_s / seconds[0], false, 0.6));
  rows.push_back(MakeReportRow(absl::StrCat("fused chain speed-up over unfused, ", size),
                               FormatSeconds(seconds[0]), FormatSeconds(seconds[1]),
                               seconds[1] / seconds[0]));
}

// The transcendental ops over float32 (a layer's activations, rotary angles) against the C
// library's functions called per element on the same data: the kernels' vectorized forms
// (float_math.h). gelu's baseline is its formula with erff, as a scalar loop computes it.
void TranscendentalBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t n = options.quick ? (int64_t{1} << 18) : (int64_t{1} << 22);  // 1 or 16 MiB
  const int repeats = options.quick ? 2 : 11;
  const core::TensorType type{DType::kFloat32, {n}};
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{1} << 30);
  std::vector<kernels::Tensor> parameters = {RandomTensor(*backend, type)};
  float* data = parameters[0].data<float>();
  const std::vector<float> uniform(data, data + n);
  std::vector<float> y(static_cast<size_t>(n));
  enum Function { kExp, kTanh, kLog, kErf, kGelu, kSin, kCos };
  struct Case {
    const char* op;
    Function function;
    const char* baseline;
  };
  const Case cases[] = {{"exp", kExp, "expf"},
                        {"tanh", kTanh, "tanhf"},
                        {"log", kLog, "logf"},
                        {"erf", kErf, "erff"},
                        {"gelu", kGelu, "erff in gelu's formula"},
                        {"sin", kSin, "sinf"},
                        {"cos", kCos, "cosf"}};
  for (const Case& c : cases) {
    // (-4, 4), tanh's and gelu's whole range; log of the magnitudes; sin and cos of
    // (-1000, 1000), a rotary embedding's angles.
    const bool trig = c.function == kSin || c.function == kCos;
    for (int64_t i = 0; i < n; ++i) {
      data[i] = (trig ? 1000 : 4) * (c.function == kLog ? std::fabs(uniform[i]) : uniform[i]);
    }
    core::Graph graph;
    graph.outputs = {AddNode(graph, c.op, {AddParameter(graph, 0, type)})};
    kernels::Executor executor(*backend);
    std::shared_ptr<const kernels::Plan> plan = Check(executor.Prepare(graph));
    const double kernel_s =
        MedianThreadCpuSeconds(repeats, [&] { Check(executor.Run(*plan, parameters)); });
    // Direct calls (a pointer to the function costs the baseline 0.5 ns an element).
    const float* x = data;
    const double libc_s = MedianThreadCpuSeconds(repeats, [&] {
      switch (c.function) {
        case kExp:
          for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
          break;
        case kTanh:
          for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
          break;
        case kLog:
          for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
          break;
        case kErf:
          for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
          break;
        case kGelu:
          for (int64_t i = 0; i < n; ++i) {
            y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752440f));
          }
          break;
        case kSin:
          for (int64_t i = 0; i < n; ++i) y[i] = std::sin(x[i]);
          break;
        case kCos:
          for (int64_t i = 0; i < n; ++i) y[i] = std::cos(x[i]);
          break;
      }
    });
    rows.push_back(MakeRow(absl::StrCat(c.op, " float32, ", n * 4 >> 20,
                                        " MiB (CPU backend vs C library's ", c.baseline, ")"),
                           absl::StrFormat("%.2f ns/element", kernel_s / n * 1e9),
                           absl::StrFormat("%.2f ns/element", libc_s / n * 1e9), libc_s / kernel_s,
                           false, 1.0));
  }
}

// Batches of complex64 FFTs along the last axis against FFTW's single-precision plan for the
// same batch (FFTW_MEASURE, one thread, as the CPU kernel runs): a power of two, a length of
// radices 2 and 5 (1000 = 4 2 5 5 5) and a prime (1009: Bluestein's algorithm on 2048 points).
void FftBenchmark(const Options& options, std::vector<Row>& rows) {
  const int64_t batch = options.quick ? 8 : 512;
  const int repeats = options.quick ? 2 : 9;
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{8} << 30);
  for (int64_t n : {int64_t{1024}, int64_t{1000}, int64_t{1009}}) {
    const core::TensorType type{DType::kComplex64, {batch, n}};
    const size_t floats = static_cast<size_t>(2 * batch * n);
    // FFTW_MEASURE plans on (and overwrites) its arrays, so it plans before they are filled.
    std::vector<float> fftw_in(floats), fftw_out(floats);
    int length = static_cast<int>(n);
    fftwf_plan plan = fftwf_plan_many_dft(
        1, &length, static_cast<int>(batch), reinterpret_cast<fftwf_complex*>(fftw_in.data()),
        nullptr, 1, length, reinterpret_cast<fftwf_complex*>(fftw_out.data()), nullptr, 1, length,
        FFTW_FORWARD, FFTW_MEASURE);
    kernels::Tensor input = Check(backend->Allocate(type));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> value(-1, 1);
    float* data = static_cast<float*>(input.raw());
    for (size_t i = 0; i < floats; ++i) fftw_in[i] = data[i] = value(rng);
    core::Graph graph;
    const int32_t x = AddParameter(graph, 0, type);
    graph.outputs = {
        AddNode(graph, "fft", {x},
                {{"axis", int64_t{1}}, {"n", n}, {"inverse", int64_t{0}}, {"real", int64_t{0}}})};
    kernels::Executor executor(*backend);
    std::shared_ptr<const kernels::Plan> ferry_plan = Check(executor.Prepare(graph));
    std::vector<kernels::Tensor> parameters = {input};
    const double ferry_s =
        MedianThreadCpuSeconds(repeats, [&] { Check(executor.Run(*ferry_plan, parameters)); });
    const double fftw_s = MedianThreadCpuSeconds(repeats, [&] { fftwf_execute(plan); });
    fftwf_destroy_plan(plan);
    // 5 n log2 n flops per transform: the usual figure of merit for FFT speed.
    const double flops = 5.0 * batch * n * std::log2(static_cast<double>(n));
    rows.push_back(
        MakeReportRow(absl::StrCat("fft ", batch, " x ", n, " complex64 (CPU backend vs FFTW)"),
                      absl::StrFormat("%.2f GFLOP/s", flops / ferry_s / 1e9),
                      absl::StrFormat("%.2f GFLOP/s", flops / fftw_s / 1e9), fftw_s / ferry_s));
  }
}

}  // namespace

void RunComputeBenchmarks(const Options& options, std::vector<Row>& rows) {
  SgemmBenchmark(options, rows);
  ConvolutionBenchmark(options, rows);
  QuantizedMatmulBenchmark(options, rows);
  GatherMmBenchmark(options, rows);
  LinalgBenchmark(options, rows);
  FusedChainBenchmark(options, rows);
  TranscendentalBenchmark(options, rows);
  FftBenchmark(options, rows);
}

}  // namespace ferry::bench
