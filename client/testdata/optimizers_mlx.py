#!/usr/bin/env python3
"""Writes optimizers_mlx.safetensors: MLX's optimizers, schedules and clip_grad_norm, for
client/optimizers_mlx_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/testdata/optimizers_mlx.py

p0 (float32 (3, 4)) and the gradients g1, g2, g3 of three steps; "<optimizer>.p3" is p0
after the three updates (the learning rate a schedule where the name says so); v0 (5,) and
w0 (4, 2, 3) with their gradients vg* and wg*: "<optimizer>.{p,v,w}3" after three updates of
all three together;
clip.* what clip_grad_norm gives of g1 and g2; schedule.* a schedule at steps 0..29.
"""
import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(20261207)
arrays = {"p0": mx.array(rng.normal(0, 1, (3, 4)).astype(np.float32))}
for i in (1, 2, 3):
    arrays[f"g{i}"] = mx.array(rng.normal(0, 1, (3, 4)).astype(np.float32))
# A vector and a rank-3 weight too, for the optimizers that treat them otherwise.
arrays["v0"] = mx.array(rng.normal(0, 1, (5,)).astype(np.float32))
arrays["w0"] = mx.array(rng.normal(0, 1, (4, 2, 3)).astype(np.float32))
for i in (1, 2, 3):
    arrays[f"vg{i}"] = mx.array(rng.normal(0, 1, (5,)).astype(np.float32))
    arrays[f"wg{i}"] = mx.array(rng.normal(0, 1, (4, 2, 3)).astype(np.float32))

optimizers = {
    "sgd_momentum": optim.SGD(0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    "rmsprop": optim.RMSprop(0.01, alpha=0.9),
    "adagrad": optim.Adagrad(0.1),
    "adadelta": optim.AdaDelta(1.0, rho=0.8),
    "adam": optim.Adam(0.01),
    "adam_corrected": optim.Adam(0.01, bias_correction=True),
    "adamw": optim.AdamW(0.01, weight_decay=0.1),
    "adamax": optim.Adamax(0.02),
    "lion": optim.Lion(0.01, weight_decay=0.1),
    "adamw_cosine": optim.AdamW(optim.cosine_decay(0.05, 4, 0.001)),
    "sgd_warmup": optim.SGD(optim.join_schedules(
        [optim.linear_schedule(0.0, 0.1, 2), optim.exponential_decay(0.1, 0.5)], [2])),
}
for name, opt in optimizers.items():
    params = {"p": arrays["p0"]}
    for i in (1, 2, 3):
        params = opt.apply_gradients({"p": arrays[f"g{i}"]}, params)
    arrays[f"{name}.p3"] = params["p"]

# Optimizers of all three parameters at once: p (3, 4), v (5,), w (4, 2, 3).
several = {
    "adafactor": optim.Adafactor(),
    "adafactor_options": optim.Adafactor(
        0.01, relative_step=False, beta_1=0.9, weight_decay=0.1, clip_threshold=0.5),
    "adafactor_warmup": optim.Adafactor(warmup_init=True, scale_parameter=False),
    "muon": optim.Muon(0.02),
    "muon_plain": optim.Muon(0.02, momentum=0.9, weight_decay=0.0, nesterov=False, ns_steps=3),
    "multi": optim.MultiOptimizer(
        [optim.Muon(0.02), optim.AdamW(0.01)], [lambda name, g: g.ndim >= 2]),
}
for name, opt in several.items():
    params = {"p": arrays["p0"], "v": arrays["v0"], "w": arrays["w0"]}
    for i in (1, 2, 3):
        grads = {"p": arrays[f"g{i}"], "v": arrays[f"vg{i}"], "w": arrays[f"wg{i}"]}
        params = opt.apply_gradients(grads, params)
    for key in ("p", "v", "w"):
        arrays[f"{name}.{key}3"] = params[key]

(clipped, norm) = optim.clip_grad_norm({"a": arrays["g1"], "b": arrays["g2"]}, 2.0)
arrays["clip.a"], arrays["clip.b"], arrays["clip.norm"] = clipped["a"], clipped["b"], norm

steps = mx.arange(30)
schedules = {
    "exponential_decay": optim.exponential_decay(0.1, 0.9),
    "step_decay": optim.step_decay(0.1, 0.5, 7),
    "cosine_decay": optim.cosine_decay(0.1, 20, 0.01),
    "linear_schedule": optim.linear_schedule(0.0, 0.1, 10),
    "join_schedules": optim.join_schedules(
        [optim.linear_schedule(0.0, 0.1, 5), optim.cosine_decay(0.1, 10), optim.step_decay(0.05, 0.5, 3)],
        [5, 15]),
}
for name, schedule in schedules.items():
    arrays[f"schedule.{name}"] = mx.array([schedule(mx.array(s)).item() for s in range(30)])

mx.save_safetensors("client/testdata/optimizers_mlx.safetensors", arrays)
print(len(arrays), "arrays")
