#!/usr/bin/env python3
"""Writes mlx-lm's MiMo-V2-Flash, Laguna and LongCat-Flash models and what they compute, for
client/lm/models_mlx_test.cc, families_10_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named mimo_v2_flash*, laguna*, longcat_flash*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_10_mlx.py

Each model has random weights, a vocabulary of 96:
  mimo_v2_flash       hidden 32, 4 layers: 0 and 3 full (4 heads over 2, head_dim 16, values
                      of 8, RoPE base 10000), 1 and 2 sliding (window 6, 4 heads over 1,
                      head_dim 12, values of 16, RoPE base 500, attention sinks); half of each
                      head rotated; values times 0.7; layer 0 dense, the others 8 experts in 2
                      groups (1 chosen, top 2, renormalized, times 2.5) beside a shared one;
                      Hugging Face's experts one per expert and a model.mtp weight, which
                      sanitize stacks and drops
  mimo_v2_flash_4bit  hidden 64, 2 layers (sliding, full with sinks), no shared experts and
                      routed_scaling_factor null, quantized (affine 4 bits, groups of 32)
  laguna              hidden 32, 4 layers: 0 and 3 full (YaRN over half of head_dim 16), 1 and
                      2 sliding (window 6, base 500, whole heads); 4, 2, 4, 2 query heads over
                      2, biased q/k/v and o, the softplus gate per head; layer 0 dense, the
                      others 8 experts (top 2) by soft-capped sigmoid scores, times 2, beside a
                      shared expert; the original layout ("language_model." prefix, a bare
                      mlp.gate.weight, the bias under mlp.experts, experts one per expert)
  laguna_4bit         hidden 64, 2 full layers without the gate, sqrt-softplus scores, tied,
                      quantized (4 bits, groups of 32; the routers 8 bits in groups of 64)
  longcat_flash       hidden 32, 2 layers of two latent attentions each (4 heads, q_lora_rank
                      24, kv_lora_rank 16, 16 + 8 rotated key features, 16 values, yarn with
                      mscale_all_dim), two MLPs and the shortcut mixture: 4 experts and 2
                      identity experts (top 2, softmax scores, biased classifier, times 1.5);
                      Hugging Face's kv_b_proj, experts one per expert and a model.mtp weight
  longcat_flash_4bit  hidden 64, 2 layers, biased attention, norm_topk_prob, quantized (the
                      classifiers 8 bits in groups of 64)

lm_families_10_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For mimo_v2_flash, laguna and longcat_flash also mlx-lm's
BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import laguna, longcat_flash, mimo_v2_flash

import lm_fixture
from lm_fixture import HERE, deepseek_rewrite, flat, hugging_face_layout, per_expert, save_model

rng = np.random.default_rng(20261310)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

MIMO = dict(model_type="mimo_v2_flash", num_experts_per_tok=2, hybrid_layer_pattern=[0, 1, 1, 0],
            moe_layer_freq=[0, 1, 1, 1], add_swa_attention_sink_bias=True,
            add_full_attention_sink_bias=False, sliding_window_size=6, vocab_size=VOCAB,
            hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
            num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
            n_shared_experts=1, n_routed_experts=8, routed_scaling_factor=2.5,
            topk_method="noaux_tc", scoring_func="sigmoid", norm_topk_prob=True, n_group=2,
            topk_group=1, max_position_embeddings=4096, layernorm_epsilon=1e-5,
            rope_theta=10000.0, swa_rope_theta=500.0, swa_num_attention_heads=4,
            swa_num_key_value_heads=1, head_dim=16, v_head_dim=8, swa_head_dim=12,
            swa_v_head_dim=16, partial_rotary_factor=0.5, attention_value_scale=0.7,
            architectures=["MiMoV2FlashForCausalLM"])
weights = per_expert(flat(build(mimo_v2_flash, MIMO)))
weights["model.mtp.layers.0.norm.weight"] = mx.ones((32,))
save_model("mimo_v2_flash", weights, MIMO)
run("mimo_v2_flash")

MIMO_4BIT = dict(MIMO, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                 num_hidden_layers=2, hybrid_layer_pattern=[1, 0], moe_layer_freq=[1, 1],
                 add_swa_attention_sink_bias=False, add_full_attention_sink_bias=True,
                 n_shared_experts=None, routed_scaling_factor=None, attention_value_scale=None,
                 sliding_window_size=5)
save_quantized("mimo_v2_flash_4bit", mimo_v2_flash, MIMO_4BIT, 32, 4)
run("mimo_v2_flash_4bit", prompt_length=15, steps=8)

LAGUNA = dict(model_type="laguna", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
              num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              max_position_embeddings=4096, rms_norm_eps=1e-6, attention_bias=True,
              qkv_bias=True, gating=True, tie_word_embeddings=False, sliding_window=6,
              layer_types=["full_attention", "sliding_attention", "sliding_attention",
                           "full_attention"],
              num_attention_heads_per_layer=[4, 2, 4, 2],
              rope_parameters=dict(
                  full_attention=dict(rope_type="yarn", factor=4.0, rope_theta=10000.0,
                                      original_max_position_embeddings=8,
                                      partial_rotary_factor=0.5, beta_fast=32.0,
                                      beta_slow=1.0),
                  sliding_attention=dict(rope_type="default", rope_theta=500.0)),
              num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16,
              shared_expert_intermediate_size=24, moe_routed_scaling_factor=2.0,
              moe_router_logit_softcapping=5.0, moe_router_score_func="sigmoid",
              architectures=["LagunaForCausalLM"])


def laguna_original(key, value, _):
    """The original layout: the router bare, its bias under experts, experts one per expert,
    every name under language_model."""
    if ".switch_mlp." in key:
        return {f"language_model.{k}": v for k, v in per_expert({key: value}).items()}
    key = key.replace("mlp.gate.proj.weight", "mlp.gate.weight")
    key = key.replace("mlp.gate.e_score_correction_bias", "mlp.experts.e_score_correction_bias")
    return {f"language_model.{key}": value}


save_model("laguna", hugging_face_layout(flat(build(laguna, LAGUNA)), rewrite=laguna_original),
           LAGUNA)
run("laguna")

LAGUNA_4BIT = dict(LAGUNA, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   moe_intermediate_size=32, shared_expert_intermediate_size=32, gating=False,
                   layer_types=None, num_attention_heads_per_layer=None, rope_parameters=None,
                   partial_rotary_factor=0.5, moe_router_score_func="sqrtsoftplus",
                   moe_router_logit_softcapping=0.0, tie_word_embeddings=True)
save_quantized("laguna_4bit", laguna, LAGUNA_4BIT, 32, 4)
run("laguna_4bit", prompt_length=15, steps=8)

LONGCAT = dict(model_type="longcat_flash", attention_method="MLA", zero_expert_type="identity",
               hidden_size=32, ffn_hidden_size=48, moe_topk=2, expert_ffn_hidden_size=16,
               n_routed_experts=4, zero_expert_num=2, num_layers=2, vocab_size=VOCAB,
               max_position_embeddings=4096, num_attention_heads=4, kv_lora_rank=16,
               q_lora_rank=24, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
               routed_scaling_factor=1.5, rms_norm_eps=1e-5, rope_theta=10000.0,
               mla_scale_q_lora=True, mla_scale_kv_lora=True, attention_bias=False,
               norm_topk_prob=False, router_bias=True,
               rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=8,
                                 mscale=1.0, mscale_all_dim=1.0, beta_fast=32, beta_slow=1),
               architectures=["LongcatFlashForCausalLM"])
model = build(longcat_flash, LONGCAT)
# The router's bias about as large as the softmax scores' differences.
for layer in model.layers:
    layer.mlp.router.e_score_correction_bias = mx.array(
        0.05 * rng.standard_normal(6).astype(np.float32))
weights = hugging_face_layout(flat(model), rewrite=deepseek_rewrite)
weights["model.mtp.layers.0.norm.weight"] = mx.ones((32,))
save_model("longcat_flash", weights, LONGCAT)
run("longcat_flash")

LONGCAT_4BIT = dict(LONGCAT, hidden_size=64, ffn_hidden_size=128, expert_ffn_hidden_size=32,
                    kv_lora_rank=32, q_lora_rank=32, qk_nope_head_dim=32, attention_bias=True,
                    norm_topk_prob=True, router_bias=False, rope_scaling=None)
save_quantized("longcat_flash_4bit", longcat_flash, LONGCAT_4BIT, 32, 4)
run("longcat_flash_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["mimo_v2_flash", "laguna", "longcat_flash"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261340 + seed)

mx.save_safetensors(f"{HERE}/lm_families_10_mlx.safetensors", arrays)
