#ifndef FERRY_CLIENT_LM_SMOLLM3_H_
#define FERRY_CLIENT_LM_SMOLLM3_H_

// SmolLM3 as mlx-lm builds it (models/smollm3.py): Llama whose layers marked 0 in
// no_rope_layers (every fourth by default) use no positional encoding at all (NoPE).

#include "client/lm/llama.h"

namespace ferry::lm {

class SmolLM3 : public Llama {
 public:
  explicit SmolLM3(ModelArgs args);
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_SMOLLM3_H_
