// The Jinja2 interpreter as a specification: each expectation is what jinja2 3.1.6 renders in
// transformers' chat-template environment (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loopcontrols, json.dumps tojson), checked with Python when written.

#include <string>

#include "client/error.h"
#include "client/lm/jinja/template.h"
#include "gtest/gtest.h"

namespace ferry::lm::jinja {
namespace {

std::string Render(const std::string& source, const std::string& variables = "{}") {
  return Template(source).render(nlohmann::ordered_json::parse(variables));
}

// The message of the ferry::Error that parsing or rendering throws ("" if none).
std::string ErrorOf(const std::string& source, const std::string& variables = "{}") {
  try {
    Render(source, variables);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(Jinja, Whitespace) {
  EXPECT_EQ(Render(R"(  {% if true %}
  yes
  {% endif %}
end)"),
            R"(  yes
end)");
  EXPECT_EQ(Render(R"(a  {%- if true -%}  b  {%- endif -%}  c)"), R"(abc)");
  EXPECT_EQ(Render(R"(a
  {{- 'x' -}}
  b)"),
            R"(axb)");
  EXPECT_EQ(Render(R"({# comment #}
x {#- trim -#} y)"),
            R"(xy)");
  EXPECT_EQ(Render(R"(  {%+ if true %}kept{% endif %})"), R"(  kept)");
  EXPECT_EQ(Render(R"(line
)"),
            R"(line)");
}

TEST(Jinja, LiteralsPrintAsPython) {
  EXPECT_EQ(Render(R"({{ 'a\tb\n' }}|{{ "it's" }}|{{ 'caf\u00e9' }})"), "a\tb\n|it's|café");
  EXPECT_EQ(
      Render(
          R"({{ 42 }} {{ -7 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 10 / 4 }} {{ 2 ** 10 }})"),
      R"(42 -7 1.0 0.30000000000000004 1e+20 1.5e-07 2.5 1024)");
  EXPECT_EQ(Render(R"({{ true }} {{ False }} {{ none }} {{ None }})"), R"(True False None None)");
  EXPECT_EQ(
      Render(
          R"({{ [1, 'a', none, true, 2.5] }} {{ (1,) }} {{ {'k': [1, {'n': none}]} }} {{ ["it's"] }})"),
      R"([1, 'a', None, True, 2.5] (1,) {'k': [1, {'n': None}]} ["it's"])");
  EXPECT_EQ(
      Render(
          R"({{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }})"),
      R"(3 -4 2 1.5 abab [1, 2] 1xNone)");
}

TEST(Jinja, AttributeItemAndSlice) {
  EXPECT_EQ(
      Render(
          R"({{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ xs[0] }} {{ xs[-1] }} {{ xs[5] }}|)",
          R"({"m": {"role": "user", "content": "hi"}, "xs": [1, 2, 3]})"),
      R"(user hi |1 3 |)");
  EXPECT_EQ(
      Render(R"({{ s[1:] }} {{ s[::-1] }} {{ xs[:-1] }} {{ xs[::2] }} {{ s[0] }} {{ s|length }})",
             R"({"s": "héllo", "xs": [1, 2, 3, 4]})"),
      R"(éllo olléh [1, 2, 3] [1, 3] h 5)");
}

TEST(Jinja, ComparisonsAndLogic) {
  EXPECT_EQ(
      Render(
          R"({{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 2 not in [1] }} {{ 'k' in d }} {{ none or 'x' }} {{ 0 and 1 }} {{ not [] }})",
          R"({"d": {"k": 1}})"),
      R"(True True True True True x 0 True)");
  EXPECT_EQ(
      Render(R"({{ 'yes' if x else 'no' }} {{ 'yes' if y else 'no' }})", R"({"x": [1], "y": ""})"),
      R"(yes no)");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(
      Render(
          R"({{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 's' is string }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.5 is float }})",
          R"({"x": 1})"),
      R"(True True True True True True True False True)");
  EXPECT_EQ(
      Render(
          R"({{ {} is mapping }} {{ [] is sequence }} {{ 's' is iterable }} {{ true is boolean }} {{ false is false }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 'a' is equalto 'a' }} {{ 1 is not none }})"),
      R"(True True True True True True True True False True True)");
}

TEST(Jinja, ForLoops) {
  EXPECT_EQ(
      Render(
          R"({% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}-{% endfor %})",
          R"({"xs": "ab"})"),
      R"(10TrueFalse22-21FalseTrue21-)");
  EXPECT_EQ(
      Render(R"({% for x in xs %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }};{% endfor %})",
             R"({"xs": [1, 2, 3]})"),
      R"(>1>2;1>2>3;2>3>;)");
  EXPECT_EQ(
      Render(
          R"({% for x in xs if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}|{% for x in [] %}{% else %}empty{% endfor %})",
          R"({"xs": [1, 2, 3]})"),
      R"(2:1/2 3:2/2 |empty)");
  EXPECT_EQ(
      Render(
          R"({% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for k in d %}{{ k }}{% endfor %})",
          R"({"d": {"b": 1, "a": 2}})"),
      R"(b=1,a=2,ba)");
  EXPECT_EQ(
      Render(
          R"({% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %})",
          R"({"xs": [1, 2, 3, 4, 5]})"),
      R"(13)");
  EXPECT_EQ(
      Render(
          R"({% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }}{% endfor %})"),
      R"(1a2b11a2b2)");
}

TEST(Jinja, SetScopesAndNamespace) {
  EXPECT_EQ(
      Render(
          R"({% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }})"),
      R"(231)");
  EXPECT_EQ(
      Render(
          R"({% set ns = namespace(total=0) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }})"),
      R"(6)");
  EXPECT_EQ(
      Render(
          R"({% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t = 1, 2 %}{{ t }}{% set block %}x{{ a }}y{% endset %}[{{ block }}])"),
      R"(21(1, 2)[x1y])");
  EXPECT_EQ(Render(R"({% if true %}{% set leaked = 'yes' %}{% endif %}{{ leaked }})"), R"(yes)");
}

TEST(Jinja, MacrosCallAndFilterBlocks) {
  EXPECT_EQ(
      Render(
          R"({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }})"),
      R"(Hi Ann! Hi Bob?)");
  EXPECT_EQ(
      Render(
          R"({% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }})"),
      R"(120)");
  EXPECT_EQ(
      Render(
          R"({% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}inside{% endcall %})"),
      R"([inside])");
  EXPECT_EQ(Render(R"({% filter upper %}shout {{ 'this' }}{% endfilter %})"), R"(SHOUT THIS)");
}

TEST(Jinja, Filters) {
  EXPECT_EQ(
      Render(
          R"({{ '  x  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a' | upper }}{{ 'B' | lower }})"),
      R"(x|hi|Hello World|Hello|Ab)");
  EXPECT_EQ(
      Render(
          R"({{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é"' | tojson }}|{{ [] | tojson(indent=2) }})",
          R"({"d": {"b": [1, 2.5, null, true], "a": {}}})"),
      R"({"b": [1, 2.5, null, true], "a": {}}|{
  "b": [
    1,
    2.5,
    null,
    true
  ],
  "a": {}
}|"é\""|[])");
  EXPECT_EQ(
      Render(
          R"({{ x | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | d('n') }})"),
      R"(d  d None)");
  EXPECT_EQ(
      Render(
          R"({{ xs | join(', ') }} {{ xs | first }} {{ xs | last }} {{ xs | length }} {{ xs | reverse | list }} {{ 'abc' | reverse }})",
          R"({"xs": ["a", "b", "c"]})"),
      R"(a, b, c a c 3 ['c', 'b', 'a'] cba)");
  EXPECT_EQ(
      Render(
          R"({{ '3' | int + 1 }} {{ '3.9' | int }} {{ 'x' | int(7) }} {{ 2 | float }} {{ -3 | abs }} {{ 2.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }})"),
      R"(4 3 7 2.0 3 2.0 2.67 3.0)");
  EXPECT_EQ(
      Render(
          R"({{ 'a-b-c' | replace('-', '+') }} {{ 1 | string ~ '!' }} {{ d | items | list }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ [1, 2, 1] | unique | list }})",
          R"({"d": {"k": "v"}})"),
      R"(a+b+c 1! [('k', 'v')] [1, 2, 3] ['A', 'a', 'b'] [1, 2])");
  EXPECT_EQ(
      Render(
          R"({{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ ms | rejectattr('role', 'equalto', 'user') | list | length }} {{ [0, 1, 2] | select | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ms | map(attribute='x', default='-') | join }})",
          R"({"ms": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}, {"role": "user", "content": "c"}]})"),
      R"(a,c 1 [1, 2] [2, 4] ---)");
  EXPECT_EQ(
      Render(
          R"({{ ['a', 'b'] | map('upper') | join }} {{ ms | selectattr('tool_calls', 'undefined') | list | length }} {{ [1, 2] | sum }} {{ 'x
y' | indent(2) }} {{ '<a>' | e }})",
          R"({"ms": [{"role": "user"}, {"tool_calls": []}]})"),
      R"(AB 1 3 x
  y &lt;a&gt;)");
}

TEST(Jinja, StrDictAndListMethods) {
  EXPECT_EQ(
      Render(
          R"({{ ' a b '.strip() }}|{{ 'xay'.strip('xy') }}|{{ '\nz'.lstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }})"),
      R"(a b|a|z|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c'])");
  EXPECT_EQ(
      Render(
          R"({{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'ab'.upper() }} {{ 'hi there'.title() }} {{ '{} and {}'.format(1, 'b') }} {{ 'abc'.find('c') }})"),
      R"(True True bba AB Hi There 1 and b 2)");
  EXPECT_EQ(
      Render(
          R"({{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ [1, 2, 2].count(2) }} {{ [1, 2].index(2) }})",
          R"({"d": {"a": 1, "b": 2}})"),
      R"(1 0 ['a', 'b'] [1, 2] [('a', 1), ('b', 2)] 2 1)");
  EXPECT_EQ(
      Render(
          R"({{ dict(a=1, b='x') }} {{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ namespace(a=1).a }})"),
      R"({'a': 1, 'b': 'x'} [0, 1, 2] [1, 3, 5] 1)");
  EXPECT_EQ(
      Render(R"({{ {'k': 1}.k }} {{ {'items': 1}['items'] }} {{ (1, 2)[1] }} {{ 'abc'[-1] }})"),
      R"(1 1 2 c)");
}
TEST(Jinja, MoreOfWhatTemplatesWrite) {
  EXPECT_EQ(Render(R"({% for x in [1,2,3] %}{{ loop.cycle("a", "b") }}{% endfor %})"), "aba");
  EXPECT_EQ(
      Render(
          R"({{ 2 is in [1, 2] }}{{ {"a": 1,}["a"] }}{{ "x" if false }}|{{ [1,2,3][1:] | tojson }})"),
      "True1|[2, 3]");
  EXPECT_EQ(
      Render(R"({% for i in range(3) %}{{ i }}{% endfor %}{% with a = 1 %}{{ a }}{% endwith %})"),
      "0121");
  // transformers' {% generation %} marks the assistant's tokens; its body renders as is.
  EXPECT_EQ(Render("{% generation %}reply{% endgeneration %}"), "reply");
}

TEST(Jinja, UndefinedIsEmptyFalsyAndIterableUntilUsed) {
  EXPECT_EQ(
      Render(
          R"({{ x }}|{{ x is defined }}|{{ x | length }}|{{ x | list }}|{% for i in x %}no{% endfor %}|{{ x ~ 'y' }}|{{ not x }})"),
      "|False|0|[]||y|True");
  EXPECT_EQ(Render(R"({{ m.missing is defined }}|{{ m.missing }}|{{ none.x }})", R"({"m": {}})"),
            "False||");
}

TEST(Jinja, RuntimeErrorsNameTheLineAndWhat) {
  EXPECT_EQ(ErrorOf("\n{{ x.y }}"), "[jinja] line 2: 'x' is undefined");
  EXPECT_EQ(ErrorOf("{{ m.tool_calls.function }}", R"({"m": {}})"),
            "[jinja] line 1: 'dict object' has no attribute 'tool_calls'");
  EXPECT_EQ(ErrorOf("{{ 1 + 'a' }}"),
            "[jinja] line 1: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(ErrorOf("{{ 'a' + 1 }}"),
            "[jinja] line 1: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(ErrorOf("{{ [].append(1) }}"),
            "[jinja] line 1: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(ErrorOf("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "[jinja] line 1: too many values to unpack (expected 2)");
  EXPECT_EQ(ErrorOf("a\nb\n{{ raise_exception('no system role') }}"),
            "[jinja] line 3: no system role");
  EXPECT_EQ(ErrorOf("{{ x | tojson }}"),
            "[jinja] line 1: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(ErrorOf("{{ 1 / 0 }}"), "[jinja] line 1: division by zero");
  EXPECT_EQ(
      ErrorOf("{{ range(200000) | length }}"),
      "[jinja] line 1: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  EXPECT_EQ(ErrorOf("{% for x in 3 %}{% endfor %}"),
            "[jinja] line 1: 'int' object is not iterable");
  EXPECT_EQ(ErrorOf("{{ 1 < 'a' }}"),
            "[jinja] line 1: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(ErrorOf("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"),
            "[jinja] line 1: macro 'f' takes not more than 1 argument(s)");
}

TEST(Jinja, IntegersAreExactOrFail) {
  // Python's ints never overflow; past 64 bits this interpreter says so instead of wrapping.
  EXPECT_EQ(Render("{{ 2 ** 62 }} {{ -(2 ** 62) * 2 }} {{ '%s and %d' % ('a', 3) }}"),
            "4611686018427387904 -9223372036854775808 a and 3");
  EXPECT_EQ(ErrorOf("{{ 2 ** 64 }}"),
            "[jinja] line 1: integer overflow (the result does not fit in 64 bits)");
  EXPECT_EQ(ErrorOf("{{ 99999999999999999999 }}"),
            "[jinja] line 1: integer literal 99999999999999999999 is too large.");
}

TEST(Jinja, MalformedTemplatesNameTheLine) {
  EXPECT_EQ(ErrorOf("{% if x %}"), "[jinja] line 1: unexpected end of template, expected 'endif'.");
  EXPECT_EQ(ErrorOf("{% for x in y %}\n{% endif %}"), "[jinja] line 2: unexpected 'endif'.");
  EXPECT_EQ(ErrorOf("{% include 'a' %}"), "[jinja] line 1: the tag 'include' is not supported.");
  EXPECT_EQ(ErrorOf("{{ 'abc }}"), "[jinja] line 1: unterminated string.");
  EXPECT_EQ(ErrorOf("{% break %}"), "[jinja] line 1: 'break' outside of a loop.");
  EXPECT_EQ(ErrorOf("{{ }}"), "[jinja] line 1: unexpected 'end of print statement'.");
  EXPECT_EQ(ErrorOf("{% frobnicate %}"), "[jinja] line 1: unknown tag 'frobnicate'.");
  EXPECT_EQ(ErrorOf("{{ x \n + }}"), "[jinja] line 2: unexpected 'end of print statement'.");
  EXPECT_EQ(ErrorOf("{# never closed"), "[jinja] line 1: missing end of comment tag.");
}

TEST(Jinja, UnknownFiltersAndTestsFailWhereTheyRun) {
  EXPECT_EQ(ErrorOf("{{ x | nosuchfilter }}"), "[jinja] line 1: no filter named 'nosuchfilter'");
  EXPECT_EQ(ErrorOf("\n{{ x is nosuchtest }}"), "[jinja] line 2: no test named 'nosuchtest'");
  EXPECT_EQ(Render("{% if false %}{{ x | nosuchfilter }}{% endif %}ok"), "ok");
}

TEST(Jinja, DepthIsCapped) {
  // Recursion a template cannot end (Hermes 3's type macro on a "null" type) throws, as
  // Python's RecursionError does, instead of exhausting the stack.
  EXPECT_NE(
      ErrorOf("{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}").find("maximum recursion depth"),
      std::string::npos);
  EXPECT_NE(ErrorOf("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}")
                .find("nested too deeply"),
            std::string::npos);
  const std::string deep_json = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_NE(ErrorOf("{{ x }}", "{\"x\": " + deep_json + "}").find("nested deeper"),
            std::string::npos);
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  EXPECT_NE(ErrorOf(blocks).find("nested too deeply"), std::string::npos);
}

TEST(Jinja, Globals) {
  EXPECT_EQ(Render("{{ strftime_now('%Y') | length }}"), "4");
  EXPECT_EQ(ErrorOf("{{ namespace(_x=1) }}"),
            "[jinja] line 1: chat templates cannot store underscore-prefixed attributes on a "
            "namespace, but got '_x'");
}

}  // namespace
}  // namespace ferry::lm::jinja
