"""mlx_lm.lora run from the YAML files in configs/, for lora_config_test.cc.

Each configs/<case>.yaml is read as mlx_lm.lora's main reads a --config file (its YAML
loader, then CONFIG_DEFAULTS for what the file leaves out) and given to mlx_lm.lora's
train_model with the tiny test model it names and one batch of two examples (one with a
masked prompt), for training and validation alike. lora_muon resumes from adapters drawn
here first (lora_muon_init.safetensors). Writes lora_config_mlx.safetensors:
  <case>.losses       the training loss of each step (steps_per_report 1)
  <case>.val_losses   the validation losses (the first step and the last)
  <case>.final.<name> every trainable parameter after training
  <case>.tokens, <case>.lengths   the batch
  <case>.logits       the trained model's logits of tokens (evaluation mode)
and <case>_adapter/ as mlx_lm.lora saves it (adapters.safetensors, adapter_config.json).

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_config_mlx.py (from the repository
root).
"""

import types
from pathlib import Path

import mlx.core as mx
import numpy as np
import yaml
from mlx.utils import tree_flatten
from mlx_lm.lora import CONFIG_DEFAULTS, train_model, yaml_loader
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import iterate_batches
from mlx_lm.tuner.utils import linear_to_lora_layers
from mlx_lm.utils import load_model

HERE = Path(__file__).parent
ROOT = HERE.parents[3]
CASES = ["full_adamw", "full_sgd", "lora_muon"]


class Reports(TrainingCallback):
    def __init__(self):
        self.train, self.val = [], []

    def on_train_loss_report(self, info):
        self.train.append(info["train_loss"])

    def on_val_loss_report(self, info):
        self.val.append(info["val_loss"])


class Example(list):
    """Tokens whose first `offset` are an unscored prompt; len() is their count."""

    def __init__(self, tokens, offset):
        super().__init__(tokens)
        self.offset = offset


class Dataset(list):
    def process(self, example):
        return list(example), example.offset


def examples():
    rng = np.random.default_rng(0)
    return Dataset(
        [Example(rng.integers(1, 96, 20).tolist(), 0), Example(rng.integers(1, 96, 12).tolist(), 4)]
    )


def config(case):
    with open(HERE / "configs" / f"{case}.yaml") as f:
        args = yaml.load(f, yaml_loader)
    for key, value in CONFIG_DEFAULTS.items():
        if args.get(key) is None:
            args[key] = value
    args["adapter_path"] = f"client/lm/tuner/testdata/{case}_adapter"  # run from ROOT
    return types.SimpleNamespace(**args)


def draw_lora_init(args):
    """Adapters with lora_b nonzero too, so the first step moves every parameter."""
    model, _ = load_model(ROOT / args.model)
    model.freeze()
    linear_to_lora_layers(model, args.num_layers, args.lora_parameters)
    mx.random.seed(11)
    init = {
        name: mx.random.uniform(-0.1, 0.1, p.shape)
        for name, p in tree_flatten(model.trainable_parameters())
    }
    mx.save_safetensors(str(ROOT / args.resume_adapter_file), init)


def run(case, out):
    args = config(case)
    if args.resume_adapter_file:
        draw_lora_init(args)
    model, _ = load_model(ROOT / args.model)
    data = examples()
    tokens, lengths = next(iterate_batches([data.process(e) for e in data], 2, 2048))
    reports = Reports()
    train_model(args, model, data, examples(), training_callback=reports)
    model.eval()
    for name, p in tree_flatten(model.trainable_parameters()):
        out[f"{case}.final.{name}"] = p
    out[f"{case}.losses"] = mx.array(reports.train, dtype=mx.float32)
    out[f"{case}.val_losses"] = mx.array(reports.val, dtype=mx.float32)
    out[f"{case}.tokens"] = tokens
    out[f"{case}.lengths"] = lengths.astype(mx.int32)
    out[f"{case}.logits"] = model(tokens).astype(mx.float32)
    print(case, "losses", reports.train, "val", reports.val)


def main():
    out = {}
    for case in CASES:
        run(case, out)
    mx.save_safetensors(str(HERE / "lora_config_mlx.safetensors"), out)


if __name__ == "__main__":
    main()
