#!/usr/bin/env python3
"""Writes mlx-lm's Nemotron-H (nemotron_h) models and what they compute, for
client/lm/arrays_models_mlx_test.cc, batch_generator_test.cc (and
tests/client_lm_remote_test.cc).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_nemotron_h_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a
vocabulary of 96 and an lm_head. Its layers, one per character of the pattern, are each x +
mixer(norm(x)): "M" a Mamba-2 mixer (in_proj's gate, conv input and time steps, a causal
depthwise conv1d of 4 taps, the SSD scan, the gated norm per group, out_proj), "*" attention
without positions, "-" a relu2 MLP, "E" experts (DeepSeek V3's grouped sigmoid router, relu2
experts, a shared relu2 MLP):
  nemotron_h       hidden size 32, hybrid_override_pattern "M*M-M-" (a string, as Hugging
                   Face's config.json has it), 4 mamba heads of 8 in 2 groups (the gated norm
                   over each group's 16 features), state 16, conv bias, time_step_limit [0,
                   Infinity]; 4 attention heads over 2 key-value heads; MLP 48; in Hugging
                   Face's layout (conv weights (C, 1, K); a multi-token prediction weight
                   "mtp.", which mlx-lm's sanitize drops)
  nemotron_h_moe   hidden size 32, layers_block_type mamba, moe, attention, mamba, moe, mlp
                   (no pattern: mlx-lm maps the names to M E * M E -); 8 experts of 16 in 2
                   groups (topk_group 1, top 2, norm_topk_prob, routed_scaling_factor 2.5)
                   over a latent of 16 (moe_latent_size: fc1_latent_proj, fc2_latent_proj),
                   a shared expert of 24, 1 mamba group, biased mamba and MLP projections,
                   time steps clipped to [0.01, 10]; Hugging Face's layout (experts one
                   matrix each, mixer.experts.E.up_proj and down_proj, which mlx-lm stacks)
  nemotron_h_4bit  hidden size 64, pattern "M*E-M", 4 experts of 32 (top 2, one group),
                   no shared expert, quantized by mlx-lm's quantize_model (affine, 4 bits in
                   groups of 32; the router and the conv1d are no layers it quantizes),
                   mlx-lm's layout

lm_nemotron_h_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches in pieces: a prefill of
                     CHUNKS[0] tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
and, for nemotron_h and nemotron_h_moe, mlx-lm's BatchGenerator over lm_fixture's batch
(five prompts joining at different calls, prefilled 4 tokens at a time; the padding masked
out of the conv and scan states, the scan told the rows' lengths as mamba2's is: see below),
as lm_mamba2_mlx.py records it:
  <m>.prompt<i>, <m>.tokens<i>  int32
  <m>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import nemotron_h, ssm

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261209)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
build = functools.partial(lm_fixture.build, rng, nemotron_h)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

DENSE = dict(model_type="nemotron_h", vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
             max_position_embeddings=4096, num_attention_heads=4, num_key_value_heads=2,
             attention_bias=False, mamba_num_heads=4, mamba_head_dim=8, mamba_proj_bias=False,
             ssm_state_size=16, conv_kernel=4, n_groups=2, mlp_bias=False,
             layer_norm_epsilon=1e-5, use_bias=False, use_conv_bias=True,
             hybrid_override_pattern="M*M-M-", time_step_limit=[0.0, float("inf")],
             chunk_size=128)
MOE = dict(DENSE, hybrid_override_pattern=None, mamba_proj_bias=True, mlp_bias=True,
           n_groups=1, use_conv_bias=False, time_step_limit=[0.01, 10.0],
           layers_block_type=["mamba", "moe", "attention", "mamba", "moe", "mlp"],
           n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=16, n_group=2,
           topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.5, moe_latent_size=16,
           n_shared_experts=1, moe_shared_expert_intermediate_size=24)
del MOE["hybrid_override_pattern"]
WIDE = dict(DENSE, hidden_size=64, intermediate_size=64, mamba_head_dim=16,
            hybrid_override_pattern="M*E-M", n_routed_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=32, n_group=1, topk_group=1, norm_topk_prob=True,
            routed_scaling_factor=1.5)


def experts_apart(key, value, weights):
    """The experts one matrix each (fc1 as up_proj, fc2 as down_proj)."""
    if ".switch_mlp." not in key:
        return {key: value}
    prefix, rest = key.split(".switch_mlp.")
    projection, kind = rest.split(".")
    name = {"fc1": "up_proj", "fc2": "down_proj"}[projection]
    return {f"{prefix}.experts.{e}.{name}.{kind}": value[e] for e in range(value.shape[0])}


def hugging_face_layout(weights):
    out = lm_fixture.hugging_face_layout(weights, "conv1d.weight", experts_apart)
    out["mtp.layers.0.norm.weight"] = mx.ones((8,))
    return out


save_and_record("nemotron_h", hugging_face_layout(dict(tree_flatten(build(DENSE).parameters()))),
                DENSE, 30)
save_and_record("nemotron_h_moe",
                hugging_face_layout(dict(tree_flatten(build(MOE).parameters()))), MOE, 20)
save_and_record("nemotron_h_4bit", *lm_fixture.quantized(build(WIDE), WIDE, 32, 4), 14)

# mlx-lm 0.32.2's nemotron_h mixer, unlike mamba2's, granitemoehybrid's and falcon_h1's, does
# not hand the cache's lengths (a right-padded prefill's) to ssm_update, so a padded row's
# prefill chunk never enters its state: the batch is recorded with them handed over, as those
# do, which gives each prompt its tokens alone (without, the 2-token prompt's differ).
_lengths = [None]
_mixer_ssm = nemotron_h.NemotronHMamba2Mixer._ssm


def _ssm_with_lengths(self, hidden_states, B, C, dt, cache, mask):
    _lengths[0] = cache.lengths if cache is not None else None
    return _mixer_ssm(self, hidden_states, B, C, dt, cache, mask)


nemotron_h.NemotronHMamba2Mixer._ssm = _ssm_with_lengths
nemotron_h.ssm_update = lambda *a, **k: ssm.ssm_update(*a, lengths=_lengths[0], **k)

lm_fixture.record_batch(arrays, "nemotron_h", "nemotron_h", VOCAB, 20261219)
lm_fixture.record_batch(arrays, "nemotron_h_moe", "nemotron_h_moe", VOCAB, 20261319)

mx.save_safetensors(os.path.join(HERE, "lm_nemotron_h_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
