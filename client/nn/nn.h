#ifndef FERRY_CLIENT_NN_NN_H_
#define FERRY_CLIENT_NN_NN_H_

// ferry::nn: modules, layers, losses and their gradients, after MLX's mlx.nn.

#include "client/nn/activations.h"  // IWYU pragma: export
#include "client/nn/containers.h"   // IWYU pragma: export
#include "client/nn/convolution.h"  // IWYU pragma: export
#include "client/nn/dropout.h"      // IWYU pragma: export
#include "client/nn/embedding.h"
#include "client/nn/init.h"                 // IWYU pragma: export
#include "client/nn/linear.h"               // IWYU pragma: export
#include "client/nn/losses.h"               // IWYU pragma: export
#include "client/nn/module.h"               // IWYU pragma: export
#include "client/nn/normalization.h"        // IWYU pragma: export
#include "client/nn/pooling.h"              // IWYU pragma: export
#include "client/nn/positional_encoding.h"  // IWYU pragma: export
#include "client/nn/quantizable.h"
#include "client/nn/recurrent.h"  // IWYU pragma: export
#include "client/nn/transformer.h"
#include "client/nn/upsample.h"        // IWYU pragma: export
#include "client/nn/value_and_grad.h"  // IWYU pragma: export

#endif  // FERRY_CLIENT_NN_NN_H_
