#!/usr/bin/env python3
"""Writes mlx-lm's Youtu-LLM, Nanbeige, TeleChat3, Klear and Baichuan-M1 models and what they
compute, for client/lm/models_mlx_test.cc, families_7_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named youtu_llm*, nanbeige*, telechat3*, klear*,
baichuan_m1*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_7_mlx.py

Each model has random weights, a vocabulary of 96:
  youtu_llm        hidden 32, 3 layers, 4 heads of latent attention (q_lora_rank 24,
                   kv_lora_rank 16, 16 + 8 rotated key features, 16 values), traditional RoPE,
                   tied; its directory holds an lm_head.weight too, which sanitize drops
  youtu_llm_4bit   hidden 64, 2 layers, q_proj without the bottleneck, plain RoPE, attention and
                   MLP biased, an lm_head of its own, quantized (affine 4 bits, groups of 32)
  nanbeige         hidden 32, 2 layers looped twice (num_loops 2: four caches), 4 heads of
                   head_dim 16 over 2, the final norm after each loop; Hugging Face's
                   rotary_emb.inv_freq buffers in the directory, which sanitize drops
  nanbeige_4bit    hidden 64, 2 layers, loop_loss_weights of one entry (two loops),
                   skip_loop_final_norm, biased attention, tied, quantized (4 bits, groups of 32)
  telechat3        hidden 32, 3 layers, 4 heads of head_dim 16 over 2, llama3 rope_scaling
  telechat3_4bit   hidden 64, 2 layers, biased attention and MLP, tied, quantized
  klear            hidden 32, 3 layers (the first dense: mlp_only_layers), 4 heads over 2 with
                   q/k norms, biased attention, 4 experts (top 2, renormalized) of 16 beside a
                   shared MLP of 2 x 16, mixed by the coefficient's softmax; Hugging Face's
                   experts one per expert (mlp.experts.E.*), which sanitize stacks
  klear_4bit       hidden 64, 2 layers, decoder_sparse_step 2, norm_topk_prob false, quantized
                   (4 bits, groups of 32; the router mlp.gate 8 bits in groups of 64)
  baichuan_m1      hidden 32, 4 layers, layers 1 and 3 sliding (window 6, 2 heads over 1), the
                   others 4 heads over 2, W_pack, the keys' and values' convolution of two taps;
                   lm_head as saved, normalized by sanitize
  baichuan_m1_4bit hidden 64, 2 layers, layer 0 sliding (window 5), quantized (lm_head kept
                   as quantized, not normalized)

lm_families_7_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For youtu_llm, nanbeige, telechat3, klear and baichuan_m1
also mlx-lm's BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>,
<m>.tokens<i>, <m>.options. baichuan_m1's prompt 4, joining rows whose sliding rings have
wrapped, gets other tokens from it than from generate_step alone (batch_generator_test leaves
baichuan_m1 out).
"""
import importlib

import mlx.core as mx
import numpy as np
from mlx_lm.models import baichuan_m1, nanbeige, telechat3, youtu_llm

import lm_fixture
from lm_fixture import HERE, flat, save_model

klear = importlib.import_module("mlx_lm.models.Klear")

rng = np.random.default_rng(20261215)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

YOUTU = dict(model_type="youtu_llm", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
             num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
             kv_lora_rank=16, q_lora_rank=24, qk_rope_head_dim=8, v_head_dim=16,
             qk_nope_head_dim=16, rms_norm_eps=1e-6, rope_theta=10000.0,
             architectures=["YoutuForCausalLM"])
weights = flat(build(youtu_llm, YOUTU))
weights["lm_head.weight"] = mx.array(rng.standard_normal((VOCAB, 32)).astype(np.float32))
save_model("youtu_llm", weights, YOUTU)
run("youtu_llm")

YOUTU_4BIT = dict(YOUTU, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  q_lora_rank=None, rope_traditional=False, attention_bias=True, mlp_bias=True,
                  tie_word_embeddings=False)
save_quantized("youtu_llm_4bit", youtu_llm, YOUTU_4BIT, 32, 4)
run("youtu_llm_4bit", prompt_length=15, steps=8)

NANBEIGE = dict(model_type="nanbeige", hidden_size=32, num_hidden_layers=2,
                intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                rms_norm_eps=1e-5, vocab_size=VOCAB, rope_theta=10000.0, num_loops=2,
                architectures=["NanbeigeForCausalLM"])
