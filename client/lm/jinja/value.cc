#include "client/lm/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ferry::lm::jinja {
namespace {

void AppendJsonString(const std::string& text, std::string& out) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// json.dumps: ", " and ": " on one line, or "," and ": " with `indent` spaces a level.
void AppendJson(const Value& v, int indent, int level, std::string& out) {
  auto newline = [&](int depth) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * depth, ' ');
  };
  const char* item_separator = indent < 0 ? ", " : ",";
  switch (v.kind) {
    case Value::Kind::kNone:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.boolean ? "true" : "false";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.integer);
      return;
    case Value::Kind::kFloat:
      if (std::isnan(v.number))
        out += "NaN";
      else if (std::isinf(v.number))
        out += v.number > 0 ? "Infinity" : "-Infinity";
      else
        out += FloatRepr(v.number);
      return;
    case Value::Kind::kString:
      AppendJsonString(v.string, out);
      return;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) out += item_separator;
        newline(level + 1);
        AppendJson((*v.list)[i], indent, level + 1, out);
      }
      newline(level);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.dict->items) {
        if (!first) out += item_separator;
        first = false;
        newline(level + 1);
        if (key.is_string()) {
          AppendJsonString(key.string, out);
        } else if (key.is_number() || key.is_none()) {
          // json.dumps turns these keys into strings as JSON spells them.
          std::string text;
          AppendJson(key, -1, 0, text);
          AppendJsonString(text, out);
        } else {
          throw RenderError("keys must be str, int, float, bool or None, not " + key.type_name());
        }
        out += ": ";
        AppendJson(item, indent, level + 1, out);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      throw RenderError("Object of type " + v.type_name() + " is not JSON serializable");
  }
}

std::string StringRepr(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == quote) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

}  // namespace

const Value* Args::get(size_t index, const std::string& name) const {
  for (const auto& [key, value] : keywords) {
    if (key == name) return &value;
  }
  return index < positional.size() ? &positional[index] : nullptr;
}

Value Value::MakeList(List items, Kind kind) {
  Value v = Of(kind);
  v.list = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::MakeDict(Dict items, Kind kind) {
  Value v = Of(kind);
  v.dict = std::make_shared<Dict>(std::move(items));
  return v;
}

Value Value::MakeFunction(Function f) {
  Value v = Of(Kind::kFunction);
  v.function = std::make_shared<Function>(std::move(f));
  return v;
}

Value Value::FromJson(const nlohmann::ordered_json& json) { return FromJson(json, 0); }

Value Value::FromJson(const nlohmann::ordered_json& json, int depth) {
  // Deeper input than any conversation needs would only exhaust the stack later (repr, ==).
  if (depth > 256) throw RenderError("the input is nested deeper than 256 levels");
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return None();
    case nlohmann::ordered_json::value_t::boolean:
      return Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Int(static_cast<int64_t>(json.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float:
      return Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return String(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(FromJson(item, depth + 1));
      return MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      dict.items.reserve(json.size());
      for (const auto& [key, item] : json.items())
        dict.items.emplace_back(String(key), FromJson(item, depth + 1));
      return MakeDict(std::move(dict));
    }
    default:
      return None();  // binary and discarded values do not occur in parsed JSON
  }
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return boolean;
    case Kind::kInt:
      return integer != 0;
    case Kind::kFloat:
      return number != 0;
    case Kind::kString:
      return !string.empty();
    case Kind::kList:
    case Kind::kTuple:
      return !list->empty();
    case Kind::kDict:
      return !dict->items.empty();
    default:
      return true;
  }
}

std::string Value::str() const {
  switch (kind) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return string;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return boolean ? "True" : "False";
    case Kind::kInt:
      return std::to_string(integer);
    case Kind::kFloat:
      return FloatRepr(number);
    case Kind::kString:
      return StringRepr(string);
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = kind == Kind::kTuple;
      std::string out = tuple ? "(" : "[";
      for (size_t i = 0; i < list->size(); ++i) {
        if (i) out += ", ";
        out += (*list)[i].repr();
      }
      if (tuple && list->size() == 1) out += ",";
      return out + (tuple ? ")" : "]");
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      std::string out = kind == Kind::kNamespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, item] : dict->items) {
        if (!first) out += ", ";
        first = false;
        out += key.repr() + ": " + item.repr();
      }
      return out + (kind == Kind::kNamespace ? "}>" : "}");
    }
    case Kind::kFunction:
      return "<function>";
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kFunction:
      return "function";
  }
  return "object";
}

std::string Value::to_json(int indent) const {
  std::string out;
  AppendJson(*this, indent, 0, out);
  return out;
}

nlohmann::ordered_json Value::json() const { return nlohmann::ordered_json::parse(to_json()); }

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(key.string);
  for (const auto& [k, v] : items) {
    if (Equal(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.string == key) return &v;
  }
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  for (auto& [k, v] : items) {
    if (Equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

bool Equal(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.string == b.string;
    case Kind::kList:
    case Kind::kTuple: {
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!Equal((*a.list)[i], (*b.list)[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [key, value] : a.dict->items) {
        const Value* other = b.dict->find(key);
        if (!other || !Equal(value, *other)) return false;
      }
      return true;
    }
    case Kind::kNamespace:
      return a.dict == b.dict;
    default:
      return a.function == b.function;
  }
}

bool Less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Value::Kind::kFloat || b.kind == Value::Kind::kFloat) {
      return a.as_double() < b.as_double();
    }
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.string < b.string;  // UTF-8 keeps code point order
  if (a.kind == b.kind && a.is_list()) {
    const size_t n = std::min(a.list->size(), b.list->size());
    for (size_t i = 0; i < n; ++i) {
      if (!Equal((*a.list)[i], (*b.list)[i])) return Less((*a.list)[i], (*b.list)[i]);
    }
    return a.list->size() < b.list->size();
  }
  throw RenderError("'<' not supported between instances of '" + a.type_name() + "' and '" +
                    b.type_name() + "'");
}

std::string FloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest digits that read back as value, as Python's repr chooses them.
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string text(buffer);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string sign, digits;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] == '-')
      sign = "-";
    else if (text[i] != '.')
      digits += text[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
    }
    return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                std::abs(exponent));
  return sign + mantissa + exp_text;
}

std::vector<std::string> CodePoints(const std::string& text) {
  std::vector<std::string> points;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    length = std::min(length, text.size() - i);
    points.push_back(text.substr(i, length));
    i += length;
  }
  return points;
}

}  // namespace ferry::lm::jinja
