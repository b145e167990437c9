"""lora_more_mlx.py's LoRA case on the tiny hybrids, for lora_test.cc: Qwen3-Next (gated
delta nets and gated attention over a mixture; Qwen3.5, the same under language_model),
Granite 4.0 (Mamba-2 scans, attention, experts beside a shared MLP) and LFM2 (short
convolutions and attention); the last two blocks adapted, lr 1e-3.

mlx-lm differentiates Qwen3-Next through its ops path (qwen3_next.py passes
use_kernel=not self.training), so the model is put in training mode before the gradient at
the drawn point, as mlx_lm.tuner.trainer.train puts it for its steps.

Writes lora_hybrid_mlx.safetensors with lora_more_mlx.py's arrays for the cases
"qwen3_next", "qwen3_5", "granitemoehybrid" and "lfm2", and <case>_adapter/ as mlx_lm.lora
saves them.

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_hybrid_mlx.py (from the
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
    base.load_model = load_for_training
    out = {}
    for case in ("qwen3_next", "qwen3_5", "granitemoehybrid", "lfm2"):
        base.CASES[case] = (case, 2, "lora", None)
        base.run(case, out)
    mx.save_safetensors(str(base.HERE / "lora_hybrid_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
