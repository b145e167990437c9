#!/bin/sh
# Runs the conversion example as mlx_lm.convert runs: ferry-tiny-llama quantized to 4 bits
# (groups of 32) and with the mixed_3_6 recipe; each saved model loads in examples/generate,
# which recites the README's first words on ferryd and the local device alike; the 4-bit
# model dequantized back to float loads too. An existing destination is refused. The float
# model and the 4-bit one have their perplexities measured (examples/perplexity).
set -eu
convert="$1"
generate="$2"
tmp="${TEST_TMPDIR:-/tmp}"
out="$tmp/convert.out"
rm -rf "$tmp/q4" "$tmp/mixed" "$tmp/dequantized"
"$convert" --hf_path=examples/models/ferry-tiny-llama --mlx_path="$tmp/q4" --q \
  --q_group_size=32 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q '"bits":4,"group_size":32,"mode":"affine"' "$out"
"$convert" --hf_path=examples/models/ferry-tiny-llama --mlx_path="$tmp/mixed" --q \
  --q_group_size=32 --quant_predicate=mixed_3_6 >"$out" 2>&1 || { cat "$out"; exit 1; }
grep -q '"model.layers.1.mlp.down_proj":{"bits":6' "$out"
"$convert" --hf_path="$tmp/q4" --mlx_path="$tmp/dequantized" --d >"$out" 2>&1 ||
  { cat "$out"; exit 1; }
grep -q "saved to $tmp/dequantized\$" "$out"
for model in q4 mixed dequantized; do
  "$generate" --model="$tmp/$model" --max_tokens=8 >"$out" 2>&1 || { cat "$out"; exit 1; }
  cat "$out"
  grep -q "the local device generated the same 8 tokens: yes" "$out"
done
# A destination that exists is left alone.
if "$convert" --hf_path=examples/models/ferry-tiny-llama --mlx_path="$tmp/q4" >"$out" 2>&1; then
  echo "converted over an existing directory"; exit 1
fi
grep -q "as it already exists" "$out"
# mlx_lm.perplexity (examples/perplexity): the float model and its 4-bit conversion measured
# on the LoRA example's training text.
for model in examples/models/ferry-tiny-llama "$tmp/q4"; do
  "$3" --model="$model" --data=examples/lora_data/train.jsonl --sequence_length=64 \
    --num_samples=-1 --batch_size=2 >"$out" 2>&1 || { cat "$out"; exit 1; }
  cat "$out"
  grep -Eq "^Perplexity: [0-9]+\.[0-9]+ ± [0-9]+\.[0-9]+$" "$out"
done
