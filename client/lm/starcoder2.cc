#include "client/lm/starcoder2.h"

#include <utility>

#include "client/ops.h"

namespace ferry::lm {

Starcoder2Mlp::Starcoder2Mlp(const ModelArgs& args)
    : c_fc_(register_module("c_fc", nn::Linear(args.hidden_size, args.intermediate_size, true))),
      c_proj_(
          register_module("c_proj", nn::Linear(args.intermediate_size, args.hidden_size, true))) {}

Array Starcoder2Mlp::operator()(const Array& x) { return c_proj_(gelu(c_fc_(x))); }

Starcoder2::Starcoder2(ModelArgs args)
    : Llama(std::move(args),
            [](const ModelArgs& a, int) { return TransformerBlock(a, "mlp", Starcoder2Mlp(a)); }) {}

}  // namespace ferry::lm
