#!/usr/bin/env python3
"""Writes mlx-lm's EXAONE MoE, AFM MoE (afmoe) and Step-3.5 models and what they compute, for
client/lm/models_mlx_test.cc, families_8_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named exaone_moe*, afmoe*, step3p5*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_8_mlx.py

Each model has random weights, a vocabulary of 96:
  exaone_moe       hidden 32, 4 layers (layers 0 and 2 sliding, window 6, with RoPE; 1 and 3
                   global without), 4 heads of head_dim 16 over 2, q/k norms; layer 0 dense,
                   the others 8 experts of 16 in 2 groups (top 2 of the best group) beside a
                   shared expert; Hugging Face's layout: experts one per expert, the score
                   correction bias under mlp., multi-token-prediction weights (mtp.*), which
                   sanitize stacks, renames and drops
  exaone_moe_4bit  hidden 64, 2 layers, every layer global (so every layer rotates), no group,
                   tied, quantized (affine 4 bits, groups of 32)
  afmoe            hidden 32, 4 layers (layers 0 and 2 sliding, window 6, with RoPE; 1 and 3
                   full without), 4 heads of head_dim 16 over 2, q/k norms, sigmoid output
                   gate; layer 0 dense, the others 4 experts of 16 (sigmoid, expert bias, top
                   2, renormalized, times route_scale) beside a shared expert; muP embedding
                   scale; Hugging Face's layout: experts one per expert, rotary_emb.inv_freq
  afmoe_4bit       hidden 64, 2 layers, softmax router in 2 groups, no muP, tied, quantized
                   (4 bits, groups of 32; the router 8 bits in groups of 64)
  step3p5          hidden 32, 4 layers (0 and 2 sliding, window 6, 2 heads over 1; 1 and 3 full,
                   4 heads over 2, yarn RoPE), rope_theta per layer, partial rotary per layer,
                   head-wise attention gate; layer 0 dense, the others 4 experts (top 2) with
                   clamped SwiGLUs beside a shared expert; Hugging Face's layout (moe.*,
                   share_expert, norms zero-centred, mtp and extra layers), which sanitize maps
  step3p5_4bit     hidden 64, 2 layers (default layer types: layer 0 sliding), no gate, one
                   rope_theta, norm_expert_weight false, quantized (4 bits, groups of 32; the
                   router 8 bits in groups of 64)

lm_families_8_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For exaone_moe, afmoe and step3p5 also mlx-lm's
BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import afmoe, exaone_moe, step3p5

import lm_fixture
from lm_fixture import HERE, flat, per_expert, save_model

rng = np.random.default_rng(20261301)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

SLIDING = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]

EXAONE_MOE = dict(model_type="exaone_moe", vocab_size=VOCAB, hidden_size=32,
                  intermediate_size=64, moe_intermediate_size=16, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=8,
                  num_experts_per_tok=2, num_shared_experts=1, rms_norm_eps=1e-5,
                  max_position_embeddings=4096, sliding_window=6, layer_types=SLIDING,
                  is_moe_layer=[False, True, True, True], n_group=2, topk_group=1,
                  routed_scaling_factor=2.5, rope_theta=10000.0,
                  architectures=["ExaoneMoEForCausalLM"])
weights = {}
for key, value in per_expert(flat(build(exaone_moe, EXAONE_MOE))).items():
    weights[key.replace(".mlp.gate.e_score_correction_bias", ".mlp.e_score_correction_bias")] = value
weights["mtp.layers.0.input_layernorm.weight"] = mx.ones((32,))
save_model("exaone_moe", weights, EXAONE_MOE)
run("exaone_moe")

EXAONE_MOE_4BIT = dict(EXAONE_MOE, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       layer_types=["full_attention"] * 2, is_moe_layer=[True, False],
                       n_group=1, topk_group=1, tie_word_embeddings=True)
save_quantized("exaone_moe_4bit", exaone_moe, EXAONE_MOE_4BIT, 32, 4)
run("exaone_moe_4bit", prompt_length=15, steps=8)

AFMOE = dict(model_type="afmoe", layer_types=SLIDING, vocab_size=VOCAB, hidden_size=32,
             intermediate_size=64, moe_intermediate_size=16, num_hidden_layers=4,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
             num_experts=4, num_experts_per_tok=2, num_shared_experts=1, num_dense_layers=1,
             route_norm=True, route_scale=2.826, score_func="sigmoid", sliding_window=6,
             mup_enabled=True, architectures=["AfmoeForCausalLM"])
model = build(afmoe, AFMOE, embed_scale=0.05)
# The expert bias about as large as the sigmoid scores' differences.
for layer in model.layers[1:]:
    layer.mlp.expert_bias = mx.array(0.1 * rng.standard_normal(4).astype(np.float32))
weights = {}
for key, value in flat(model).items():
    if ".mlp.experts." in key:
        for e in range(value.shape[0]):
            weights[key.replace(".mlp.experts.", f".mlp.experts.{e}.")] = value[e]
    else:
        weights[key] = value
for i in range(4):
    weights[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = mx.ones((8,))
save_model("afmoe", weights, AFMOE)
run("afmoe")

AFMOE_4BIT = dict(AFMOE, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  layer_types=["sliding_attention", "full_attention"], num_dense_layers=0,
                  score_func="softmax", n_group=2, topk_group=1, mup_enabled=False,
                  tie_word_embeddings=True)
save_quantized("afmoe_4bit", afmoe, AFMOE_4BIT, 32, 4)
run("afmoe_4bit", prompt_length=15, steps=8)

STEP3P5 = dict(model_type="step3p5", hidden_size=32, num_hidden_layers=4, vocab_size=VOCAB,
               num_attention_heads=4, num_attention_groups=2, head_dim=16, intermediate_size=64,
               rms_norm_eps=1e-5, rope_theta=[10000.0, 5000.0, 20000.0, 5000.0],
               rope_scaling=dict(rope_type="yarn", factor=2.0,
                                 original_max_position_embeddings=16),
               max_position_embeddings=4096, sliding_window=6, layer_types=SLIDING,
               yarn_only_types=["full_attention"], partial_rotary_factors=[0.5, 1.0, 0.5, 1.0],
               attention_other_setting=dict(num_attention_heads=2, num_attention_groups=1),
               use_head_wise_attn_gate=True, moe_num_experts=4, moe_top_k=2,
               moe_intermediate_size=16, share_expert_dim=16, moe_layers_enum="1,2,3",
               moe_router_scaling_factor=3.0, norm_expert_weight=True,
               swiglu_limits=[0, 0.4, None, 0.3], swiglu_limits_shared=[0.5, 0, 0.4, None],
               architectures=["Step3p5ForCausalLM"])
model = build(step3p5, STEP3P5)
for layer in model.layers[1:]:
    layer.mlp.gate.router_bias = mx.array(0.1 * rng.standard_normal(4).astype(np.float32))
renames = [(".mlp.switch_mlp.", ".moe."), (".mlp.gate.gate.", ".moe.gate."),
           (".mlp.gate.router_bias", ".moe.router_bias"), (".mlp.share_expert.", ".share_expert.")]
weights = {}
for key, value in flat(model).items():
    for mine, theirs in renames:
        if mine in key:
            key = key.replace(mine, theirs)
            break
    # Hugging Face's norms are zero-centred: sanitize adds the 1.
    if key.endswith(".weight") and "norm" in key:
        value = value - 1
    weights[key] = value
weights["model.layers.4.input_layernorm.weight"] = mx.zeros((32,))
weights["model.mtp.layers.0.norm.weight"] = mx.zeros((32,))
save_model("step3p5", weights, STEP3P5)
run("step3p5")

STEP3P5_4BIT = dict(STEP3P5, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    layer_types=None, rope_theta=10000.0, rope_scaling=None,
                    yarn_only_types=None, partial_rotary_factors=None,
                    attention_other_setting=None, use_head_wise_attn_gate=False,
                    moe_layers_enum=None, norm_expert_weight=False, swiglu_limits=None,
                    swiglu_limits_shared=None)
save_quantized("step3p5_4bit", step3p5, STEP3P5_4BIT, 32, 4)
run("step3p5_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["exaone_moe", "afmoe", "step3p5"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261340 + seed)

mx.save_safetensors(f"{HERE}/lm_families_8_mlx.safetensors", arrays)
