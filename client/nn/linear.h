#ifndef FERRY_CLIENT_NN_LINEAR_H_
#define FERRY_CLIENT_NN_LINEAR_H_

#include <cstdint>

#include "client/nn/module.h"

namespace ferry::nn {

// x @ weight.T + bias, weight (output_dims, input_dims); both drawn uniform in
// +-sqrt(1 / input_dims), as MLX's Linear.
class Linear : public Layer {
 public:
  Linear(int64_t input_dims, int64_t output_dims, bool bias = true);
  Array operator()(const Array& x) override;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_LINEAR_H_
