#ifndef FERRY_KERNELS_CPU_COLLECTIVE_REDUCE_H_
#define FERRY_KERNELS_CPU_COLLECTIVE_REDUCE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "core/dtype.h"
#include "kernels/collectives.h"

namespace ferry::kernels::cpu {

// acc[i] = op(acc[i], in[i]) for `count` elements of `dtype` in host memory: what a
// collective's ranks combine (16-bit floats in float, rounded once per combine; integers
// wrap; max and min propagate NaN). INVALID_ARGUMENT for bool, or complex64 under max/min.
absl::Status ReduceInto(ReduceOp op, core::DType dtype, void* acc, const void* in, int64_t count);

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_COLLECTIVE_REDUCE_H_
