// Memory-bound ops through the CUDA backend in GB/s (bytes read + written) against a
// device-to-device cudaMemcpy of the same bytes; then the workloads the MLX comparison
// (mlx_compare.py) times: an elementwise chain, softmax and an MLP forward, as whole graphs
// through the executor. Prints RESULT and RATIO lines; SKIP without a GPU.

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"

namespace ferry::bench {
namespace {

void Node(kernels::Backend& backend, const std::string& name, const core::Node& node,
          const std::vector<kernels::Tensor>& inputs, double bytes, double memcpy_gbps) {
  absl::StatusOr<kernels::Tensor> out = backend.Allocate(node.out);
  Check(out.status());
  const double gbps = bytes /
                      SecondsPerCall([&] { Check(backend.Run(node, inputs, *out)); },
                                     [&] { Check(backend.Synchronize()); }) /
                      1e9;
  Result(name, gbps, "GB/s");
  Ratio(name + "_vs_memcpy", gbps, memcpy_gbps);
}

// Runs `graph` on fresh parameters of its declared types; prints milliseconds per run and
// returns the seconds.
double Graph(kernels::Backend& backend, const std::string& name, core::Graph graph,
             bool fusion = true) {
  kernels::Executor executor(backend);
  executor.set_fusion(fusion);
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan = executor.Prepare(graph);
  Check(plan.status());
  std::vector<kernels::Tensor> parameters;
  for (const core::TensorType& type : (*plan)->parameter_types) {
    absl::StatusOr<kernels::Tensor> t = backend.Allocate(type);
    Check(t.status());
    cudaMemset(t->raw(), 0, t->nbytes());
    parameters.push_back(*t);
  }
  const double seconds = SecondsPerCall([&] { Check(executor.Run(**plan, parameters).status()); },
                                        [&] { Check(backend.Synchronize()); });
  Result(name, seconds * 1e3, "ms");
  return seconds;
}

core::Attrs AxesAttr(std::vector<int64_t> axes) {
  core::Attrs attrs;
  attrs.Set("axes", std::move(axes));
  return attrs;
}

void Run() {
  std::unique_ptr<kernels::Backend> backend = CudaBackendOrSkip();
  // 64 Mi float32, 256 MiB per operand, seen as an 8192 x 8192 matrix too (--quick: 256^2).
  const int64_t side = Quick() ? 256 : 8192;
  const int64_t n = side * side;
  const core::TensorType vec{core::DType::kFloat32, {n}};
  absl::StatusOr<kernels::Tensor> x = backend->Allocate(vec);
  absl::StatusOr<kernels::Tensor> y = backend->Allocate(vec);
  Check(x.status());
  Check(y.status());
  cudaMemset(x->raw(), 0, x->nbytes());
  cudaMemset(y->raw(), 0, y->nbytes());
  const double memcpy_gbps = MemcpyGBps(y->raw(), x->raw(), x->nbytes());
  Result("memcpy_d2d", memcpy_gbps, "GB/s");
  const double bytes = static_cast<double>(x->nbytes());

  Node(*backend, "add_f32", {"add", {0, 1}, {}, vec}, {*x, *y}, 3 * bytes, memcpy_gbps);
  Node(*backend, "exp_f32", {"exp", {0}, {}, vec}, {*x}, 2 * bytes, memcpy_gbps);
  const core::TensorType matrix{core::DType::kFloat32, {side, side}};
  kernels::Tensor rows = *x;
  rows.type = matrix;
  for (int64_t axis : {1, 0}) {
    core::Attrs attrs = AxesAttr({axis});
    attrs.Set("keepdims", int64_t{0});
    Node(*backend, absl::StrCat("sum_axis", axis, "_f32"),
         {"sum", {0}, attrs, {core::DType::kFloat32, {side}}}, {rows}, bytes, memcpy_gbps);
  }
  Node(*backend, "softmax_rows_f32", {"softmax", {0}, AxesAttr({1}), matrix}, {rows}, 2 * bytes,
       memcpy_gbps);

  // The MLX comparison's workloads (mlx_compare.py times the same; --quick shrinks them).
  const int64_t square = Quick() ? 128 : 4096;
  {
    core::Graph chain;
    const core::TensorType t{core::DType::kFloat32, {square, square}};
    int32_t v = AddParameter(chain, 0, t);
    v = AddNode(chain, "mul", {v, v});
    v = AddNode(chain, "exp", {v});
    v = AddNode(chain, "tanh", {v});
    v = AddNode(chain, "sigmoid", {v});
    chain.outputs = {v};
    const std::string name = absl::StrCat("chain_f32_", square);
    const double fused = Graph(*backend, "mlx_" + name, chain);
    const double op_by_op = Graph(*backend, name + "_unfused", chain, /*fusion=*/false);
    Ratio(name + "_fusion_speedup", op_by_op, fused);
    // One read and one write of the matrix (64 MiB): against the device copy of the same bytes.
    const double chain_bytes = 2.0 * square * square * 4;
    Result(name, chain_bytes / fused / 1e9, "GB/s");
    Ratio(name + "_vs_memcpy", chain_bytes / fused / 1e9, memcpy_gbps);
  }
  {
    core::Graph softmax;
    int32_t v = AddParameter(softmax, 0, {core::DType::kFloat32, {square, square}});
    softmax.outputs = {AddNode(softmax, "softmax", {v}, AxesAttr({1}))};
    Graph(*backend, absl::StrCat("mlx_softmax_f32_", square), softmax);
  }
  for (core::DType dtype : {core::DType::kFloat32, core::DType::kFloat16}) {
    // batch 256, 1024 -> 4096 -> 4096 -> 1024, gelu between (--quick: a 32nd of each).
    const int64_t scale = Quick() ? 32 : 1;
    core::Graph mlp;
    const int64_t dims[] = {1024 / scale, 4096 / scale, 4096 / scale, 1024 / scale};
    int32_t v = AddParameter(mlp, 0, {dtype, {256 / scale, dims[0]}});
    for (int layer = 0; layer < 3; ++layer) {
      int32_t w = AddParameter(mlp, 1 + 2 * layer, {dtype, {dims[layer], dims[layer + 1]}});
      int32_t b = AddParameter(mlp, 2 + 2 * layer, {dtype, {dims[layer + 1]}});
      v = AddNode(mlp, "add", {AddNode(mlp, "matmul", {v, w}), b});
      if (layer < 2) v = AddNode(mlp, "gelu", {v});
    }
    mlp.outputs = {v};
    Graph(*backend, absl::StrCat("mlx_mlp_", core::DTypeName(dtype)), mlp);
  }
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  ferry::bench::ParseFlags(argc, argv);
  ferry::bench::Run();
  return 0;
}
