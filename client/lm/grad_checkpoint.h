#ifndef FERRY_CLIENT_LM_GRAD_CHECKPOINT_H_
#define FERRY_CLIENT_LM_GRAD_CHECKPOINT_H_

// mlx_lm.lora's grad_checkpoint: while a GradCheckpoint is alive on a thread, the blocks every
// model calls there through `call_block` run under nn::checkpoint, so a training step's backward
// pass recomputes each block from its input and trainable parameters instead of keeping its
// intermediates (less memory for the activations, one more forward pass of each block).
// mlx-lm patches its first block's class to the same end.

#include <functional>
#include <vector>

#include "client/array.h"
#include "client/nn/module.h"

namespace ferry::lm {

class GradCheckpoint {
 public:
  explicit GradCheckpoint(bool on = true);
  ~GradCheckpoint();
  GradCheckpoint(const GradCheckpoint&) = delete;
  GradCheckpoint& operator=(const GradCheckpoint&) = delete;

 private:
  bool previous_;
};

// `call` (module's forward on h), under nn::checkpoint where a GradCheckpoint is on. `call`
// runs again in the backward pass, after the caller has returned: it holds what it reads by
// value (masks, the layer's index), not by reference. What it reads that a gradient must
// reach (another input computed from trainable parameters) is no capture but one of
// `inputs` of the second form, whose call maps them to the block's outputs.
Array call_block(nn::Module& module, const Array& h, std::function<Array(const Array&)> call);
std::vector<Array> call_block(nn::Module& module, std::vector<Array> inputs,
                              std::function<std::vector<Array>(const std::vector<Array>&)> call);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GRAD_CHECKPOINT_H_
