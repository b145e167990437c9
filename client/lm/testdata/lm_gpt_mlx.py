#!/usr/bin/env python3
"""Writes mlx-lm's GPT-2, GPT-NeoX (Pythia) and GPT-BigCode (StarCoder 1, SantaCoder) models
and what they compute, for client/lm/models_mlx_test.cc, gpt_families_test.cc,
batch_generator_test.cc and tests/client_lm_remote_test.cc (the models named gpt2*,
gpt_neox*, gpt_bigcode*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_gpt_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights (LayerNorms'
near 1), a vocabulary of 96, 4 query heads, positions up to 64:
  gpt2               hidden 32, 3 layers, learned positions (wpe), gelu_approx MLP; in
                     Hugging Face's layout: no "model." prefix, Conv1D weights (in, out) that
                     mlx-lm's sanitize transposes, each layer's attn.bias buffer it drops
  gpt2_4bit          hidden 64, 2 layers, as mlx-lm saves it, quantized as mlx_lm.convert
                     does (affine 4 bits in groups of 32; wte and wpe too)
  gpt_neox           hidden 32, 3 layers, RoPE over half of each head (rotary_pct 0.5),
                     parallel residual, its own embed_out; in Hugging Face's layout
                     (gpt_neox.layers.N, query_key_value per head [q k v], the attention's
                     bias, masked_bias and rotary_emb.inv_freq buffers mlx-lm's sanitize drops)
  gpt_neox_4bit      hidden 64, 2 layers, rotary_pct 0.25, sequential residual
                     (use_parallel_residual false), quantized (4 bits, groups of 32)
  gpt_bigcode        hidden 32, 3 layers, multi-query attention (one key/value head), n_inner
                     48, learned positions, tied. Hugging Face's names are mlx-lm's.
  gpt_bigcode_4bit   hidden 64, 2 layers, multi_query false (4 key/value heads), no attention
                     biases, an lm_head, quantized (4 bits, groups of 32)

lm_gpt_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For gpt2 and gpt_neox also mlx-lm's BatchGenerator over
lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>, <m>.options. mlx-lm's
gpt_bigcode does not batch (its positions come from np.arange over the cache's offset, which
a BatchKVCache holds per row).
"""
import mlx.core as mx
import numpy as np
from mlx.utils import tree_map_with_path
from mlx_lm.models import gpt2, gpt_bigcode, gpt_neox

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261211)
arrays = {}
VOCAB = 96
POSITIONS = 64
_build, run, _ = lm_fixture.bind(rng, arrays, VOCAB)


def build(module, config):
    """lm_fixture's build, then GPT-2's and GPT-BigCode's LayerNorms (ln_1, ln_2, ln_f, which
    draw_weights does not take for norms) near 1."""
    model = _build(module, config)

    def norm(path, p):
        if ".ln_" in path and path.endswith(".weight"):
            return mx.array(1.0 + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
        return p

    model.update(tree_map_with_path(norm, model.parameters()))
    mx.eval(model.parameters())
    return model


def save_quantized(name, module, config, group_size, bits):
    save_model(name, *lm_fixture.quantized(build(module, config), config, group_size, bits))


def causal_buffer():
    return mx.tril(mx.ones((POSITIONS, POSITIONS), dtype=mx.bool_))[None, None]


GPT2 = dict(model_type="gpt2", n_ctx=POSITIONS, n_embd=32, n_head=4, n_layer=3,
            n_positions=POSITIONS, layer_norm_epsilon=1e-5, vocab_size=VOCAB)
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt2_hugging_face_layout(weights, layers):
    out = {}
    for key, value in weights.items():
        key = key[len("model."):]
        out[key] = value.T if key.endswith(CONV1D) else value
    for i in range(layers):
        out[f"h.{i}.attn.bias"] = causal_buffer()
    return out


save_model("gpt2", gpt2_hugging_face_layout(flat(build(gpt2, GPT2)), GPT2["n_layer"]), GPT2)
run("gpt2")

GPT2_4BIT = dict(GPT2, n_embd=64, n_layer=2)
save_quantized("gpt2_4bit", gpt2, GPT2_4BIT, 32, 4)
run("gpt2_4bit", prompt_length=15, steps=8)

GPT_NEOX = dict(model_type="gpt_neox", max_position_embeddings=POSITIONS, hidden_size=32,
                num_attention_heads=4, num_hidden_layers=3, layer_norm_eps=1e-5,
                vocab_size=VOCAB, rotary_emb_base=10000, rotary_pct=0.5,
                use_parallel_residual=True, intermediate_size=128)


def gpt_neox_hugging_face_layout(weights, layers, rotated):
    out = {}
    for key, value in weights.items():
        if key == "model.embed_out.weight":
            out["embed_out.weight"] = value
        else:
            out[key.replace("model.h.", "gpt_neox.layers.").replace("model.", "gpt_neox.")] = value
    for i in range(layers):
        prefix = f"gpt_neox.layers.{i}.attention."
        out[prefix + "bias"] = causal_buffer()
        out[prefix + "masked_bias"] = mx.array(-1e9)
        out[prefix + "rotary_emb.inv_freq"] = mx.arange(rotated // 2).astype(mx.float32)
    return out


save_model("gpt_neox", gpt_neox_hugging_face_layout(flat(build(gpt_neox, GPT_NEOX)),
                                                    GPT_NEOX["num_hidden_layers"], 4), GPT_NEOX)
run("gpt_neox")

GPT_NEOX_4BIT = dict(GPT_NEOX, hidden_size=64, num_hidden_layers=2, rotary_pct=0.25,
                     use_parallel_residual=False, intermediate_size=256)
save_quantized("gpt_neox_4bit", gpt_neox, GPT_NEOX_4BIT, 32, 4)
run("gpt_neox_4bit", prompt_length=15, steps=8)

GPT_BIGCODE = dict(model_type="gpt_bigcode", n_embd=32, n_layer=3, n_inner=48, n_head=4,
                   n_positions=POSITIONS, layer_norm_epsilon=1e-5, vocab_size=VOCAB,
                   multi_query=True)
save_model("gpt_bigcode", flat(build(gpt_bigcode, GPT_BIGCODE)), GPT_BIGCODE)
run("gpt_bigcode")

GPT_BIGCODE_4BIT = dict(GPT_BIGCODE, n_embd=64, n_layer=2, n_inner=128, multi_query=False,
                        attention_bias=False, tie_word_embeddings=False)
save_quantized("gpt_bigcode_4bit", gpt_bigcode, GPT_BIGCODE_4BIT, 32, 4)
run("gpt_bigcode_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["gpt2", "gpt_neox"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261230 + seed)

mx.save_safetensors(f"{HERE}/lm_gpt_mlx.safetensors", arrays)
