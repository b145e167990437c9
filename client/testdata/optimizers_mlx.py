#!/usr/bin/env python3
"""Writes optimizers_mlx.safetensors: MLX's optimizers, schedules and clip_grad_norm, for
client/optimizers_mlx_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/testdata/optimizers_mlx.py

p0 (float32 (3, 4)) and the gradients g1, g2, g3 of three steps; "<optimizer>.p3" is p0
after the three updates (the learning rate a schedule where the name says so);
clip.* what clip_grad_norm gives of g1 and g2; schedule.* a schedule at steps 0..29.
"""
import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(20261207)
arrays = {"p0": mx.array(rng.normal(0, 1, (3, 4)).astype(np.float32))}
for i in (1, 2, 3):
    arrays[f"g{i}"] = mx.array(rng.normal(0, 1, (3, 4)).astype(np.float32))

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
