#ifndef FERRY_CLIENT_LM_CONV_WEIGHTS_H_
#define FERRY_CLIENT_LM_CONV_WEIGHTS_H_

// The depthwise conv1d weights of Hugging Face's checkpoints in nn::Conv1d's layout, as
// mlx-lm's sanitize of every model with such a conv moves them.

#include <string>

#include "client/nn/module.h"

namespace ferry::lm {

// mlx-lm's sanitize of a depthwise conv's weights: a 3-D weight whose name ends with
// `suffix` (Mamba-2's, Granite 4.0's, Qwen3-Next's "conv1d.weight", LFM2's
// "conv.conv.weight"), stored as Hugging Face's (C, 1, K) with K > 1, becomes nn::Conv1d's
// (C, K, 1); one already (C, K, 1) stays, as do the other weights.
nn::Parameters sanitize_conv_weights(nn::Parameters weights, const std::string& suffix);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_CONV_WEIGHTS_H_
