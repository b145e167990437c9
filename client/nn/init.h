#ifndef FERRY_CLIENT_NN_INIT_H_
#define FERRY_CLIENT_NN_INIT_H_

// Initializers after MLX's mlx.nn.init: each returns a function that makes a new array of
// its argument's shape, on its device, drawn from the global random key. With
// Module::apply they re-initialize a model's parameters:
//
//   model.apply(nn::init::glorot_uniform(),
//               [](const std::string& name, const Array&) { return name.find("weight") !=
//               name.npos; });
//
// Fans are MLX's: fan_in the last axis, fan_out the first, both times the axes between.

#include <functional>
#include <string>

#include "client/array.h"

namespace ferry::nn::init {

using Initializer = std::function<Array(const Array& like)>;

Initializer constant(double value, Dtype dtype = float32);
Initializer normal(double mean = 0.0, double std = 1.0, Dtype dtype = float32);
Initializer uniform(double low = 0.0, double high = 1.0, Dtype dtype = float32);
// The identity matrix; `like` must be square.
Initializer identity(Dtype dtype = float32);
// Standard deviation gain sqrt(2 / (fan_in + fan_out)).
Initializer glorot_normal(Dtype dtype = float32, double gain = 1.0);
// Within +-gain sqrt(6 / (fan_in + fan_out)).
Initializer glorot_uniform(Dtype dtype = float32, double gain = 1.0);
// Standard deviation gain / sqrt(fan), fan the mode's: "fan_in" or "fan_out".
Initializer he_normal(Dtype dtype = float32, const std::string& mode = "fan_in", double gain = 1.0);
// Within +-gain sqrt(3 / fan).
Initializer he_uniform(Dtype dtype = float32, const std::string& mode = "fan_in",
                       double gain = 1.0);
// A (rows, cols) matrix with orthonormal rows or columns (Q of a normal matrix's QR, signs
// fixed by R's diagonal), times gain.
Initializer orthogonal(double gain = 1.0, Dtype dtype = float32);

}  // namespace ferry::nn::init

#endif  // FERRY_CLIENT_NN_INIT_H_
