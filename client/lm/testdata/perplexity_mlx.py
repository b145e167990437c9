"""mlx_lm.perplexity's eval_ppl on the tiny llama and its 4-bit twin, for perplexity_test.cc:
five random rows of 17 tokens, in batches of 2. perplexity_mlx.safetensors holds data
(5, 17) int32 and, for each model <m>, <m>.ppl and <m>.standard_error (float64 as 0-d
float32).

Run: /tmp/mlxenv/bin/python client/lm/testdata/perplexity_mlx.py (from the repository root).
"""

from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.perplexity import eval_ppl
from mlx_lm.utils import load_model

HERE = Path(__file__).parent


def main():
    data = mx.array(np.random.default_rng(3).integers(1, 96, (5, 17)).astype(np.int32))
    out = {"data": data}
    for name in ("llama", "llama_4bit"):
        model, _ = load_model(HERE / name)
        ppl, se = eval_ppl(model, data, batch_size=2)
        out[f"{name}.ppl"] = mx.array(ppl, dtype=mx.float32)
        out[f"{name}.standard_error"] = mx.array(se, dtype=mx.float32)
        print(name, ppl, se)
    mx.save_safetensors(str(HERE / "perplexity_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
