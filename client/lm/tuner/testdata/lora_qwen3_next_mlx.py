"""lora_more_mlx.py's LoRA case on the tiny Qwen3-Next (gated delta nets and gated attention
over a mixture), for lora_test.cc: the last two blocks adapted, lr 1e-3.

mlx-lm differentiates Qwen3-Next through its ops path (qwen3_next.py passes
use_kernel=not self.training), so the model is put in training mode before the gradient at
the drawn point, as mlx_lm.tuner.trainer.train puts it for its steps.

Writes lora_qwen3_next_mlx.safetensors with lora_more_mlx.py's arrays for the case
"qwen3_next" and qwen3_next_adapter/ as mlx_lm.lora saves it.

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_qwen3_next_mlx.py (from the
repository root).
"""

import mlx.core as mx

import lora_more_mlx as base


load_model = base.load_model


def load_for_training(path):
    model, config = load_model(path)
    model.train()
    return model, config


def main():
    base.CASES["qwen3_next"] = ("qwen3_next", 2, "lora", None)
    base.load_model = load_for_training
    out = {}
    base.run("qwen3_next", out)
    mx.save_safetensors(str(base.HERE / "lora_qwen3_next_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
