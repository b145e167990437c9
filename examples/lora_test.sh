#!/bin/sh
# Runs the LoRA example briefly: it starts its own ferryd, fine-tunes ferry-tiny-llama's last
# block on examples/lora_data, and exits non-zero unless the training loss fell and the saved
# adapters, loaded into a fresh model, give the trained model's validation loss. Then
# examples/generate loads the adapters (--adapter_path) and completes the training prompt
# as the adapted model learned to, the same on ferryd and on the local device. Last, a short
# DoRA run (--fine_tune_type=dora) saves "dora" adapters that reload.
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
grep -q "the local device generated the same 8 tokens: yes" "$out"
# DoRA (--fine_tune_type=dora): trained, saved as mlx-lm's "dora" adapters, and reloaded.
dora="${TEST_TMPDIR:-/tmp}/dora_adapters"
"$1" --fine_tune_type=dora --iters=20 --batch_size=4 --learning_rate=2e-3 --num_layers=1 \
  --rank=8 --steps_per_report=10 --steps_per_eval=20 --adapter_path="$dora" >"$out" 2>&1 ||
  { cat "$out"; exit 1; }
cat "$out"
grep -q "the saved adapters reload: .*: yes" "$out"
grep -q '"fine_tune_type": "dora"' "$dora/adapter_config.json"
