#include "client/lm/smollm3.h"

#include <utility>

namespace ferry::lm {

SmolLM3::SmolLM3(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        ModelArgs layer = a;
        layer.rope = a.no_rope_layers.empty() || a.no_rope_layers.at(index) != 0;
        return TransformerBlock(layer);
      }) {}

}  // namespace ferry::lm
