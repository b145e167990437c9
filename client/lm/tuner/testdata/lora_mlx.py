"""mlx-lm's LoRA and QLoRA training of the tiny test models, for lora_test.cc.

For each of client/lm/testdata's llama (LoRA on the last block) and llama_4bit (QLoRA on
both blocks): the model frozen and adapted by mlx_lm.tuner.utils.linear_to_lora_layers
(rank 4, scale 20, dropout 0, the default keys), lora_a drawn from a fixed seed; then five
steps of mlx_lm.tuner.trainer.train with Adam (lr 5e-3) on one batch of two examples (one
with a masked prompt). Writes lora_mlx.safetensors:
  <case>.init.<name>    the adapters before training (lora_b zeros, as mlx-lm starts)
  <case>.final.<name>   after the five steps
  <case>.losses         the training loss of each step (steps_per_report = 1)
  <case>.tokens, <case>.lengths   the batch iterate_batches made (offset, length per row)
  <case>.logits         the trained model's logits of tokens (evaluation mode)
  <case>.fused_logits   the same, once mlx-lm's LoRALinear.fuse merged the adapters
  <case>.dequantized_logits   ... with fuse(dequantize=True)
and <case>_adapter/{adapters.safetensors, adapter_config.json} as mlx_lm.lora saves them.

The training is lora_more_mlx.py's run, without its gradient point.

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_mlx.py (from the repository root).
"""

import mlx.core as mx

from lora_more_mlx import HERE, run

LEARNING_RATE = 5e-3


def main():
    out = {}
    # lora_more_mlx.py's run, without its gradient point, fusing the float model too.
    run("llama", out, ("llama", 1, "lora", None), LEARNING_RATE, gradient_point=False, fuse_all=True)
    run("llama_4bit", out, ("llama_4bit", 2, "lora", None), LEARNING_RATE, gradient_point=False,
        fuse_all=True)
    mx.save_safetensors(str(HERE / "lora_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
