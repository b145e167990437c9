#!/usr/bin/env python3
"""Trains ferry-tiny-llama, the model examples/generate runs when given none.

A Llama (mlx-lm's model, 2 layers of width 96) with a byte-level BPE tokenizer in Llama 3's
layout, trained with MLX until it knows the opening paragraph of ferry's README by heart:
prompted with the start of a sentence from it, greedy decoding recites the rest. Small
enough to live in the repository (bfloat16, about 0.4 MB), real enough to show that
ferry::lm loads a checkpoint mlx-lm wrote, tokenizes, generates and detokenizes as mlx-lm
would.

ferry-tiny-llama.mlx_lm.json holds what mlx-lm generates with it from the README's first
words (greedy), which //client/lm:generate_text_test expects of ferry::lm.

Run from the repository root with the CPU wheels from PyPI (about five minutes on 2 cores):
  python3 -m venv /tmp/mlxenv
  /tmp/mlxenv/bin/pip install 'mlx[cpu]==0.32.4' 'mlx-lm==0.32.2' 'numpy<2' tokenizers
  /tmp/mlxenv/bin/python examples/models/make_tiny_llama.py
"""
import json
import os

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ferry-tiny-llama")
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"


# The paragraph at the top of README.md as it read when the model was trained (code spans
# unquoted, whitespace collapsed): kept here, so the model does not change with the README.
CORPUS = (
    'ferry lets a C++ program build lazy array computations, MLX style, and run them on a'
    ' remote GPU node as if the device were local. The client records operations into a '
    'graph; eval() ships the whole graph to ferryd, a daemon on the node, which validates'
    ' it, runs it (CPU or CUDA), keeps the results resident, and returns inline the small'
    ' ones the program reads. Graphs travel once and are then named by fingerprint; evals'
    ' are pipelined on one stream, so a chain of them costs one round trip; gradients '
    '(ferry::grad) and optimizer updates build into the same graph, so a training step is'
    " one eval. Models are written with ferry::nn, MLX's mlx.nn in C++ (its layers, "
    "losses, initializers, optimizers and quantization, under MLX's parameter names, so "
    'weights MLX saved load unchanged). The same client runs graphs in-process too '
    '(ferry::local()), through the very executor ferryd drives. Arrays move between '
    'devices with x.to(device), differentiably; between two daemons the bytes go daemon '
    'to daemon, never through the laptop, and many daemons can also form groups whose '
    'graphs run collectives (see "Many daemons").'
)


def corpus():
    return CORPUS


def train_tokenizer(text):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer)
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                      special_tokens=[(BOS, bos)]),
    ])
    return tok


def main():
    text = corpus()
    tok = train_tokenizer(text)
    ids = np.array(tok.encode(text).ids + [tok.token_to_id(EOS)], dtype=np.int32)
    config = dict(model_type="llama", hidden_size=96, num_hidden_layers=2,
                  intermediate_size=192, num_attention_heads=4, num_key_value_heads=2,
                  rms_norm_eps=1e-5, vocab_size=tok.get_vocab_size(), rope_theta=10000.0,
                  tie_word_embeddings=True, max_position_embeddings=2048,
                  bos_token_id=tok.token_to_id(BOS), eos_token_id=tok.token_to_id(EOS),
                  torch_dtype="bfloat16")
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    optimizer = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 400, 1e-4))

    def loss_fn(model, x, y, mask):
        return (nn.losses.cross_entropy(model(x), y) * mask).sum() / mask.sum()

    step = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(0)
    # Windows of the text from anywhere in it (those near its end shorter, padded and masked),
    # each after a BOS as a prompt would be, the last ones ending with EOS: the model
    # continues any sentence of it and stops at its end.
    bos, eos, body = ids[0], ids[-1], ids[1:]
    window, batch = 160, 16
    for i in range(400):
        starts = rng.integers(0, len(body) - 1, batch)
        seqs = np.full((batch, window + 1), eos, dtype=np.int32)
        mask = np.zeros((batch, window), dtype=np.float32)
        for row, s in enumerate(starts):
            piece = body[s:s + window]
            seqs[row, 0], seqs[row, 1:1 + len(piece)] = bos, piece
            mask[row, :len(piece)] = 1
        x, y, mask = mx.array(seqs[:, :-1]), mx.array(seqs[:, 1:]), mx.array(mask)
        loss, grads = step(model, x, y, mask)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        if i % 50 == 0 or i == 399:
            print(f"step {i}: loss {loss.item():.4f}")

    model.set_dtype(mx.bfloat16)
    os.makedirs(OUT, exist_ok=True)
    mx.save_safetensors(os.path.join(OUT, "model.safetensors"),
                        dict(tree_flatten(model.parameters())), metadata={"format": "mlx"})
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    tok.save(os.path.join(OUT, "tokenizer.json"))
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump(dict(bos_token=BOS, eos_token=EOS, add_bos_token=True), f, indent=2)

    # What mlx-lm itself generates from the README's first words, for the example's check.
    from mlx_lm import generate as mlx_generate
    from mlx_lm.tokenizer_utils import TokenizerWrapper
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS)
    prompt, max_tokens = "ferry lets a C++ program", 120
    reply = mlx_generate(model, TokenizerWrapper(hf), prompt, max_tokens=max_tokens)
    print("mlx-lm:", reply)
    with open(os.path.join(HERE, "ferry-tiny-llama.mlx_lm.json"), "w") as f:
        json.dump(dict(prompt=prompt, max_tokens=max_tokens, reply=reply,
                       prompt_ids=tok.encode(prompt).ids), f, indent=2)


if __name__ == "__main__":
    main()
