#include "client/nn/containers.h"

namespace ferry::nn {

Array Sequential::operator()(const Array& x) {
  Array y = x;
  for (Layer* layer : layers_) y = (*layer)(y);
  return y;
}

}  // namespace ferry::nn
