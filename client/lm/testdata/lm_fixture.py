"""What lm_moe_mlx.py and lm_gemma3_mlx.py share: a model directory saved as mlx-lm saves
one, mlx-lm's outputs for a prompt recorded, and a directory loaded back as mlx_lm.load
loads it."""
import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_map_with_path
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model

HERE = os.path.dirname(os.path.abspath(__file__))


def save_model(name, weights, config):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    mx.save_safetensors(os.path.join(folder, "model.safetensors"), weights,
                        metadata={"format": "mlx"})


def record(arrays, rng, vocab, name, model, prompt_length, steps, **generate_kwargs):
    """A random prompt, the logits of it whole, and generate_step's greedy tokens and the
    log-probabilities each was drawn from (generate_kwargs passed to it: max_kv_size,
    prefill_step_size), into arrays[name + ...]."""
    prompt = mx.array(rng.integers(0, vocab, prompt_length).astype(np.int32))
    arrays[f"{name}.prompt"] = prompt
    arrays[f"{name}.logits"] = model(prompt[None]).astype(mx.float32)
    tokens, logprobs = [], []
    for token, lp in generate_step(prompt, model, max_tokens=steps, **generate_kwargs):
        tokens.append(token)
        logprobs.append(lp.astype(mx.float32))
    arrays[f"{name}.greedy"] = mx.array(np.array(tokens, dtype=np.int32))
    arrays[f"{name}.logprobs"] = mx.stack(logprobs)
    # Greedy tokens are comparable only where the best two are apart.
    top2 = np.sort(np.array(mx.stack(logprobs)), axis=-1)[:, -2:]
    print(f"{name}: greedy {tokens}; smallest top-2 gap {np.min(top2[:, 1] - top2[:, 0]):.4f}")


def draw_weights(model, rng):
    """Every weight of `model` drawn: norms near 1, a router's e_score_correction_bias about
    as large as the sigmoid scores' differences, the rest of scale 0.3."""
    def draw(path, p):
        if path.endswith("norm.weight"):
            return mx.array(1.0 + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
        if path.endswith("e_score_correction_bias"):
            return mx.array(0.1 * rng.standard_normal(p.shape).astype(np.float32))
        return mx.array(0.3 * rng.standard_normal(p.shape).astype(np.float32))

    model.update(tree_map_with_path(draw, model.parameters()))
    mx.eval(model.parameters())
    return model


def reload(name):
    """The directory as mlx_lm.load reads it (sanitize and quantization included)."""
    model, _ = load_model(Path(HERE) / name)
    return model
