#include "client/nn/positional_encoding.h"

#include "client/fast.h"

namespace ferry::nn {

RoPE::RoPE(int dims, bool traditional, float base, float scale)
    : dims_(dims), traditional_(traditional), base_(base), scale_(scale) {}

Array RoPE::operator()(const Array& x, int offset) {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

Array RoPE::operator()(const Array& x, const Array& offset) {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

}  // namespace ferry::nn
