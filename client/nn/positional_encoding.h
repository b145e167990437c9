#ifndef FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_
#define FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_

#include "client/nn/module.h"

namespace ferry::nn {

// Rotary positions on the first `dims` features of x (..., L, D), positions offset,
// offset + 1, ... along axis -2 (fast::rope), as MLX's RoPE. The array offset (one number)
// lets a decoder's step be one graph whatever its position.
class RoPE : public Layer {
 public:
  explicit RoPE(int dims, bool traditional = false, float base = 10000.0f, float scale = 1.0f);
  Array operator()(const Array& x) override { return (*this)(x, 0); }
  Array operator()(const Array& x, int offset);
  Array operator()(const Array& x, const Array& offset);

 private:
  int dims_;
  bool traditional_;
  float base_, scale_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_
