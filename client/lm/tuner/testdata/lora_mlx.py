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

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_mlx.py (from the repository root).
"""

from pathlib import Path

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.lora import CONFIG_DEFAULTS
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, iterate_batches, train
from mlx_lm.tuner.utils import linear_to_lora_layers
from mlx_lm.utils import load_model, save_config

HERE = Path(__file__).parent
MODELS = HERE.parent.parent / "testdata"
LORA = {"rank": 4, "scale": 20.0, "dropout": 0.0}
STEPS = 5
LEARNING_RATE = 5e-3


class Losses(TrainingCallback):
    def __init__(self):
        self.train = []

    def on_train_loss_report(self, info):
        self.train.append(info["train_loss"])


def run(case, num_layers, out):
    model, _ = load_model(MODELS / case)
    model.freeze()
    linear_to_lora_layers(model, num_layers, LORA)
    mx.random.seed(7)
    init = {}
    for name, p in tree_flatten(model.trainable_parameters()):
        if name.endswith("lora_a"):
            d = p.shape[0] ** -0.5
            p = mx.random.uniform(-d, d, p.shape)
        init[name] = p
    model.update(tree_unflatten(list(init.items())))
    rng = np.random.default_rng(0)
    dataset = [
        (rng.integers(1, 96, 20).tolist(), 0),
        (rng.integers(1, 96, 12).tolist(), 4),  # its first 4 tokens a prompt, unscored
    ]
    tokens, lengths = next(iterate_batches(dataset, 2, 2048))
    callback = Losses()
    adapter_dir = HERE / f"{case}_adapter"
    adapter_dir.mkdir(exist_ok=True)
    args = TrainingArgs(
        batch_size=2,
        iters=STEPS,
        steps_per_report=1,
        steps_per_eval=1000,
        steps_per_save=1000,
        adapter_file=str(adapter_dir / "adapters.safetensors"),
    )
    train(model, optim.Adam(learning_rate=LEARNING_RATE), dataset, None, args, training_callback=callback)
    config = dict(CONFIG_DEFAULTS)
    config.update(
        model=f"client/lm/testdata/{case}",
        train=True,
        num_layers=num_layers,
        lora_parameters=LORA,
        batch_size=2,
        iters=STEPS,
        learning_rate=LEARNING_RATE,
        adapter_path=str(adapter_dir),
    )
    save_config(config, adapter_dir / "adapter_config.json")
    model.eval()
    for name, p in init.items():
        out[f"{case}.init.{name}"] = p
    for name, p in tree_flatten(model.trainable_parameters()):
        out[f"{case}.final.{name}"] = p
    out[f"{case}.losses"] = mx.array(callback.train, dtype=mx.float32)
    out[f"{case}.tokens"] = tokens
    out[f"{case}.lengths"] = lengths.astype(mx.int32)
    out[f"{case}.logits"] = model(tokens).astype(mx.float32)
    # mlx_lm.fuse's merge (quantized again as it was), and with --dequantize
    lora = [(n, m) for n, m in model.named_modules() if hasattr(m, "fuse")]
    for dequantize, key in ((False, "fused_logits"), (True, "dequantized_logits")):
        model.update_modules(tree_unflatten([(n, m.fuse(dequantize)) for n, m in lora]))
        out[f"{case}.{key}"] = model(tokens).astype(mx.float32)
    print(case, "losses", callback.train)


def main():
    out = {}
    run("llama", 1, out)
    run("llama_4bit", 2, out)
    mx.save_safetensors(str(HERE / "lora_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
