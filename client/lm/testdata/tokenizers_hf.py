# Writes the fixtures of client/lm/tokenizer_test.cc: five small tokenizer.json files laid out as
# the LLM families ship them (tiny BPE models trained here on the text below), and
# tokenizers_cases.json, what Hugging Face's `tokenizers` (0.23.3) encodes and decodes with each.
#
# Rerun from the repository root (a venv with `pip install tokenizers==0.23.3`):
#   /tmp/mlxenv/bin/python client/lm/testdata/tokenizers_hf.py
import json
import os

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

OUT = os.path.dirname(os.path.abspath(__file__))

CORPUS = [
    "The quick brown fox jumps over the lazy dog. I can't believe it's already 12345 o'clock!",
    "They'll say we're late, but I'd rather be late than never. You've seen it; I'm sure.",
    "In 2024 the team shipped 3 releases, 17 fixes and 256 tests; the total was 98765 lines.",
    "def tokenize(text):\n\tfor word in text.split():\n\t\tyield word.lower()  # lower case\n",
    "if (x > 0) {\n    return x * 2;\n} else {\n    return -x;\n}\n",
    "Café au lait, naïve façade, résumé, jalapeño, über straße, crème brûlée à la carte.",
    "東京は日本の首都です。我爱自然语言处理。今日はいい天気ですね。",
    "Emoji are fun 😀 and rockets 🚀 fly high; hearts ❤️ too.",
    "Numbers: 3.14159, 2.71828, 1,000,000 and 42 are common in text and tables.",
    "the the the and and of of to to in in is is it it that that with with for for",
    "Hello world! Hello there, hello again. HELLO? hello...",
]

LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def added(id, content, special=True, lstrip=False, rstrip=False, single_word=False):
    return {"id": id, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": not special, "special": special}


def template(bos, bos_id):
    special = {"SpecialToken": {"id": bos, "type_id": 0}}
    return {
        "type": "TemplateProcessing",
        "single": [special, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [special, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def byte_level(add_prefix_space=False, trim_offsets=True, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space,
            "trim_offsets": trim_offsets, "use_regex": use_regex}


def split(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def bpe_model(vocab, merges, pair_merges, **options):
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
             "ignore_merges": False}
    model.update(options)
    model["vocab"] = vocab
    model["merges"] = [list(m) for m in merges] if pair_merges else [" ".join(m) for m in merges]
    return model


def train(pre_tokenizer, vocab_size, corpus=CORPUS, **trainer_options):
    """A BPE vocabulary and merge list learnt from corpus under pre_tokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                        **trainer_options))
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def tokenizer_json(added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
            "post_processor": post_processor, "decoder": decoder, "model": model}


def byte_level_tokenizers():
    vocab, merges = train(
        pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), "isolated"),
                                 pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                          use_regex=False)]),
        420, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # A word merges cannot reach: with ignore_merges (Llama 3) " zyzzyva" is this one token.
    llama3_vocab = {**vocab, "Ġzyzzyva": len(vocab)}
    n = len(llama3_vocab)
    llama3 = tokenizer_json(
        [added(n, "<|begin_of_text|>"), added(n + 1, "<|end_of_text|>"),
         added(n + 2, "<|reserved_special_token_0|>"), added(n + 3, "<|start_header_id|>"),
         added(n + 4, "<|end_header_id|>"), added(n + 5, "<|eot_id|>")],
        None,
        {"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level()]},
        {"type": "Sequence", "processors": [
            byte_level(add_prefix_space=True, trim_offsets=False, use_regex=True),
            template("<|begin_of_text|>", n)]},
        byte_level(add_prefix_space=True, use_regex=True),
        bpe_model(llama3_vocab, merges, pair_merges=False, ignore_merges=True))
    n = len(vocab)
    qwen2 = tokenizer_json(
        [added(n, "<|endoftext|>"), added(n + 1, "<|im_start|>"), added(n + 2, "<|im_end|>"),
         added(n + 3, "<tool_call>", special=False) | {"normalized": False}],
        {"type": "NFC"},
        {"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(trim_offsets=False)]},
        byte_level(trim_offsets=False),
        byte_level(trim_offsets=False),
        bpe_model(vocab, merges, pair_merges=True, continuing_subword_prefix="",
                  end_of_word_suffix=""))
    # GPT-2 with RoBERTa's <mask> (lstrip) and a single-word added token.
    gpt2 = tokenizer_json(
        [added(n, "<|endoftext|>"), added(n + 1, "<mask>", lstrip=True),
         added(n + 2, "wordy", special=False, single_word=True),
         added(n + 3, "<pad>", rstrip=True)],
        None,
        byte_level(use_regex=True),
        byte_level(trim_offsets=True, use_regex=True),
        byte_level(use_regex=True),
        bpe_model(vocab, merges, pair_merges=False))
    # DeepSeek LLM's layout (its letter and punctuation classes abridged): several Splits,
    # Digits, then ByteLevel.
    deepseek = tokenizer_json(
        [added(n, "<｜begin▁of▁sentence｜>"), added(n + 1, "<｜end▁of▁sentence｜>")],
        None,
        {"type": "Sequence", "pretokenizers": [
            split(r"[\r\n]"), split(r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵ]+"),
            split(r"\s?[!-/:-~！-／：-～‘-‟　-。]+"), split(r"\s+$"), split(r"[一-龥ࠀ-一가-퟿]+"),
            {"type": "Digits", "individual_digits": True}, byte_level()]},
        template("<｜begin▁of▁sentence｜>", n),
        byte_level(),
        bpe_model(vocab, merges, pair_merges=False))
    # Every Split behavior, invert, Strip and a regex Replace, on the same vocabulary.
    behaviors = tokenizer_json(
        [],
        {"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": "\t+"}, "content": " "}]},
        {"type": "Sequence", "pretokenizers": [
            split(r"[,;]") | {"behavior": "Removed"},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious",
             "invert": False},
            split(r"\s+") | {"behavior": "MergedWithNext"},
            split(r"[0-9]") | {"behavior": "Contiguous"},
            split(r"[A-Z]+") | {"invert": True},
            {"type": "Digits", "individual_digits": False}, byte_level()]},
        None, byte_level(), bpe_model(vocab, merges, pair_merges=True))
    return {"llama3": llama3, "qwen2": qwen2, "gpt2": gpt2, "deepseek": deepseek,
            "behaviors": behaviors}


def sentencepiece_tokenizers():
    # Trained on Latin text only, so CJK, emoji and the rest fall back to <0x..> byte tokens.
    vocab, merges = train(
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True), 260,
        corpus=["".join(c for c in line if ord(c) < 0x250) for line in CORPUS])
    specials = ["<unk>", "<s>", "</s>"]
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [t for t, _ in sorted(vocab.items(), key=lambda item: item[1]) if t not in tokens]
    vocab = {t: i for i, t in enumerate(tokens)}
    added_tokens = [added(i, t) for i, t in enumerate(specials)]
    sentencepiece_decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    model = dict(unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    llama2 = tokenizer_json(
        added_tokens,
        {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        None, template("<s>", 1), sentencepiece_decoder,
        bpe_model(vocab, merges, pair_merges=False, **model))
    metaspace = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                 "split": False}
    # transformers' LlamaConverter with legacy=False (Mistral v0.3 and later Llama-2 conversions),
    # here with the Metaspace decoder some conversions carry instead of Replace/Strip.
    mistral = tokenizer_json(
        added_tokens + [added(len(vocab), "[INST]"), added(len(vocab) + 1, "[/INST]")],
        None, metaspace, template("<s>", 1),
        {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, metaspace, {"type": "Fuse"}]},
        bpe_model(vocab, merges, pair_merges=True, **model))
    return {"llama2": llama2, "mistral": mistral}


COMMON_TEXTS = [
    "",
    " ",
    "Hello world",
    "hello",
    " leading space",
    "trailing space ",
    "multiple   spaces  and\ttabs\t\there",
    "\n\n",
    "line one\nline two\n\n   indented\r\n",
    "I can't believe it's 12345 o'clock, they'll say. DON'T WE'LL",
    "1234567890 and 3.14159",
    "def f(x):\n\treturn x * 2  # double\n",
    "Café au lait, naïve façade, résumé",
    "東京は日本の首都です。我爱自然语言处理。",
    "Rare: Ωμέγα Привет ∑ ∂ ☃ ß",
    "emoji 😀🚀 👍🏽 family 👨‍👩‍👧 flag 🇯🇵",
    "Decomposed: Cafe\u0301 e\u0301te\u0301, Ohm \u2126 Angstrom \u212b, ga \u1100\u1161, "
    "ar \u0628\u0651\u064e",
    " ".join(CORPUS[:2]),
]

FAMILY_TEXTS = {
    "llama3": [
        "<|begin_of_text|>Hi<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "not special: <|begin_of_text <|eot_id|x",
        "a zyzzyva, zyzzyvas",
    ],
    "qwen2": [
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\n",
        "<tool_call>{\"name\": \"f\"}</tool_call><|endoftext|>",
    ],
    "gpt2": [
        "Hello <|endoftext|> world",
        "The capital is    <mask>.",
        "a wordy text, wordy! unwordy wordyish _wordy",
        "pad <pad>   after",
    ],
    "deepseek": [
        "<｜begin▁of▁sentence｜>User: 1+1=?\n\nAssistant:",
        "tail spaces   \nnext line   ",
        "东京 and 한국어 mixed with ‘quotes’ and ！",
    ],
    "behaviors": [
        "  a,b;c-d-e  f  12ab34 CAPS and lower-case-words;\t\tTabbed 2024-01-02  ",
        "--x--,,y;;  ",
    ],
    "llama2": [
        "<s>Hello</s> world",
        "<unk> stays <unk>",
        " <s> spaced </s> ",
    ],
    "mistral": [
        "[INST] What is 2+2? [/INST] It is 4.</s>",
        "<s>[INST]Hi[/INST]",
        "  two leading spaces",
    ],
}


def cases(tok, texts):
    """Per text: its ids without and with special tokens, and the decoding of the latter without
    and with skip_special_tokens; a second value equal to the first is left out."""
    out = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        case = {"text": text, "ids": ids}
        with_special = tok.encode(text, add_special_tokens=True).ids
        if with_special != ids:
            case["ids_with_special"] = with_special
        case["decoded"] = tok.decode(with_special, skip_special_tokens=False)
        skipped = tok.decode(with_special, skip_special_tokens=True)
        if skipped != case["decoded"]:
            case["decoded_skip_special"] = skipped
        out.append(case)
    return out


def main():
    families = {**byte_level_tokenizers(), **sentencepiece_tokenizers()}
    all_cases = {}
    for name, config in families.items():
        text = json.dumps(config, ensure_ascii=False)
        with open(os.path.join(OUT, f"tokenizer_{name}.json"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        tok = Tokenizer.from_str(text)
        all_cases[name] = {
            "vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "cases": cases(tok, COMMON_TEXTS + FAMILY_TEXTS[name]),
        }
    with open(os.path.join(OUT, "tokenizers_cases.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        for i, (name, value) in enumerate(all_cases.items()):
            f.write(f' "{name}": {{"vocab_size": {value["vocab_size"]}, "cases": [\n')
            lines = [json.dumps(c, ensure_ascii=False) for c in value["cases"]]
            f.write(",\n".join(lines))
            f.write("\n ]}" + (",\n" if i + 1 < len(all_cases) else "\n"))
        f.write("}\n")


if __name__ == "__main__":
    main()
