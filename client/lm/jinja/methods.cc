// The methods of str, dict and list a template may call, as Python defines them.

#include <algorithm>
#include <cstdint>
#include <set>

#include "client/lm/jinja/builtins.h"
#include "client/lm/utf8.h"

namespace ferry::lm::jinja {
namespace {

// The code point of one character.
uint32_t Decode(const std::string& c) { return c.empty() ? 0 : DecodeUtf8(c).front(); }

// Latin Extended-A pairs its letters upper-lower, from an even or an odd code point.
bool EvenUpperPair(uint32_t cp) {
  return (cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
         (cp >= 0x14A && cp <= 0x177);
}
bool OddUpperPair(uint32_t cp) {
  return (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
}

// Simple case mapping of the Latin, Greek and Cyrillic letters (Python maps all of Unicode;
// other scripts are kept as they are).
uint32_t ToUpper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  if (cp < 0x80) return cp;
  if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
  if (cp == 0xFF) return 0x178;
  if (cp == 0x131) return 'I';
  if (cp == 0x17F) return 'S';
  if (EvenUpperPair(cp) && cp % 2 == 1) return cp - 1;
  if (OddUpperPair(cp) && cp % 2 == 0) return cp - 1;
  if (cp == 0x3C2) return 0x3A3;
  if (cp >= 0x3B1 && cp <= 0x3C9) return cp - 32;
  if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
  return cp;
}

uint32_t ToLower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
  if (cp == 0x178) return 0xFF;
  if (EvenUpperPair(cp) && cp % 2 == 0) return cp + 1;
  if (OddUpperPair(cp) && cp % 2 == 1) return cp + 1;
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

bool IsWhitespace(const std::string& c) {
  static const std::set<std::string> kSpaces = {" ",
                                                "\t",
                                                "\n",
                                                "\r",
                                                "\v",
                                                "\f",
                                                "\x1c",
                                                "\x1d",
                                                "\x1e",
                                                "\x1f",
                                                "\xc2\x85",
                                                "\xc2\xa0",
                                                "\xe1\x9a\x80",
                                                "\xe2\x80\x80",
                                                "\xe2\x80\x81",
                                                "\xe2\x80\x82",
                                                "\xe2\x80\x83",
                                                "\xe2\x80\x84",
                                                "\xe2\x80\x85",
                                                "\xe2\x80\x86",
                                                "\xe2\x80\x87",
                                                "\xe2\x80\x88",
                                                "\xe2\x80\x89",
                                                "\xe2\x80\x8a",
                                                "\xe2\x80\xa8",
                                                "\xe2\x80\xa9",
                                                "\xe2\x80\xaf",
                                                "\xe2\x81\x9f",
                                                "\xe3\x80\x80"};
  return kSpaces.count(c) > 0;
}

const Value* Arg(const Args& args, size_t index, const char* name) { return args.get(index, name); }

std::string StringArg(const Args& args, size_t index, const char* name, const char* method) {
  const Value* v = Arg(args, index, name);
  if (!v) throw RenderError(std::string(method) + "() missing argument '" + name + "'");
  if (!v->is_string()) {
    throw RenderError(std::string(method) + "() argument must be str, not " + v->type_name());
  }
  return v->string;
}

// str.split(sep=None, maxsplit=-1).
List Split(const std::string& text, const Value* sep, int64_t maxsplit) {
  List parts;
  if (!sep || sep->is_none()) {
    const std::vector<std::string> points = CodePoints(text);
    size_t i = 0;
    while (true) {
      while (i < points.size() && IsWhitespace(points[i])) ++i;
      if (i == points.size()) break;
      std::string word;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = points.size();
        while (end > i && IsWhitespace(points[end - 1])) --end;
        for (; i < end; ++i) word += points[i];
        parts.push_back(Value::String(word));
        break;
      }
      while (i < points.size() && !IsWhitespace(points[i])) word += points[i++];
      parts.push_back(Value::String(word));
    }
    return parts;
  }
  if (!sep->is_string()) throw RenderError("must be str or None, not " + sep->type_name());
  if (sep->string.empty()) throw RenderError("empty separator");
  size_t start = 0;
  while (true) {
    const size_t at = text.find(sep->string, start);
    if (at == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
      parts.push_back(Value::String(text.substr(start)));
      return parts;
    }
    parts.push_back(Value::String(text.substr(start, at - start)));
    start = at + sep->string.size();
  }
}

std::string Replace(const std::string& text, const std::string& old, const std::string& with,
                    int64_t count) {
  if (old.empty()) {
    // Python inserts `with` around every character.
    std::string out;
    int64_t n = 0;
    for (const std::string& c : CodePoints(text)) {
      if (count < 0 || n++ < count) out += with;
      out += c;
    }
    if (count < 0 || n < count) out += with;
    return out;
  }
  std::string out;
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t at = text.find(old, start);
    if (at == std::string::npos) break;
    out += text.substr(start, at - start) + with;
    start = at + old.size();
    ++n;
  }
  return out + text.substr(start);
}

// str.title(): a cased letter after an uncased character is upper case, the others lower.
std::string Title(const std::string& text) {
  std::string out;
  bool previous_cased = false;
  for (const std::string& c : CodePoints(text)) {
    const uint32_t cp = Decode(c);
    const bool cased = ToUpper(cp) != cp || ToLower(cp) != cp;
    AppendUtf8(cased ? (previous_cased ? ToLower(cp) : ToUpper(cp)) : cp, out);
    previous_cased = cased;
  }
  return out;
}

bool Affix(const std::string& text, const Value& affix, bool prefix) {
  auto one = [&](const Value& v) {
    if (!v.is_string())
      throw RenderError("startswith/endswith argument must be str or a tuple of str");
    const std::string& a = v.string;
    if (a.size() > text.size()) return false;
    return prefix ? text.compare(0, a.size(), a) == 0
                  : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.kind == Value::Kind::kTuple) {
    return std::any_of(affix.list->begin(), affix.list->end(), one);
  }
  return one(affix);
}

// str.format with {} / {0} / {name} fields and no format specs.
std::string Format(const std::string& text, const Args& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}')
        ++i;
      else
        throw RenderError("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t end = text.find('}', i);
    if (end == std::string::npos) throw RenderError("Single '{' encountered in format string");
    const std::string field = text.substr(i + 1, end - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      throw RenderError("format specifications in str.format are not supported");
    }
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_index < args.positional.size() ? &args.positional[auto_index] : nullptr;
      ++auto_index;
    } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
      const size_t index = std::stoul(field);
      v = index < args.positional.size() ? &args.positional[index] : nullptr;
    } else {
      for (const auto& [k, value] : args.keywords) {
        if (k == field) v = &value;
      }
    }
    if (!v)
      throw RenderError("Replacement index " + field + " out of range for positional args tuple");
    out += v->str();
    i = end;
  }
  return out;
}

