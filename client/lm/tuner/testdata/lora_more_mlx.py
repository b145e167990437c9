"""mlx-lm's other adapters on the tiny test models, for lora_test.cc.

As lora_mlx.py, five steps of mlx_lm.tuner.trainer.train with Adam on one batch of two
examples, from adapters drawn with a fixed seed, but at lr 1e-3: at 5e-3 the mixture's
training is chaotic (a 1e-6 relative change of the start moves mlx-lm's own losses by
1e-4 relative and its adapters by 1e-3), and no other implementation could follow it. The
cases:
  qwen3_moe        LoRA of the last two blocks' layers (a dense block, then a mixture whose
                   router and experts' SwitchLinear are adapted: LoRASwitchLinear; 2 x 32
                   tokens x 2 experts, so SwitchGLU sorts the pairs)
  qwen3_moe_4bit   the same over QuantizedSwitchLinear
  llama_dora       DoRA (fine_tune_type "dora") of the last block's Linear layers
  llama_4bit_dora  DoRA over QuantizedLinear
  qwen2_embedding  LoRA of model.embed_tokens (tied: its as_linear is the output layer too)
                   and of each block's self_attn.q_proj
  qwen2_dora_embedding  the same with DoRA (DoRAEmbedding, DoRALinear)
Writes lora_more_mlx.safetensors with lora_mlx.py's arrays (<case>.init.<name>,
<case>.final.<name>, <case>.losses, .tokens, .lengths, .logits; .fused_logits and
.dequantized_logits of the quantized models), the loss (<case>.point_loss) and gradient
(<case>.grad.<name>) of the batch at the initial adapters but for lora_b, drawn
(<case>.point.<name>, not zeros); <case>_adapter/ as mlx_lm.lora saves it; and
lora_keys_mlx.json: for each model, the trainable parameters (name: shape) once
linear_to_lora_layers adapted every block with the default keys.

Run: /tmp/mlxenv/bin/python client/lm/tuner/testdata/lora_more_mlx.py (from the repository
root).
"""

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.lora import CONFIG_DEFAULTS
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, default_loss, iterate_batches, train
from mlx_lm.tuner.utils import linear_to_lora_layers
from mlx_lm.utils import load_model, save_config

HERE = Path(__file__).parent
MODELS = HERE.parent.parent / "testdata"
LORA = {"rank": 4, "scale": 20.0, "dropout": 0.0}
STEPS = 5
LEARNING_RATE = 1e-3

# case: (model, num_layers, fine_tune_type, keys)
CASES = {
    "qwen3_moe": ("qwen3_moe", 2, "lora", None),
    "qwen3_moe_4bit": ("qwen3_moe_4bit", 2, "lora", None),
    "llama_dora": ("llama", 1, "dora", None),
    "llama_4bit_dora": ("llama_4bit", 2, "dora", None),
    "qwen2_embedding": ("qwen2", 2, "lora", ["self_attn.q_proj", "model.embed_tokens"]),
    "qwen2_dora_embedding": ("qwen2", 2, "dora", ["self_attn.q_proj", "model.embed_tokens"]),
}
KEY_MODELS = ["llama", "qwen3_moe", "mixtral", "qwen2_moe_hf", "deepseek_v3", "gpt_oss"]


class Losses(TrainingCallback):
    def __init__(self):
        self.train = []

    def on_train_loss_report(self, info):
        self.train.append(info["train_loss"])


def run(case, out, spec=None, learning_rate=LEARNING_RATE, gradient_point=True, fuse_all=False):
    """One case's arrays into `out`: spec (model, num_layers, fine_tune_type, keys) or
    CASES[case]'s; the loss and gradient at a drawn point unless not gradient_point; the
    fused logits of every model with fuse_all, else of the quantized ones."""
    model_name, num_layers, fine_tune_type, keys = spec or CASES[case]
    lora = dict(LORA)
    if keys is not None:
        lora["keys"] = keys
    model, _ = load_model(MODELS / model_name)
    model.freeze()
    linear_to_lora_layers(model, num_layers, lora, use_dora=fine_tune_type == "dora")
    mx.random.seed(7)
    init = {}
    for name, p in tree_flatten(model.trainable_parameters()):
        if name.endswith("lora_a"):
            # LoRALinear's (input, r), LoRAEmbedding's (num_embeddings, r), LoRASwitchLinear's
            # (experts, r, input)
            d = (p.shape[-1] if p.ndim == 3 else p.shape[0]) ** -0.5
            p = mx.random.uniform(-d, d, p.shape)
        init[name] = p
    rng = np.random.default_rng(0)
    dataset = [
        (rng.integers(1, 96, 20).tolist(), 0),
        (rng.integers(1, 96, 12).tolist(), 4),  # its first 4 tokens a prompt, unscored
    ]
    tokens, lengths = next(iterate_batches(dataset, 2, 2048))
    # The loss and its gradient at a point where lora_b is not zero (every adapter's
    # gradient then is not either): the gradient itself, which Adam's steps scale away.
    if gradient_point:
        point = {n: 0.05 * mx.random.normal(p.shape) if n.endswith("lora_b") else p for n, p in init.items()}
        model.update(tree_unflatten(list(point.items())))
        (loss, _), grads = nn.value_and_grad(model, default_loss)(model, tokens, lengths)
        for name, p in point.items():
            if name.endswith("lora_b"):  # the rest is init's
                out[f"{case}.point.{name}"] = p
        for name, g in tree_flatten(grads):
            out[f"{case}.grad.{name}"] = g
        out[f"{case}.point_loss"] = loss
    model.update(tree_unflatten(list(init.items())))
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
    train(model, optim.Adam(learning_rate=learning_rate), dataset, None, args, training_callback=callback)
    config = dict(CONFIG_DEFAULTS)
    config.update(
        model=f"client/lm/testdata/{model_name}",
        train=True,
        fine_tune_type=fine_tune_type,
        num_layers=num_layers,
        lora_parameters=lora,
        batch_size=2,
        iters=STEPS,
        learning_rate=learning_rate,
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
    # mlx_lm.fuse's merge (quantized again as it was), and with --dequantize; a model not
    # quantized fuses to the adapted model's logits (<case>.logits), not saved twice
    adapted = [(n, m) for n, m in model.named_modules() if hasattr(m, "fuse")]
    for dequantize, key in ((False, "fused_logits"), (True, "dequantized_logits")):
        model.update_modules(tree_unflatten([(n, m.fuse(dequantize)) for n, m in adapted]))
        if fuse_all or "4bit" in model_name:
            out[f"{case}.{key}"] = model(tokens).astype(mx.float32)
    print(case, "losses", callback.train)


def default_keys(name):
    model, _ = load_model(MODELS / name)
    model.freeze()
    linear_to_lora_layers(model, 1000, LORA)
    return {n: list(p.shape) for n, p in tree_flatten(model.trainable_parameters())}


def main():
    out = {}
    for case in CASES:
        run(case, out)
    mx.save_safetensors(str(HERE / "lora_more_mlx.safetensors"), out)
    keys = {name: default_keys(name) for name in KEY_MODELS}
    with open(HERE / "lora_keys_mlx.json", "w") as f:
        json.dump(keys, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
