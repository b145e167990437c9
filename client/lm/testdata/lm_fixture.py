"""What the fixtures share: a model built with random weights, its directory saved as mlx-lm
saves one (or in Hugging Face's layout, or quantized as mlx_lm.convert does), mlx-lm's
outputs for a prompt recorded (whole, through the caches in pieces, or a token at a time),
and a directory loaded back as mlx_lm.load loads it."""
import functools
import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map_with_path
from mlx_lm.generate import generate_step
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.utils import load_model, quantize_model

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


def record_cached(arrays, name, model, chunks):
    """arrays[name + ".prompt"] through make_cache()'s caches in pieces: a prefill of
    chunks[0] tokens, one of chunks[1], then one token at a time, into
    arrays[name + ".cached_logits"]."""
    prompt = arrays[f"{name}.prompt"][None]
    cache = model.make_cache()
    bounds = [0, chunks[0], chunks[0] + chunks[1]] + list(
        range(chunks[0] + chunks[1] + 1, prompt.shape[1] + 1))
    pieces = []
    for start, stop in zip(bounds, bounds[1:]):
        pieces.append(model(prompt[:, start:stop], cache=cache))
        mx.eval(pieces[-1], [c.state for c in cache])
    arrays[f"{name}.cached_logits"] = mx.concatenate(pieces, axis=1).astype(mx.float32)
    moved = mx.max(mx.abs(arrays[f"{name}.cached_logits"] - arrays[f"{name}.logits"])).item()
    print(f"{name}: cached logits {moved:.2e} from the whole prompt's")


