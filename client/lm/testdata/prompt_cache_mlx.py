"""mlx-lm's prompt cache files, for prompt_cache_file_test.cc: each case's model prefilled
with PROMPT through make_prompt_cache's caches and written by save_prompt_cache (metadata
{"model": <case's model>}) to prompt_cache/<case>.safetensors, then NEXT fed a token at a
time from those caches:
  llama            plain KVCache layers
  llama_quantized  llama_hd64's caches to_quantized (4 bits in groups of 32), as kv_bits leaves them
  gemma3_text      RotatingKVCache sliding layers (window 8, the prompt of 13 wrapped them)
                   beside KVCache global ones
  qwen3_next       ArraysCache linear layers beside KVCache attention layers
  llama4           ChunkedKVCache local layers (chunks of 6: the prompt spans three) beside
                   KVCache global ones
  falcon_h1        CacheList layers, each an ArraysCache (the mixer's) and a KVCache (the
                   attention's)
prompt_cache_mlx.safetensors holds <case>.next (int32) and <case>.next_logits, (1, 4, V)
float32: the logits of each NEXT token in turn.

Run: /tmp/mlxenv/bin/python client/lm/testdata/prompt_cache_mlx.py (from the repository root).
"""

from pathlib import Path

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache, save_prompt_cache
from mlx_lm.utils import load_model

HERE = Path(__file__).parent
PROMPT = [3, 17, 5, 42, 8, 11, 29, 2, 33, 7, 19, 4, 25]
NEXT = [6, 14, 30, 9]
CASES = {
    "llama": "llama",
    "llama_quantized": "llama_hd64",
    "gemma3_text": "gemma3_text",
    "qwen3_next": "qwen3_next",
    "llama4": "llama4",
    "falcon_h1": "falcon_h1",
}


def main():
    out = {}
    (HERE / "prompt_cache").mkdir(exist_ok=True)
    for case, name in CASES.items():
        model, _ = load_model(HERE / name)
        cache = make_prompt_cache(model)
        model(mx.array([PROMPT]), cache=cache)
        if case == "llama_quantized":
            cache = [c.to_quantized(group_size=32, bits=4) for c in cache]
        mx.eval([c.state for c in cache])
        save_prompt_cache(str(HERE / "prompt_cache" / f"{case}.safetensors"), cache,
                          {"model": name})
        logits = [model(mx.array([[t]]), cache=cache) for t in NEXT]
        out[f"{case}.next"] = mx.array(NEXT, dtype=mx.int32)
        out[f"{case}.next_logits"] = mx.concatenate(logits, axis=1).astype(mx.float32)
    mx.save_safetensors(str(HERE / "prompt_cache_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
