"""Writes tool_parsers_mlx.json: mlx-lm's own tool parsers on tool-call texts, for
tool_calls_test.cc to check ferry's parsers against.

Each case is a parser (mlx-lm's tool_parser_type), the text between a call's markers and the
request's tools; the result is what mlx_lm.server's ToolCallFormatter makes of it: the calls'
"function" objects (arguments as json.dumps writes them) and the model's "id", if any, or
"error" where the parser raises (mlx_lm.server logs and drops the call; an exception it does
not catch is recorded as "crash", where ferry drops the call too).

    /tmp/mlxenv/bin/python client/lm/server/testdata/tool_parsers_mlx.py
"""

import importlib
import json
import pathlib

import mlx_lm

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "temp": {"type": "number"},
                    "metric": {"type": "boolean"},
                    "tags": {"type": "array"},
                    "opts": {"type": "object"},
                    "notype": {"description": "no type"},
                    "weird": {"type": "tuple"},
                },
            },
        },
    }
]

CASES = [
    # json_tools: Hermes, Qwen2.5, Qwen3.
    ("json_tools", '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}', None),
    ("json_tools", '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n', None),
    ("json_tools", '[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]', None),
    ("json_tools", '{"name": "say", "arguments": {"text": "h\\u00e9llo \\u4e16 \\"q\\" \\\\ \\n\\t\\u0001"}}', None),
    ("json_tools", '{"name": "say", "arguments": {"text": "héllo 世界"}}', None),
    ("json_tools", '{"name": "f", "arguments": {"x": 1.0, "y": 1e-7, "z": 0.1, "w": 1e16, "v": 123456.789, "u": -2.5e-300, "t": 1e22, "s": 100.0, "r": 0.0001}}', None),
    ("json_tools", '{"name": "f", "arguments": {"a": [1, [2, {"b": null}]], "c": true, "d": false, "e": {}}}', None),
    ("json_tools", '{"name": "f", "arguments": {"a": 1}, "id": "call_7"}', None),
    ("json_tools", '{"arguments": {"a": 1}, "name": "f"}', None),
    ("json_tools", '{"name": "f", "arguments": "{\\"a\\": 1}"}', None),
    ("json_tools", '{"name": "f", "arguments": {}, "extra": [1]}', None),
    ("json_tools", '{"name": "f", "arguments": {"a": ', None),
    ("json_tools", "not json", None),
    ("json_tools", "", None),
    ("json_tools", '{"name": "f"}', None),
    ("json_tools", '[1, 2]', None),
    # qwen3_coder: XML, typed by the tool's schema.
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "<function=get_weather><parameter=city>New York</parameter></function>", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=days>\n3.5\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=days>\n1_000\n</parameter>\n<parameter=temp>\n21.5\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=temp>\n20\n</parameter>\n<parameter=metric>\nTrue\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=temp>\n2e3\n</parameter>\n<parameter=metric>\nno\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", '\n<function=get_weather>\n<parameter=tags>\n["a", "b"]\n</parameter>\n<parameter=opts>\n{"k": 1}\n</parameter>\n</function>\n', WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=tags>\n['a', 'b']\n</parameter>\n<parameter=opts>\n{'k': None}\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", '\n<function=get_weather>\n<parameter=notype>\n{"a": 1}\n</parameter>\n<parameter=city>\nnull\n</parameter>\n</function>\n', WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=notype>\nplain\n</parameter>\n<parameter=weird>\n(1, 2)\n</parameter>\n<parameter=other>\n42\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=weird>\nabc\n</parameter>\n<parameter=days>\nmany\n</parameter>\n</function>\n", WEATHER),
    ("qwen3_coder", "\n<function=write>\n<parameter=text>\nline one\nline two\n\n</parameter>\n</function>\n", None),
    ("qwen3_coder", "\n<function=write>\n<parameter=n>\n3\n</parameter>\n</function>\n", None),
    ("qwen3_coder", "\n<function=get_weather>\n<parameter=city>\nPar", WEATHER),
    ("qwen3_coder", "\n<function=get_weather>\n</function>\n\n", WEATHER),
    ("qwen3_coder", "no function here", WEATHER),
    ("qwen3_coder", "\n<function=>\n</function>", WEATHER),
    # mistral: [TOOL_CALLS] to the end of the reply.
    ("mistral", '[{"name": "get_weather", "arguments": {"city": "Paris"}}]', None),
    ("mistral", ' [{"name": "a", "arguments": {"x": 1}, "id": "abc123def"}, {"name": "b", "arguments": "{\\"y\\": 2}"}]', None),
    ("mistral", '[{"name": "a"}]', None),
    ("mistral", '[{"name": "a", "arguments": "not json"}]', None),
    ("mistral", '[1, 2]', None),
    ("mistral", '[]', None),
    ("mistral", 'get_weather[ARGS]{"city": "Paris"}', None),
    ("mistral", 'a[ARGS]{"x": 1}b-c [ARGS] {"y": [1, "]}"]}', None),
    ("mistral", 'get_weather[ARGS]{"city": "Par', None),
    ("mistral", 'get_weather[ARGS]', None),
    ("mistral", 'hello', None),
    # pythonic: LFM2's <|tool_call_start|>[f(a=1)]<|tool_call_end|>.
    ("pythonic", '[get_weather(city="Paris", days=3)]', None),
    ("pythonic", '[a(x=1), b.c(y=[1, 2], z={"k": true, "n": null})]', None),
    ("pythonic", "[f(s='a' 'b', t=\"\\n\\u00e9\", u=(1, 2), v=-2, w=1.5e3, x=True, y=None)]", None),
    ("pythonic", "[f(x=foo)]", None),
    ("pythonic", "[f(1)]", None),
    ("pythonic", '[f(x="a, b", y=2)]', None),
    ("pythonic", "[f()]", None),
    ("pythonic", "[f(x='unterminated)]", None),
    ("pythonic", "Sure: [f(a=1)] done", None),
    ("pythonic", "[f(a=1, b='two', c=3.0)", None),
    ("pythonic", "[f(a= 1 , b=x y)]", None),
    ("pythonic", "junk", None),
    ("pythonic", "[]", None),
]


def run(parser, text, tools):
    module = importlib.import_module(f"mlx_lm.tool_parsers.{parser}")
    case = {"parser": parser, "text": text, "tools": tools}
    try:
        parsed = module.parse_tool_call(text, tools)
        if not isinstance(parsed, list):
            parsed = [parsed]
        calls = []
        for tc in parsed:
            tc_id = tc.pop("id", None)
            tc["arguments"] = json.dumps(tc["arguments"], ensure_ascii=False)
            calls.append({"function": tc, "id": tc_id})
        case["calls"] = calls
    except (ValueError, json.JSONDecodeError) as e:
        case["error"] = f"{type(e).__name__}: {e}"
    except Exception as e:  # mlx_lm.server would fail on it
        case["crash"] = f"{type(e).__name__}: {e}"
    return case


def main():
    out = {
        "mlx_lm_version": mlx_lm.__version__,
        "cases": [run(*case) for case in CASES],
    }
    path = pathlib.Path(__file__).with_name("tool_parsers_mlx.json")
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(out['cases'])} cases to {path}")


if __name__ == "__main__":
    main()