def draw_weights(model, rng, norm_center=1.0, scale=0.3, embed_scale=0.3, expert_scale=0.3):
    """Every weight of `model` drawn: norms near norm_center (0 for Gemma's, which scale by 1 +
    weight), a router's e_score_correction_bias about as large as the sigmoid scores'
    differences, the embedding of scale embed_scale, experts' (".experts." in the name) of
    expert_scale, the rest of `scale`."""
    def draw(path, p):
        if path.endswith("norm.weight"):
            return mx.array(norm_center + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
        if path.endswith("e_score_correction_bias"):
            return mx.array(0.1 * rng.standard_normal(p.shape).astype(np.float32))
        if path.endswith("embed_tokens.weight"):
            return mx.array(embed_scale * rng.standard_normal(p.shape).astype(np.float32))
        if ".experts." in path:
            return mx.array(expert_scale * rng.standard_normal(p.shape).astype(np.float32))
        return mx.array(scale * rng.standard_normal(p.shape).astype(np.float32))

    model.update(tree_map_with_path(draw, model.parameters()))
    mx.eval(model.parameters())
    return model


def reload(name):
    """The directory as mlx_lm.load reads it (sanitize and quantization included)."""
    model, _ = load_model(Path(HERE) / name)
    return model


def build(rng, module, config, **scales):
    """module.Model of config (a dict of config.json's), its weights drawn (draw_weights, of
    `scales`: norm_center, scale, embed_scale, expert_scale)."""
    model = module.Model(module.ModelArgs.from_dict(config))
    return draw_weights(model, rng, **scales)


def quantized(model, config, group_size, bits):
    """model quantized as mlx_lm.convert does (quantize_model, affine in groups of group_size,
    the model's quant_predicate's layers at their own bits): its weights by name and config
    with their quantization, as save_model and save_and_record take them."""
    model, config = quantize_model(model, config, group_size, bits)
    return dict(tree_flatten(model.parameters())), config


def save_quantized(rng, name, module, config, group_size, bits):
    """module.Model of config built (build), quantized (quantized) and saved (save_model)."""
    save_model(name, *quantized(build(rng, module, config), config, group_size, bits))


def record_steps(arrays, name, model):
    """arrays[name + ".prompt"] one token at a time through make_prompt_cache's caches, into
    arrays[name + ".steps"] (prompt length, vocab); the caches returned."""
    cache = make_prompt_cache(model)
    arrays[f"{name}.steps"] = mx.concatenate(
        [model(t.reshape(1, 1), cache=cache)[0] for t in arrays[f"{name}.prompt"]]
    ).astype(mx.float32)
    return cache


def reload_and_record(arrays, rng, vocab, name, prompt_length=20, steps=10):
    """The directory as mlx_lm.load loads it, its outputs for a random prompt recorded (record,
    `steps` greedy tokens) and the prompt one token at a time (record_steps, whose caches it
    returns)."""
    model = reload(name)
    record(arrays, rng, vocab, name, model, prompt_length=prompt_length, steps=steps)
    return record_steps(arrays, name, model)


def save_and_record(arrays, rng, vocab, chunks, name, weights, config, prompt_length,
                    steps=10):
    """The model saved (save_model), then, as mlx_lm.load loads it back, its outputs for a
    random prompt recorded (record, `steps` greedy tokens) and the prompt through its caches
    in pieces (record_cached of `chunks`)."""
    save_model(name, weights, config)
    loaded = reload(name)
    record(arrays, rng, vocab, name, loaded, prompt_length=prompt_length, steps=steps)
    record_cached(arrays, name, loaded, chunks)


def hugging_face_layout(weights, conv_suffix=None, rewrite=None):
    """mlx-lm's weights as Hugging Face stores them: the depthwise conv weights named
    *conv_suffix (C, 1, K; none: no conv weights), then each weight through
    rewrite(key, value, weights), a dict of the entries it becomes (none: kept as it is)."""
    out = {}
    for key, value in weights.items():
        if conv_suffix and key.endswith(conv_suffix):
            value = value.swapaxes(1, 2)
        out.update(rewrite(key, value, weights) if rewrite else {key: value})
    return out


def split_experts(stacked, experts, names, num_experts):
    """A rewrite for hugging_face_layout: experts stacked as `stacked` (".switch_mlp.") split
    into Hugging Face's `experts`E.<names[projection]>.<kind> (".experts.0.w1.weight"), one
    per expert."""
    def rewrite(key, value, _):
        if stacked not in key:
            return {key: value}
        prefix, rest = key.split(stacked)
        projection, kind = rest.split(".")
        return {f"{prefix}{experts}{e}.{names[projection]}.{kind}": value[e]
                for e in range(num_experts)}
    return rewrite


def flat(model):
    """model's parameters by dotted name, as save_model takes them."""
    return dict(tree_flatten(model.parameters()))


def bind(rng, arrays, vocab):
    """build, reload_and_record and save_quantized with a script's rng, arrays and vocab
    bound: the script's build(module, config), run(name) and save_quantized(name, ...)."""
    return (functools.partial(build, rng),
            functools.partial(reload_and_record, arrays, rng, vocab),
            functools.partial(save_quantized, rng))


def per_expert(weights):
    """Hugging Face's layout: mlp.switch_mlp.P.weight (E, ...) as mlp.experts.E.P.weight."""
    out = {}
    for key, value in weights.items():
        if ".switch_mlp." not in key:
            out[key] = value
            continue
        for e in range(value.shape[0]):
            out[key.replace(".switch_mlp.", f".experts.{e}.")] = value[e]
    return out


def kv_b_proj(embed_q, unembed_out):
    """Hugging Face's kv_b_proj (heads x (nope + v), kv_lora_rank) of mlx-lm's embed_q
    (heads, kv_lora_rank, nope) and unembed_out (heads, v, kv_lora_rank), which mlx-lm's
    DeepSeek V3 sanitize splits."""
    both = mx.concatenate([embed_q.swapaxes(-1, -2), unembed_out], axis=1)
    return both.reshape(-1, both.shape[-1])


def deepseek_rewrite(key, value, weights):
    """A rewrite for hugging_face_layout, DeepSeek V3's: experts per expert (per_expert);
    each layer's embed_q and unembed_out as one kv_b_proj, where embed_q was."""
    if ".switch_mlp." in key:
        return per_expert({key: value})
    if key.endswith("embed_q.weight"):
        prefix = key[: -len("embed_q.weight")]
        wv = weights[prefix + "unembed_out.weight"]
        return {prefix + "kv_b_proj.weight": kv_b_proj(value, wv)}
    if key.endswith("unembed_out.weight"):
        return {}
    return {key: value}


# What the batch fixtures (lm_batch_rotating_mlx.py, lm_batch_qwen3_next_mlx.py) run: five
# prompts of these lengths, inserted before the calls of next_generated() given, 20 greedy
# tokens each, prefilled 4 at a time.
BATCH_LENGTHS = [5, 17, 9, 30, 2]
BATCH_JOIN = {0: [0, 1], 3: [2, 3], 6: [4]}  # call: prompts inserted before it
BATCH_MAX_TOKENS = 20
BATCH_PREFILL = 4


def record_batch(arrays, name, model_dir, vocab, seed, max_kv_size=None):
    """mlx-lm's BatchGenerator over the batch above: arrays[name + ".prompt<i>"],
    [".tokens<i>"] (int32) and [".options"] (max_kv_size or 0, prefill_step_size)."""
    from mlx_lm.generate import BatchGenerator

    model = reload(model_dir)
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(0, vocab, n).astype(np.int32).tolist() for n in BATCH_LENGTHS]
    generator = BatchGenerator(model, max_tokens=BATCH_MAX_TOKENS,
                               prefill_step_size=BATCH_PREFILL, max_kv_size=max_kv_size)
    uids, tokens, gaps = {}, {}, []
    call = 0
    while True:
        for i in BATCH_JOIN.get(call, []):
            uids[generator.insert([prompts[i]], max_tokens=[BATCH_MAX_TOKENS])[0]] = i
        responses = generator.next_generated()
        call += 1
        if not responses and call > max(BATCH_JOIN):
            break
        for r in responses:
            tokens.setdefault(uids[r.uid], []).append(r.token)
            top2 = np.sort(np.array(r.logprobs.astype(mx.float32)))[-2:]
            gaps.append(top2[1] - top2[0])
    for i, prompt in enumerate(prompts):
        assert len(tokens[i]) == BATCH_MAX_TOKENS, (name, i, len(tokens[i]))
        arrays[f"{name}.prompt{i}"] = mx.array(prompt, dtype=mx.int32)
        arrays[f"{name}.tokens{i}"] = mx.array(tokens[i], dtype=mx.int32)
        print(f"{name} prompt {i} ({len(prompt)} tokens): {tokens[i]}")
    arrays[f"{name}.options"] = mx.array([max_kv_size or 0, BATCH_PREFILL], dtype=mx.int32)
    print(f"{name}: smallest top-2 gap {min(gaps):.4f}")
