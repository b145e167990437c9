"""mlx_lm.convert's output for convert_test.cc: convert/<case>/ holds config.json,
model.safetensors and model.safetensors.index.json as mlx-lm 0.32.2 wrote them (the
tokenizer's files it also writes are removed: ferry copies the source's).

  tiny_q4          examples/models/ferry-tiny-llama, -q --q-group-size 32 (cast first to its
                   config's torch_dtype, bfloat16, as convert does without --dtype)
  tiny_mixed_3_6   the same with --quant-predicate mixed_3_6
  tiny_float32     --dtype float32
  llama_4bit_dequantized   client/lm/testdata/llama_4bit, -d
  gpt_oss_q4       client/lm/testdata/gpt_oss, -q --q-group-size 32 (its routers in 8 bits,
                   groups of 64: the model's quant_predicate)
  glm4_moe_bf16    client/lm/testdata/glm4_moe, --dtype bfloat16 (e_score_correction_bias
                   kept in float32: its cast_predicate)
  qwen3_5_moe_bf16 client/lm/testdata/qwen3_5_moe, --dtype bfloat16 (A_log kept)

Run: /tmp/mlxenv/bin/python client/lm/testdata/convert_mlx.py (from the repository root).
"""

import shutil
import tempfile
from pathlib import Path

from mlx_lm.convert import convert

ROOT = Path(__file__).parents[3]
HERE = Path(__file__).parent
TINY = ROOT / "examples/models/ferry-tiny-llama"
CASES = {
    "tiny_q4": (TINY, dict(quantize=True, q_group_size=32)),
    "tiny_mixed_3_6": (TINY, dict(quantize=True, q_group_size=32, quant_predicate="mixed_3_6")),
    "tiny_float32": (TINY, dict(dtype="float32")),
    "llama_4bit_dequantized": (HERE / "llama_4bit", dict(dequantize=True)),
    "gpt_oss_q4": (HERE / "gpt_oss", dict(quantize=True, q_group_size=32)),
    "glm4_moe_bf16": (HERE / "glm4_moe", dict(dtype="bfloat16")),
    "qwen3_5_moe_bf16": (HERE / "qwen3_5_moe", dict(dtype="bfloat16")),
}
KEPT = {"config.json", "model.safetensors", "model.safetensors.index.json"}


def main():
    for case, (source, options) in CASES.items():
        out = HERE / "convert" / case
        shutil.rmtree(out, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            # mlx-lm's load wants a tokenizer: the tiny llama's beside the weights.
            src = Path(tmp) / "src"
            shutil.copytree(source, src)
            for name in ("tokenizer.json", "tokenizer_config.json"):
                if not (src / name).exists():
                    shutil.copy(TINY / name, src)
            convert(str(src), mlx_path=str(out), **options)
        for f in out.iterdir():
            if f.name not in KEPT:
                f.unlink()
        print(case, sorted(f.name for f in out.iterdir()))


if __name__ == "__main__":
    main()
