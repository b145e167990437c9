#include "client/lm/glm4.h"

#include <utility>

#include "client/lm/phi3.h"

namespace ferry::lm {

Glm4::Glm4(ModelArgs args)
    : Llama(std::move(args),
            [](const ModelArgs& a, int) { return TransformerBlock(a, "mlp", Phi3Mlp(a)); }) {}

}  // namespace ferry::lm