Value Bound(Function f) { return Value::MakeFunction(std::move(f)); }

std::optional<Value> StringMethod(const std::string& s, const std::string& name) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    return Bound([s, left, right](const Args& a) {
      return Value::String(Strip(s, a.get(0, "chars"), left, right));
    });
  }
  if (name == "split") {
    return Bound([s](const Args& a) {
      const Value* maxsplit = a.get(1, "maxsplit");
      return Value::MakeList(Split(s, a.get(0, "sep"), maxsplit ? maxsplit->as_int() : -1));
    });
  }
  if (name == "splitlines") {
    return Bound([s](const Args&) {
      List lines;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          lines.push_back(Value::String(s.substr(start, i - start)));
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
          start = i + 1;
        }
      }
      if (start < s.size()) lines.push_back(Value::String(s.substr(start)));
      return Value::MakeList(std::move(lines));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return Bound([s, prefix](const Args& a) {
      const Value* affix = a.get(0, "prefix");
      if (!affix) throw RenderError("startswith/endswith takes one argument");
      return Value::Bool(Affix(s, *affix, prefix));
    });
  }
  if (name == "replace") {
    return Bound([s](const Args& a) {
      const Value* count = a.get(2, "count");
      return Value::String(Replace(s, StringArg(a, 0, "old", "replace"),
                                   StringArg(a, 1, "new", "replace"),
                                   count ? count->as_int() : -1));
    });
  }
  if (name == "upper") return Bound([s](const Args&) { return Value::String(Upper(s)); });
  if (name == "lower") return Bound([s](const Args&) { return Value::String(Lower(s)); });
  if (name == "title") return Bound([s](const Args&) { return Value::String(Title(s)); });
  if (name == "capitalize") return Bound([s](const Args&) { return Value::String(Capitalize(s)); });
  if (name == "find" || name == "rfind" || name == "count") {
    return Bound([s, name](const Args& a) {
      const std::string sub = StringArg(a, 0, "sub", name.c_str());
      if (name == "count") {
        if (sub.empty()) return Value::Int(CodePoints(s).size() + 1);
        int64_t n = 0;
        for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size()))
          ++n;
        return Value::Int(n);
      }
      const size_t at = name == "find" ? s.find(sub) : s.rfind(sub);
      return Value::Int(at == std::string::npos ? -1 : CodePoints(s.substr(0, at)).size());
    });
  }
  if (name == "join") {
    return Bound([s](const Args& a) {
      const Value* items = a.get(0, "iterable");
      if (!items) throw RenderError("join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (const Value& item : Iterate(*items)) {
        if (!item.is_string())
          throw RenderError("sequence item: expected str instance, " + item.type_name() + " found");
        if (!first) out += s;
        first = false;
        out += item.string;
      }
      return Value::String(out);
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    return Bound([s, name](const Args&) {
      if (s.empty()) return Value::Bool(false);
      bool cased = false, all = true;
      for (unsigned char c : s) {
        if (name == "isdigit")
          all &= std::isdigit(c) != 0;
        else if (name == "isalpha")
          all &= std::isalpha(c) != 0;
        else if (name == "isalnum")
          all &= std::isalnum(c) != 0;
        else if (name == "isspace")
          all &= std::isspace(c) != 0;
        else if (name == "islower") {
          all &= !std::isupper(c);
          cased |= std::islower(c) != 0;
        } else {
          all &= !std::islower(c);
          cased |= std::isupper(c) != 0;
        }
      }
      return Value::Bool(all && (cased || (name != "islower" && name != "isupper")));
    });
  }
  if (name == "format") return Bound([s](const Args& a) { return Value::String(Format(s, a)); });
  return std::nullopt;
}

std::optional<Value> DictMethod(const Value& d, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return Bound([d, name](const Args&) {
      List out;
      for (const auto& [key, item] : d.dict->items) {
        if (name == "items")
          out.push_back(Value::MakeList({key, item}, Value::Kind::kTuple));
        else
          out.push_back(name == "keys" ? key : item);
      }
      return Value::MakeList(std::move(out));
    });
  }
  if (name == "get") {
    return Bound([d](const Args& a) {
      const Value* key = a.get(0, "key");
      if (!key) throw RenderError("get expected at least 1 argument, got 0");
      if (const Value* v = d.dict->find(*key)) return *v;
      const Value* fallback = a.get(1, "default");
      return fallback ? *fallback : Value::None();
    });
  }
  if (name == "copy") return Bound([d](const Args&) { return Value::MakeDict(*d.dict); });
  return std::nullopt;
}

