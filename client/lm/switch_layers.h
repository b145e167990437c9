#ifndef FERRY_CLIENT_LM_SWITCH_LAYERS_H_
#define FERRY_CLIENT_LM_SWITCH_LAYERS_H_

// A mixture of experts' layers as mlx-lm builds them (models/switch_layers.py): every
// expert's matrix stacked in one parameter, and each token multiplied by those of the
// experts its router picked (gather_mm, gather_qmm quantized), under mlx-lm's names
// ("switch_mlp.gate_proj.weight", (num_experts, output_dims, input_dims)).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "client/nn/module.h"
#include "client/nn/quantizable.h"

namespace ferry::lm {

// mlx-lm's SwitchLinear: weight (num_experts, output_dims, input_dims) drawn uniform in
// +-sqrt(1 / input_dims), bias (num_experts, output_dims) zeros. Quantized (quantize(), as
// nn::quantize and load_model do), it is QuantizedSwitchLinear: gather_qmm of the codes.
class SwitchLinear : public nn::QuantizableLayer {
 public:
  SwitchLinear(int64_t input_dims, int64_t output_dims, int64_t num_experts, bool bias = true);
  // x (..., 1, input_dims), or (..., M, input_dims), through the experts `indices` (integers
  // broadcasting with x's batch axes) picks: (batch..., M, output_dims).
  Array operator()(const Array& x, const Array& indices);
  // Throws INVALID_ARGUMENT: a SwitchLinear needs its indices.
  Array operator()(const Array& x) override;

  // What fine-tuning adds to the layer in place (mlx-lm's LoRASwitchLinear,
  // client/lm/tuner/lora.h), as nn::Linear's adapter: adapter(x, indices) added to the
  // output, its parameters named as the layer's own. nullptr removes it.
  class Adapter : public nn::Module {
   public:
    virtual Array operator()(const Array& x, const Array& indices) = 0;
  };
  void set_adapter(std::unique_ptr<Adapter> adapter) { set_inline_module(std::move(adapter)); }
  Adapter* adapter() const { return dynamic_cast<Adapter*>(inline_module()); }
};

// The gated activation of the up and gate projections (mlx-lm's activation(x_up, x_gate)).
using GluActivation = std::function<Array(const Array& up, const Array& gate)>;

// mlx-lm's SwitchGLU: down_proj(activation(up_proj(x), gate_proj(x))), each through the
// experts a token's router picked; the activation silu(gate) * up unless one is given
// (gpt-oss's clamped SwiGLU).
class SwitchGLU : public nn::Module {
 public:
  SwitchGLU(int64_t input_dims, int64_t hidden_dims, int64_t num_experts, bool bias = false,
            GluActivation activation = nullptr);
  // x (..., input_dims) through each of its experts `indices` (..., k): (..., k, input_dims).
  // From 64 (token, expert) pairs on, the pairs are sorted by expert first, as mlx-lm does.
  Array operator()(const Array& x, const Array& indices);

 private:
  SwitchLinear &gate_proj_, &up_proj_, &down_proj_;
  GluActivation activation_;
};

// mlx-lm's SwitchMLP: fc2(activation(fc1(x))), each through the experts a token's router
// picked (Nemotron-H's, activation relu2), "fc1" and "fc2" SwitchLinears.
class SwitchMLP : public nn::Module {
 public:
  SwitchMLP(int64_t input_dims, int64_t hidden_dims, int64_t num_experts,
            std::function<Array(const Array&)> activation, bool bias = false);
  // x (..., input_dims) through each of its experts `indices` (..., k): (..., k, input_dims),
  // sorted by expert from 64 pairs on as SwitchGLU's.
  Array operator()(const Array& x, const Array& indices);

 private:
  SwitchLinear &fc1_, &fc2_;
  std::function<Array(const Array&)> activation_;
};

// a[..., start:stop] with Python's rules: the k experts a router picked out of an
// argpartition.
Array slice_last_axis(const Array& a, int64_t start, int64_t stop);

// The softmax router of mlx-lm's qwen3_moe and qwen3_next: the k experts of highest
// softmax(logits) (argpartition(gates, -k)[..., -k:], in mlx-lm's order) and their weights,
// renormalized to sum to 1 when `normalize` (norm_topk_prob).
std::pair<Array, Array> softmax_top_k(const Array& logits, int k, bool normalize);

// mlx-lm's sanitize of a Hugging Face checkpoint, whose experts are separate matrices:
// "model.layers.N.<experts>.E.<from>.<kind>" for E < num_experts (kind "weight", "scales" or
// "biases"; `projections` maps <from> to mlx-lm's name) become one stacked
// "model.layers.N.<switch_mlp>.<to>.<kind>" per layer. A checkpoint without them is returned
// as it is; INVALID_ARGUMENT names an expert a layer lacks.
nn::Parameters stack_experts(nn::Parameters weights, int num_experts, const std::string& experts,
                             const std::string& switch_mlp,
                             const std::map<std::string, std::string>& projections);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_SWITCH_LAYERS_H_
