#ifndef FERRY_KERNELS_CPU_TEST_UTIL_H_
#define FERRY_KERNELS_CPU_TEST_UTIL_H_

// For the CPU kernel tests: host tensors from plain numbers and back, and one op run
// through a CPU backend with its output type inferred by core::InferOp, as the executor
// would see it.

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/graph.h"
#include "core/ops.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu::testing {

inline const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kBaseline:
      return "baseline";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "?";
}

// The instruction sets the hot loops are built for (simd_level.h) that this CPU has, for
// tests that run every build; the others are printed as not tested.
inline std::vector<SimdLevel> SimdLevelsOfThisCpu() {
  std::vector<SimdLevel> levels;
  for (SimdLevel level : {SimdLevel::kBaseline, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level <= BestSimdLevel()) {
      levels.push_back(level);
    } else {
      std::printf("not tested on this CPU: %s\n", SimdLevelName(level));
    }
  }
  return levels;
}

// A host tensor of `dtype` holding `values` converted with astype's rules.
inline core::HostTensor MakeHost(core::DType dtype, core::Shape shape,
                                 const std::vector<double>& values) {
  core::HostTensor host{{dtype, std::move(shape)}, ""};
  host.data.resize(values.size() * core::SizeOf(dtype));
  CastElements(values.data(), core::DType::kFloat64, host.data.data(), dtype,
               static_cast<int64_t>(values.size()));
  return host;
}

// The elements of `host` as doubles.
inline std::vector<double> Values(const core::HostTensor& host) {
  const int64_t n = core::NumElements(host.type.shape);
  std::vector<double> values(static_cast<size_t>(n));
  CastElements(host.data.data(), host.type.dtype, values.data(), core::DType::kFloat64, n);
  return values;
}

// The raw elements of `host`, for checks of exact bits and of int64 values.
template <typename T>
std::vector<T> Elements(const core::HostTensor& host) {
  std::vector<T> values(host.data.size() / sizeof(T));
  std::memcpy(values.data(), host.data.data(), values.size() * sizeof(T));
  return values;
}

// Runs `op` on `inputs` with `attrs` in `backend`: the node's type comes from
// core::InferOp, the inputs are uploaded, the output downloaded. `plan_attrs` are set on the
// node besides, as a plan sets them (gather_mm's transposes), after the type is inferred.
inline absl::StatusOr<core::HostTensor> RunOn(Backend& backend, const std::string& op,
                                              const std::vector<core::HostTensor>& inputs,
                                              const core::Attrs& attrs = {},
                                              const core::Attrs& plan_attrs = {}) {
  std::vector<core::TensorType> types;
  std::vector<Tensor> tensors;
  for (const core::HostTensor& host : inputs) {
    types.push_back(host.type);
    absl::StatusOr<Tensor> tensor = TensorFromHost(backend, host);
    if (!tensor.ok()) return tensor.status();
    tensors.push_back(*std::move(tensor));
  }
  core::Node node;
  node.op = op;
  node.attrs = attrs;
  absl::StatusOr<core::TensorType> out_type = core::InferOp(op, types, attrs);
  if (!out_type.ok()) return out_type.status();
  node.out = *out_type;
  for (const auto& [name, value] : plan_attrs.values()) node.attrs.Set(name, value);
  absl::StatusOr<Tensor> out = backend.Allocate(node.out);
  if (!out.ok()) return out.status();
  absl::Status ran = backend.Run(node, tensors, *out);
  if (!ran.ok()) return ran;
  return TensorToHost(backend, *out);
}

// RunOn a fresh CPU backend with 1 GiB of memory.
inline absl::StatusOr<core::HostTensor> RunOp(const std::string& op,
                                              const std::vector<core::HostTensor>& inputs,
                                              const core::Attrs& attrs = {}) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  return RunOn(*backend, op, inputs, attrs);
}

}  // namespace ferry::kernels::cpu::testing

#endif  // FERRY_KERNELS_CPU_TEST_UTIL_H_
