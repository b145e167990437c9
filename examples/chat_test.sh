#!/bin/sh
# Runs the chat example on ferry-tiny-llama with a chat template beside it: three turns
# through the template, each turn's prompt the whole conversation, of which all but the new
# message comes from the cache kept on the daemon; "r" starts afresh.
set -eu
model="${TEST_TMPDIR:-/tmp}/tiny-llama-chat"
mkdir -p "$model"
cp "$2"/* "$model"/
printf '%s' '{% for m in messages %}{{ m.role }}: {{ m.content }}
{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}' >"$model/chat_template.jinja"
out="${TEST_TMPDIR:-/tmp}/chat.out"
printf 'ferry lets a C++ program\nand then\nr\nferry lets\nq\n' |
  "$1" --model="$model" --max_tokens=12 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "ferry chat: $model on remote" "$out"
# The first turn and the one after the reset start from an empty cache.
test "$(grep -c 'tokens, 0 from the cache; reply 12 tokens' "$out")" = 2
# The second turn's prompt repeats the first turn: only the new message is prefilled.
grep -Eq "prompt [0-9]+ tokens, [1-9][0-9]* from the cache; reply 12 tokens" "$out"
