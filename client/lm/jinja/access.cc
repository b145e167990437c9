// Attribute and item access, slicing, iteration and len(), as jinja2's sandbox does them.

#include <algorithm>

#include "client/lm/jinja/builtins.h"

namespace ferry::lm::jinja {
namespace {

std::string Owner(const Value& obj) {
  return obj.kind == Value::Kind::kNone ? "None" : obj.type_name() + " object";
}

// CPython's PySlice_AdjustIndices: the indices slice(start, stop, step) visits.
std::vector<int64_t> SliceIndices(int64_t length, const Value* start, const Value* stop,
                                  const Value* step) {
  auto as_index = [](const Value* v) -> std::optional<int64_t> {
    if (!v || v->is_none()) return std::nullopt;
    if (!v->is_integral()) throw RenderError("slice indices must be integers or None");
    return v->as_int();
  };
  const int64_t s = as_index(step).value_or(1);
  if (s == 0) throw RenderError("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> i, int64_t fallback) {
    if (!i) return fallback;
    const int64_t v = *i;
    if (v < 0) return v < -length ? (s < 0 ? int64_t{-1} : int64_t{0}) : v + length;
    return std::min<int64_t>(v, s < 0 ? length - 1 : length);
  };
  const int64_t begin = clamp(as_index(start), s < 0 ? length - 1 : 0);
  const int64_t end = clamp(as_index(stop), s < 0 ? -1 : length);
  std::vector<int64_t> indices;
  for (int64_t i = begin; s > 0 ? i < end : i > end;) {
    indices.push_back(i);
    if (__builtin_add_overflow(i, s, &i)) break;
  }
  return indices;
}

}  // namespace

void FailUndefined(const Value& undefined) {
  throw RenderError(undefined.string.empty() ? "value is undefined" : undefined.string);
}

Value GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) FailUndefined(obj);
  if (std::optional<Value> method = Method(obj, name)) return *method;
  if (obj.is_dict_like()) {
    if (const Value* v = obj.dict->find(name)) return *v;
  }
  return Value::Undefined("'" + Owner(obj) + "' has no attribute '" + name + "'");
}

Value GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) FailUndefined(obj);
  if (obj.is_dict_like()) {
    if (const Value* v = obj.dict->find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && key.is_integral()) {
    const bool is_string = obj.is_string();
    std::vector<std::string> points;
    if (is_string) points = CodePoints(obj.string);
    const int64_t length = is_string ? points.size() : obj.list->size();
    int64_t i = key.as_int();
    if (i < 0) i += length;
    if (i >= 0 && i < length) {
      return is_string ? Value::String(points[i]) : (*obj.list)[i];
    }
    return Value::Undefined(obj.type_name() + " object has no element " +
                            std::to_string(key.as_int()));
  }
  if (key.is_string()) {
    if (std::optional<Value> method = Method(obj, key.string)) return *method;
    return Value::Undefined("'" + Owner(obj) + "' has no attribute '" + key.string + "'");
  }
  return Value::Undefined("'" + Owner(obj) + "' has no attribute '" + key.str() + "'");
}

Value Slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (obj.is_undefined()) FailUndefined(obj);
  if (obj.is_string()) {
    const std::vector<std::string> points = CodePoints(obj.string);
    std::string out;
    for (int64_t i : SliceIndices(points.size(), start, stop, step)) out += points[i];
    return Value::String(out);
  }
  if (obj.is_list()) {
    List out;
    for (int64_t i : SliceIndices(obj.list->size(), start, stop, step))
      out.push_back((*obj.list)[i]);
    return Value::MakeList(std::move(out), obj.kind);
  }
  throw RenderError("'" + obj.type_name() + "' object is not subscriptable");
}

List Iterate(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return *value.list;
    case Value::Kind::kDict: {
      List keys;
      for (const auto& [key, item] : value.dict->items) keys.push_back(key);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      for (std::string& c : CodePoints(value.string)) chars.push_back(Value::String(std::move(c)));
      return chars;
    }
    default:
      throw RenderError("'" + value.type_name() + "' object is not iterable");
  }
}

int64_t Length(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return CodePoints(value.string).size();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return value.list->size();
    case Value::Kind::kDict:
      return value.dict->items.size();
    default:
      throw RenderError("object of type '" + value.type_name() + "' has no len()");
  }
}

}  // namespace ferry::lm::jinja
