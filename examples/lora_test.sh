#!/bin/sh
# Runs the LoRA example briefly: it starts its own ferryd, fine-tunes ferry-tiny-llama's last
# block on examples/lora_data, and exits non-zero unless the training loss fell and the saved
# adapters, loaded into a fresh model, give the trained model's validation loss. Then
# examples/generate loads the adapters (--adapter_path) and completes the training prompt
# as the adapted model learned to, the same on ferryd and on the local device, and so does
# the model examples/fuse saves with the adapters merged in. Last, a short
# DoRA run (--fine_tune_type=dora) saves "dora" adapters that reload, and a full fine-tuning
# run set up by an mlx_lm.lora YAML file (AdamW, a warmup and a cosine schedule) saves the
# last block's weights, which reload.
set -eu
out="${TEST_TMPDIR:-/tmp}/lora.out"
adapters="${TEST_TMPDIR:-/tmp}/lora_adapters"
"$1" --iters=40 --batch_size=4 --learning_rate=2e-3 --num_layers=1 --rank=8 \
  --steps_per_report=10 --steps_per_eval=20 --adapter_path="$adapters" >"$out" 2>&1 ||
  { cat "$out"; exit 1; }
cat "$out"
grep -q "the training loss fell: yes" "$out"
grep -q "the saved adapters reload: .*: yes" "$out"
grep -q '"fine_tune_type": "lora"' "$adapters/adapter_config.json"
# One Execute a training step (the validations add theirs).
grep -q "Execute for 40 steps" "$out"
"$2" --adapter_path="$adapters" --max_tokens=8 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "fine-tune" "$out"
adapted_reply=$(grep "fine-tune" "$out")
# mlx_lm.fuse (examples/fuse): the adapters merged into the weights and the model saved; it
# replies as the adapted model did.
fused="${TEST_TMPDIR:-/tmp}/fused_model"
rm -rf "$fused"
"$3" --model=examples/models/ferry-tiny-llama --adapter_path="$adapters" --save_path="$fused" \
  >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
"$2" --model="$fused" --max_tokens=8 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
[ "$(grep "fine-tune" "$out")" = "$adapted_reply" ]
grep -q "the local device generated the same 8 tokens: yes" "$out"
# DoRA (--fine_tune_type=dora): trained, saved as mlx-lm's "dora" adapters, and reloaded.
dora="${TEST_TMPDIR:-/tmp}/dora_adapters"
"$1" --fine_tune_type=dora --iters=20 --batch_size=4 --learning_rate=2e-3 --num_layers=1 \
  --rank=8 --steps_per_report=10 --steps_per_eval=20 --adapter_path="$dora" >"$out" 2>&1 ||
  { cat "$out"; exit 1; }
cat "$out"
grep -q "the saved adapters reload: .*: yes" "$out"
grep -q '"fine_tune_type": "dora"' "$dora/adapter_config.json"
# Full fine-tuning from an mlx_lm.lora configuration file; the command line's --iters wins.
config="${TEST_TMPDIR:-/tmp}/full.yaml"
full="${TEST_TMPDIR:-/tmp}/full_adapters"
cat >"$config" <<EOF
fine_tune_type: full
num_layers: 1
optimizer: adamw
optimizer_config:
  adamw: {weight_decay: 0.01}
iters: 1000
batch_size: 4
steps_per_report: 5
steps_per_eval: 20
adapter_path: "$full"
lr_schedule:
  name: cosine_decay
  warmup: 4
  warmup_init: 1e-5
  arguments: [1e-3, 20, 1e-5]
EOF
"$1" --config="$config" --iters=20 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "full of 1 layers with adamw" "$out"
grep -q "Iter 5: Train loss .*, Learning Rate 1.000e-03" "$out"  # the warmup's end
grep -q "the training loss fell: yes" "$out"
grep -q "the saved adapters reload: .*: yes" "$out"
grep -q '"fine_tune_type": "full"' "$full/adapter_config.json"
