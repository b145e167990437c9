// jinja2's filters (`x | trim`), with transformers' tojson (json.dumps, ensure_ascii=False).

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "client/lm/jinja/builtins.h"

namespace ferry::lm::jinja {
namespace {

using Filter = std::function<Value(const Value&, const Args&)>;

const Value* Arg(const Args& args, size_t index, const char* name) { return args.get(index, name); }
bool BoolArg(const Args& args, size_t index, const char* name) {
  const Value* v = Arg(args, index, name);
  return v && v->truthy();
}

// jinja2's make_attrgetter: "a.b.0" reads item "a", then "b", then 0.
Value Attribute(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    v = GetItem(v, digits ? Value::Int(std::atoll(part.c_str())) : Value::String(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

std::function<Value(const Value&)> KeyOf(const Args& args, size_t attribute_index,
                                         bool case_sensitive) {
  const Value* attribute = Arg(args, attribute_index, "attribute");
  std::string path = attribute && !attribute->is_none() ? attribute->str() : "";
  return [path, case_sensitive](const Value& item) {
    Value key = path.empty() ? item : Attribute(item, path);
    if (!case_sensitive && key.is_string()) key = Value::String(Lower(key.string));
    return key;
  };
}

// select/reject and selectattr/rejectattr: items whose (attribute's) test passes, or fails.
Value Select(const Value& seq, const Args& args, bool with_attribute, bool keep) {
  if (!seq.truthy()) return Value::MakeList({});  // jinja2 iterates only a truthy value
  size_t test_index = with_attribute ? 1 : 0;
  std::string attribute;
  if (with_attribute) {
    if (args.positional.empty()) throw RenderError("selectattr/rejectattr need an attribute");
    attribute = args.positional[0].str();
  }
  std::string test;
  Args test_args;
  if (args.positional.size() > test_index) {
    test = args.positional[test_index].str();
    test_args.positional.assign(args.positional.begin() + test_index + 1, args.positional.end());
    if (!HasTest(test)) throw RenderError("no test named '" + test + "'");
  }
  List out;
  for (const Value& item : Iterate(seq)) {
    const Value v = with_attribute ? Attribute(item, attribute) : item;
    const bool pass = test.empty() ? v.truthy() : ApplyTest(test, v, test_args);
    if (pass == keep) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

Value Map(const Value& seq, const Args& args) {
  List out;
  if (!seq.truthy()) return Value::MakeList({});
  if (const Value* attribute = Arg(args, 99, "attribute")) {
    const Value* fallback = Arg(args, 99, "default");
    for (const Value& item : Iterate(seq)) {
      Value v = Attribute(item, attribute->str());
      out.push_back(v.is_undefined() && fallback ? *fallback : v);
    }
    return Value::MakeList(std::move(out));
  }
  if (args.positional.empty()) throw RenderError("map needs a filter name or attribute=");
  const std::string filter = args.positional[0].str();
  if (!HasFilter(filter)) throw RenderError("no filter named '" + filter + "'");
  Args rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keywords = args.keywords;
  for (const Value& item : Iterate(seq)) out.push_back(ApplyFilter(filter, item, rest));
  return Value::MakeList(std::move(out));
}

Value SortKeysDeep(const Value& v) {
  if (v.kind == Value::Kind::kDict) {
    Dict sorted = *v.dict;
    for (auto& [key, item] : sorted.items) item = SortKeysDeep(item);
    std::stable_sort(sorted.items.begin(), sorted.items.end(),
                     [](const auto& a, const auto& b) { return Less(a.first, b.first); });
    return Value::MakeDict(std::move(sorted));
  }
  if (v.is_list()) {
    List items;
    for (const Value& item : *v.list) items.push_back(SortKeysDeep(item));
    return Value::MakeList(std::move(items), v.kind);
  }
  return v;
}

Value ToJson(const Value& v, const Args& args) {
  const Value* ensure_ascii = Arg(args, 0, "ensure_ascii");
  const Value* indent = Arg(args, 1, "indent");
  const Value* separators = Arg(args, 2, "separators");
  if (ensure_ascii && ensure_ascii->truthy())
    throw RenderError("tojson(ensure_ascii=True) is not supported");
  if (separators && !separators->is_none())
    throw RenderError("tojson(separators=...) is not supported");
  int width = -1;
  if (indent && !indent->is_none()) {
    if (indent->is_string()) throw RenderError("tojson(indent=) takes a number");
    width = static_cast<int>(std::clamp<int64_t>(indent->as_int(), 0, 1024));
  }
  const Value data = BoolArg(args, 3, "sort_keys") ? SortKeysDeep(v) : v;
  return Value::String(data.to_json(width));
}

// Python's int(value) for the int filter; nullopt where Python raises.
std::optional<int64_t> ParseInt(const std::string& text, int base) {
  std::string s = Strip(text, nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}

std::optional<double> ParseFloat(const std::string& text) {
  const std::string s = Strip(text, nullptr, true, true);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return v;
}

// int(x) of a float, which Python gives for any finite x; beyond 64 bits, an error.
Value FloatToInt(double x, const Value& fallback) {
  if (!std::isfinite(x)) return fallback;
  if (!(std::fabs(x) < 9.2e18))
    throw RenderError("integer overflow (the result does not fit in 64 bits)");
  return Value::Int(static_cast<int64_t>(x));
}

Value Round(const Value& v, const Args& args) {
  if (v.is_undefined()) FailUndefined(v);
  if (!v.is_number()) throw RenderError("round needs a number, not " + v.type_name());
  const Value* precision_arg = Arg(args, 0, "precision");
  const int64_t precision = precision_arg ? precision_arg->as_int() : 0;
  const Value* method_arg = Arg(args, 1, "method");
  const std::string method = method_arg ? method_arg->str() : "common";
  if (method == "common") {
    if (v.is_integral()) return Value::Int(v.as_int());  // Python's round(int, n) is the int
    // printf rounds the exact binary value half to even, as Python's round does.
    char buffer[1024];
    std::snprintf(buffer, sizeof(buffer), "%.*f",
                  static_cast<int>(std::clamp<int64_t>(precision, 0, 300)), v.number);
    double rounded = std::strtod(buffer, nullptr);
    if (precision < 0) {
      const double scale = std::pow(10.0, -precision);
      rounded = std::nearbyint(v.number / scale) * scale;
    }
    return Value::Float(rounded);
  }
  if (method != "ceil" && method != "floor")
    throw RenderError("method must be common, ceil or floor");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * scale;
  return Value::Float((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value Indent(const Value& v, const Args& args) {
  const Value* width_arg = Arg(args, 0, "width");
  std::string pad =
      width_arg ? (width_arg->is_string()
                       ? width_arg->string
                       : std::string(std::clamp<int64_t>(width_arg->as_int(), 0, 1024), ' '))
                : std::string(4, ' ');
  const bool first = BoolArg(args, 1, "first"), blank = BoolArg(args, 2, "blank");
  const std::string s = v.str() + "\n";
  List lines = *Method(Value::String(s), "splitlines")->function->operator()(Args{}).list;
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].string;
    if (i > 0) out += "\n";
    if (i > 0 && (blank || !line.empty())) out += pad;
    out += line;
  }
  if (first) out = pad + out;
  return Value::String(out);
}

Value MinMax(const Value& v, const Args& args, bool max) {
  auto key = KeyOf(args, 1, BoolArg(args, 0, "case_sensitive"));
  const List items = Iterate(v);
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const bool better =
        max ? Less(key(items[best]), key(items[i])) : Less(key(items[i]), key(items[best]));
    if (better) best = i;
  }
  return items[best];
}

Value Add(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) {
    throw RenderError("unsupported operand type(s) for +: '" + a.type_name() + "' and '" +
                      b.type_name() + "'");
  }
  if (a.kind == Value::Kind::kFloat || b.kind == Value::Kind::kFloat)
    return Value::Float(a.as_double() + b.as_double());
  int64_t sum;
  if (__builtin_add_overflow(a.as_int(), b.as_int(), &sum)) throw RenderError("integer overflow");
  return Value::Int(sum);
}

const std::map<std::string, Filter>& Filters() {
  static const auto* filters = new std::map<std::string, Filter>{
      {"trim",
       [](const Value& v, const Args& a) {
         return Value::String(Strip(v.str(), Arg(a, 0, "chars"), true, true));
       }},
      {"tojson", ToJson},
      {"length", [](const Value& v, const Args&) { return Value::Int(Length(v)); }},
      {"upper", [](const Value& v, const Args&) { return Value::String(Upper(v.str())); }},
      {"lower", [](const Value& v, const Args&) { return Value::String(Lower(v.str())); }},
      {"capitalize",
       [](const Value& v, const Args&) { return Value::String(Capitalize(v.str())); }},
      {"title",
       [](const Value& v, const Args&) {
         // jinja2 capitalizes each piece after "-", whitespace, "(", "{", "[" or "<".
         std::string out, word;
         auto flush = [&] {
           out += Capitalize(word);
           word.clear();
         };
         for (const std::string& c : CodePoints(v.str())) {
           const bool boundary = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" ||
                                 Strip(c, nullptr, true, true).empty();
           if (boundary) {
             flush();
             out += c;
           } else {
             word += c;
           }
         }
         flush();
         return Value::String(out);
       }},
      {"default",
       [](const Value& v, const Args& a) {
         const Value* fallback = Arg(a, 0, "default_value");
         const bool use = v.is_undefined() || (BoolArg(a, 1, "boolean") && !v.truthy());
         return use ? (fallback ? *fallback : Value::String("")) : v;
       }},
      {"join",
       [](const Value& v, const Args& a) {
         const Value* sep = Arg(a, 0, "d");
         auto key = KeyOf(a, 1, true);
         std::string out;
         bool first = true;
         for (const Value& item : Iterate(v)) {
           if (!first && sep) out += sep->str();
           first = false;
           out += key(item).str();
         }
         return Value::String(out);
       }},
      {"first",
       [](const Value& v, const Args&) {
         List items = Iterate(v);
         return items.empty() ? Value::Undefined("No first item, sequence was empty.")
                              : items.front();
       }},
      {"last",
       [](const Value& v, const Args&) {
         List items = Iterate(v);
         return items.empty() ? Value::Undefined("No last item, sequence was empty.")
                              : items.back();
       }},
      {"list", [](const Value& v, const Args&) { return Value::MakeList(Iterate(v)); }},
      {"items",
       [](const Value& v, const Args&) {
         if (v.is_undefined()) return Value::MakeList({});
         if (v.kind != Value::Kind::kDict)
           throw RenderError("Can only get item pairs from a mapping.");
         return Method(v, "items")->function->operator()(Args{});
       }},
      {"string", [](const Value& v, const Args&) { return Value::String(v.str()); }},
      {"int",
       [](const Value& v, const Args& a) {
         const Value* fallback = Arg(a, 0, "default");
         const Value* base = Arg(a, 1, "base");
         const Value dflt = fallback ? *fallback : Value::Int(0);
         if (v.is_undefined()) FailUndefined(v);  // int(Undefined) raises
         if (v.is_integral()) return Value::Int(v.as_int());
         if (v.kind == Value::Kind::kFloat) return FloatToInt(v.number, dflt);
         if (v.is_string()) {
           if (auto i = ParseInt(v.string, base ? static_cast<int>(base->as_int()) : 10))
             return Value::Int(*i);
           if (auto f = ParseFloat(v.string)) return FloatToInt(*f, dflt);
         }
         return dflt;
       }},
      {"float",
       [](const Value& v, const Args& a) {
         const Value* fallback = Arg(a, 0, "default");
         if (v.is_undefined()) FailUndefined(v);
         if (v.is_number()) return Value::Float(v.as_double());
         if (v.is_string()) {
           if (auto f = ParseFloat(v.string)) return Value::Float(*f);
         }
         return fallback ? *fallback : Value::Float(0);
       }},
      {"abs",
       [](const Value& v, const Args&) {
         if (v.is_undefined()) FailUndefined(v);
         if (!v.is_number())
           throw RenderError("bad operand type for abs(): '" + v.type_name() + "'");
         if (v.is_integral() && v.as_int() == INT64_MIN) throw RenderError("integer overflow");
         return v.kind == Value::Kind::kFloat ? Value::Float(std::fabs(v.number))
                                              : Value::Int(std::llabs(v.as_int()));
       }},
      {"round", Round},
      {"replace",
       [](const Value& v, const Args& a) {
         const Value* old = Arg(a, 0, "old");
         const Value* with = Arg(a, 1, "new");
         if (!old || !with) throw RenderError("replace needs old and new");
         Args call;
         call.positional = {Value::String(old->str()), Value::String(with->str())};
         if (const Value* count = Arg(a, 2, "count")) {
           if (!count->is_none()) call.positional.push_back(*count);
         }
         return Method(Value::String(v.str()), "replace")->function->operator()(call);
       }},
      {"select", [](const Value& v, const Args& a) { return Select(v, a, false, true); }},
      {"reject", [](const Value& v, const Args& a) { return Select(v, a, false, false); }},
      {"selectattr", [](const Value& v, const Args& a) { return Select(v, a, true, true); }},
      {"rejectattr", [](const Value& v, const Args& a) { return Select(v, a, true, false); }},
      {"map", Map},
      {"unique",
       [](const Value& v, const Args& a) {
         auto key = KeyOf(a, 1, BoolArg(a, 0, "case_sensitive"));
         List out, seen;
         for (const Value& item : Iterate(v)) {
           const Value k = key(item);
           if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equal(s, k); }))
             continue;
           seen.push_back(k);
           out.push_back(item);
         }
         return Value::MakeList(std::move(out));
       }},
      {"sort",
       [](const Value& v, const Args& a) {
         auto key = KeyOf(a, 2, BoolArg(a, 1, "case_sensitive"));
         List items = Iterate(v);
         // Python's sorted(reverse=True) keeps equal items in their order, too.
         const bool reverse = BoolArg(a, 0, "reverse");
         std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
           return reverse ? Less(key(y), key(x)) : Less(key(x), key(y));
         });
         return Value::MakeList(std::move(items));
       }},
      {"reverse",
       [](const Value& v, const Args&) {
         if (v.is_string()) {
           std::vector<std::string> points = CodePoints(v.string);
           std::string out;
           for (auto it = points.rbegin(); it != points.rend(); ++it) out += *it;
           return Value::String(out);
         }
         List items = Iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::MakeList(std::move(items));
       }},
      {"safe", [](const Value& v, const Args&) { return v; }},
      {"escape",
       [](const Value& v, const Args&) {
         std::string out;
         for (char c : v.str()) {
           switch (c) {
             case '&':
               out += "&amp;";
               break;
             case '<':
               out += "&lt;";
               break;
             case '>':
               out += "&gt;";
               break;
             case '"':
               out += "&#34;";
               break;
             case '\'':
               out += "&#39;";
               break;
             default:
               out += c;
           }
         }
         return Value::String(out);
       }},
      {"indent", Indent},
      {"attr",
       [](const Value& v, const Args& a) {
         const Value* name = Arg(a, 0, "name");
         if (!name) throw RenderError("attr needs a name");
         return GetAttr(v, name->str());
       }},
      {"sum",
       [](const Value& v, const Args& a) {
         auto key = KeyOf(a, 0, true);
         const Value* start = Arg(a, 1, "start");
         Value total = start ? *start : Value::Int(0);
         for (const Value& item : Iterate(v)) total = Add(total, key(item));
         return total;
       }},
      {"min", [](const Value& v, const Args& a) { return MinMax(v, a, false); }},
      {"max", [](const Value& v, const Args& a) { return MinMax(v, a, true); }},
  };
  return *filters;
}

std::string Canonical(const std::string& name) {
  if (name == "d") return "default";
  if (name == "count") return "length";
  if (name == "e") return "escape";
  return name;
}

}  // namespace

bool HasFilter(const std::string& name) { return Filters().count(Canonical(name)) > 0; }

Value ApplyFilter(const std::string& name, const Value& input, const Args& args) {
  auto it = Filters().find(Canonical(name));
  if (it == Filters().end()) throw RenderError("no filter named '" + name + "'");
  // jinja2's filters read an Undefined as empty, except where they compute with it.
  return it->second(input, args);
}

}  // namespace ferry::lm::jinja