std::optional<Value> ListMethod(const Value& l, const std::string& name) {
  if (name == "index" || name == "count") {
    return Bound([l, name](const Args& a) {
      const Value* x = a.get(0, "value");
      if (!x) throw RenderError(name + "() takes exactly one argument");
      int64_t n = 0;
      for (size_t i = 0; i < l.list->size(); ++i) {
        if (!Equal((*l.list)[i], *x)) continue;
        if (name == "index") return Value::Int(i);
        ++n;
      }
      if (name == "index") throw RenderError(x->repr() + " is not in list");
      return Value::Int(n);
    });
  }
  return std::nullopt;
}

}  // namespace

std::string Strip(const std::string& text, const Value* chars, bool left, bool right) {
  std::vector<std::string> points = CodePoints(text);
  std::set<std::string> strip_set;
  const bool whitespace = !chars || chars->is_none();
  if (!whitespace) {
    if (!chars->is_string()) throw RenderError("strip arg must be None or str");
    for (std::string& c : CodePoints(chars->string)) strip_set.insert(std::move(c));
  }
  auto strip = [&](const std::string& c) {
    return whitespace ? IsWhitespace(c) : strip_set.count(c) > 0;
  };
  size_t begin = 0, end = points.size();
  if (left)
    while (begin < end && strip(points[begin])) ++begin;
  if (right)
    while (end > begin && strip(points[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) out += points[i];
  return out;
}

std::string Capitalize(const std::string& text) {
  const std::vector<std::string> points = CodePoints(text);
  if (points.empty()) return "";
  std::string rest;
  for (size_t i = 1; i < points.size(); ++i) rest += points[i];
  return Upper(points[0]) + Lower(rest);
}

std::string Upper(const std::string& text) {
  std::string out;
  for (const std::string& c : CodePoints(text)) {
    const uint32_t cp = Decode(c);
    if (cp == 0xDF)
      out += "SS";  // as Python: "ß".upper() == "SS"
    else
      AppendUtf8(ToUpper(cp), out);
  }
  return out;
}

std::string Lower(const std::string& text) {
  std::string out;
  for (const std::string& c : CodePoints(text)) AppendUtf8(ToLower(Decode(c)), out);
  return out;
}

std::optional<Value> Method(const Value& obj, const std::string& name) {
  static const std::set<std::string> kMutating = {"append", "extend",     "insert", "pop",
                                                  "remove", "clear",      "sort",   "reverse",
                                                  "update", "setdefault", "popitem"};
  std::optional<Value> method;
  if (obj.is_string())
    method = StringMethod(obj.string, name);
  else if (obj.kind == Value::Kind::kDict)
    method = DictMethod(obj, name);
  else if (obj.is_list())
    method = ListMethod(obj, name);
  if (method) return method;
  if ((obj.is_list() || obj.kind == Value::Kind::kDict) && kMutating.count(name)) {
    // The immutable sandbox refuses methods that change a list or dict in place.
    const std::string message =
        "access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.";
    return Value::MakeFunction([message](const Args&) -> Value { throw RenderError(message); });
  }
  return std::nullopt;
}

}  // namespace ferry::lm::jinja
