#ifndef FERRY_CLIENT_FERRY_H_
#define FERRY_CLIENT_FERRY_H_

// ferry: lazy arrays, evaluated in this process or on a remote ferryd.
//
//   ferry::Device gpu = ferry::connect("gpu-node-0:7070");   // or ferry::local()
//   ferry::Array x = ferry::random::normal({4096, 4096}, ferry::float32, gpu);
//   ferry::Array w = ferry::from_host(weights.data(), {4096, 4096}, gpu);
//   ferry::Array y = ferry::relu(ferry::matmul(x, w) + 1.0f);
//   y.eval();                                   // one round trip; y stays on the device
//   std::vector<float> out = y.to_vector<float>();

#include "client/array.h"        // IWYU pragma: export
#include "client/device.h"       // IWYU pragma: export
#include "client/distributed.h"  // IWYU pragma: export
#include "client/dtype.h"        // IWYU pragma: export
#include "client/error.h"        // IWYU pragma: export
#include "client/export.h"       // IWYU pragma: export
#include "client/fast.h"         // IWYU pragma: export
#include "client/fft.h"          // IWYU pragma: export
#include "client/host_buffer.h"  // IWYU pragma: export
#include "client/io.h"           // IWYU pragma: export
#include "client/ops.h"          // IWYU pragma: export
#include "client/profiler.h"     // IWYU pragma: export
#include "client/random.h"       // IWYU pragma: export
#include "client/vmap.h"         // IWYU pragma: export
// autodiff
#include "client/autodiff.h"    // IWYU pragma: export
#include "client/optimizers.h"  // IWYU pragma: export
#include "client/schedulers.h"  // IWYU pragma: export
// modules, layers, losses
#include "client/nn/nn.h"  // IWYU pragma: export

#endif  // FERRY_CLIENT_FERRY_H_
