#ifndef FERRY_CLIENT_NN_CONTAINERS_H_
#define FERRY_CLIENT_NN_CONTAINERS_H_

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "client/nn/activations.h"
#include "client/nn/module.h"

namespace ferry::nn {

// Layers applied in order, as MLX's Sequential: the children are "layers.0", "layers.1",
// ... (so parameters read "layers.2.weight"). A function of one array is taken as a
// Lambda.
//
//   nn::Sequential mlp(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
class Sequential : public Layer {
 public:
  template <typename... Layers>
  explicit Sequential(Layers... layers) {
    (append(std::move(layers)), ...);
  }

  template <typename L>
  Sequential& append(L layer) {
    const std::string name = "layers." + std::to_string(layers_.size());
    if constexpr (std::is_base_of_v<Layer, L>) {
      layers_.push_back(&register_module(name, std::move(layer)));
    } else {
      layers_.push_back(&register_module(name, Lambda(std::move(layer))));
    }
    return *this;
  }

  Array operator()(const Array& x) override;
  size_t size() const { return layers_.size(); }
  Layer& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<Layer*> layers_;  // the children, owned by Module
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_CONTAINERS_H_