weights = flat(build(nanbeige, NANBEIGE))
for i in range(2):
    weights[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = mx.ones((8,))
save_model("nanbeige", weights, NANBEIGE)
run("nanbeige")

NANBEIGE_4BIT = dict(NANBEIGE, hidden_size=64, intermediate_size=128, num_loops=1,
                     loop_loss_weights=[0.5], skip_loop_final_norm=True, attention_bias=True,
                     tie_word_embeddings=True)
save_quantized("nanbeige_4bit", nanbeige, NANBEIGE_4BIT, 32, 4)
run("nanbeige_4bit", prompt_length=15, steps=8)

TELECHAT3 = dict(model_type="telechat3", hidden_size=32, intermediate_size=64,
                 max_position_embeddings=4096, num_attention_heads=4, num_hidden_layers=3,
                 num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=VOCAB, rope_theta=10000.0,
                 head_dim=16,
                 rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                   high_freq_factor=4.0, original_max_position_embeddings=8),
                 architectures=["Telechat3ForCausalLM"])
save_model("telechat3", flat(build(telechat3, TELECHAT3)), TELECHAT3)
run("telechat3")

TELECHAT3_4BIT = dict(TELECHAT3, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      attention_bias=True, mlp_bias=True, tie_word_embeddings=True,
                      rope_scaling=None)
save_quantized("telechat3_4bit", telechat3, TELECHAT3_4BIT, 32, 4)
run("telechat3_4bit", prompt_length=15, steps=8)

KLEAR = dict(model_type="Klear", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
             num_attention_heads=4, attention_bias=True, mlp_only_layers=[0], num_experts=4,
             num_experts_per_tok=2, decoder_sparse_step=1, n_shared_experts=2,
             moe_intermediate_size=16, rms_norm_eps=1e-6, vocab_size=VOCAB,
             num_key_value_heads=2, rope_theta=10000.0, max_position_embeddings=4096,
             norm_topk_prob=True, architectures=["KlearForCausalLM"])
model = build(klear, KLEAR)
# The expert bias about as large as the sigmoid scores' differences.
for layer in model.layers[1:]:
    layer.mlp.expert_bias = mx.array(0.1 * rng.standard_normal(4).astype(np.float32))


def split_klear(weights):
    """Hugging Face's layout: mlp.experts.P.weight (E, ...) as mlp.experts.E.P.weight."""
    out = {}
    for key, value in weights.items():
        if ".mlp.experts." not in key:
            out[key] = value
            continue
        prefix, rest = key.split(".mlp.experts.")
        for e in range(value.shape[0]):
            out[f"{prefix}.mlp.experts.{e}.{rest}"] = value[e]
    return out


save_model("klear", split_klear(flat(model)), KLEAR)
run("klear")

KLEAR_4BIT = dict(KLEAR, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  mlp_only_layers=[], decoder_sparse_step=2, norm_topk_prob=False)
save_quantized("klear_4bit", klear, KLEAR_4BIT, 32, 4)
run("klear_4bit", prompt_length=15, steps=8)

BAICHUAN = dict(model_type="baichuan_m1", vocab_size=VOCAB, hidden_size=32,
                intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=2, rope_theta=10000.0, sliding_window=6,
                sliding_window_layers=[1, 3], conv_window=2, rms_norm_eps=1e-6,
                num_swa_attention_heads=2, num_swa_key_value_heads=1,
                architectures=["BaichuanM1ForCausalLM"])
model = build(baichuan_m1, BAICHUAN)
for layer in model.layers:
    attn = layer.self_attn
    attn.conv_k = mx.array(0.5 + 0.3 * rng.standard_normal(attn.conv_k.shape).astype(np.float32))
    attn.conv_v = mx.array(0.5 + 0.3 * rng.standard_normal(attn.conv_v.shape).astype(np.float32))
save_model("baichuan_m1", flat(model), BAICHUAN)
run("baichuan_m1")

BAICHUAN_4BIT = dict(BAICHUAN, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     sliding_window=5, sliding_window_layers=[0], num_swa_attention_heads=None,
                     num_swa_key_value_heads=None)
save_quantized("baichuan_m1_4bit", baichuan_m1, BAICHUAN_4BIT, 32, 4)
run("baichuan_m1_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["youtu_llm", "nanbeige", "telechat3", "klear", "baichuan_m1"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261240 + seed)

mx.save_safetensors(f"{HERE}/lm_families_7_mlx.safetensors", arrays)
