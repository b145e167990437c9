#ifndef FERRY_CLIENT_LM_JINJA_VALUE_H_
#define FERRY_CLIENT_LM_JINJA_VALUE_H_

// The values a template computes with, modelled on the Python objects jinja2 sees: None, bool,
// int, float, str, list, tuple, dict (insertion-ordered), jinja2's namespace and Undefined, and
// callables (macros, globals, bound methods). Lists and dicts are shared, not copied: the
// sandbox never mutates them, only namespaces change in place.

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace ferry::lm::jinja {

// A failure while rendering, without the template line; the interpreter adds it and throws
// ferry::Error.
class RenderError : public std::runtime_error {
 public:
  explicit RenderError(const std::string& what) : std::runtime_error(what) {}
};

struct Value;
using List = std::vector<Value>;
struct Dict;

// Positional and keyword arguments of a call.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;

  // The argument at `index` or named `name`, or nullptr.
  const Value* get(size_t index, const std::string& name) const;
};
using Function = std::function<Value(const Args&)>;

struct Value {
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kFunction
  };

  Kind kind = Kind::kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;          // a string's text, or what an Undefined says when it is misused
  std::shared_ptr<List> list;  // kList, kTuple
  std::shared_ptr<Dict> dict;  // kDict, kNamespace
  std::shared_ptr<Function> function;

  Value() = default;
  static Value Undefined(std::string hint) {
    Value v;
    v.string = std::move(hint);
    return v;
  }
  static Value None() { return Of(Kind::kNone); }
  static Value Bool(bool b) {
    Value v = Of(Kind::kBool);
    v.boolean = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v = Of(Kind::kInt);
    v.integer = i;
    return v;
  }
  static Value Float(double f) {
    Value v = Of(Kind::kFloat);
    v.number = f;
    return v;
  }
  static Value String(std::string s) {
    Value v = Of(Kind::kString);
    v.string = std::move(s);
    return v;
  }
  static Value MakeList(List items, Kind kind = Kind::kList);
  static Value MakeDict(Dict items, Kind kind = Kind::kDict);
  static Value MakeFunction(Function f);
  static Value FromJson(const nlohmann::ordered_json& json);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_list() const { return kind == Kind::kList || kind == Kind::kTuple; }
  bool is_mapping() const { return kind == Kind::kDict; }
  bool is_dict_like() const { return kind == Kind::kDict || kind == Kind::kNamespace; }
  // int or bool (bool is an int in Python), float.
  bool is_integral() const { return kind == Kind::kInt || kind == Kind::kBool; }
  bool is_number() const { return is_integral() || kind == Kind::kFloat; }
  int64_t as_int() const { return kind == Kind::kBool ? boolean : integer; }
  double as_double() const { return kind == Kind::kFloat ? number : static_cast<double>(as_int()); }

  // Python's bool(value).
  bool truthy() const;
  // Python's str(value) (an Undefined is ""), and repr(value).
  std::string str() const;
  std::string repr() const;
  // The Python type name in messages ("str", "dict", "NoneType").
  std::string type_name() const;
  // json.dumps(value, ensure_ascii=False, indent=indent) (indent < 0: None); throws RenderError
  // on what JSON cannot hold (an Undefined, a macro).
  std::string to_json(int indent = -1) const;
  nlohmann::ordered_json json() const;

 private:
  static Value FromJson(const nlohmann::ordered_json& json, int depth);
  static Value Of(Kind kind) {
    Value v;
    v.kind = kind;
    return v;
  }
};

// An insertion-ordered mapping, as Python's dict.
struct Dict {
  std::vector<std::pair<Value, Value>> items;

  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

// Python's ==, and <, which throws RenderError between types Python does not order.
bool Equal(const Value& a, const Value& b);
bool Less(const Value& a, const Value& b);

// Python's float repr (1.0, 0.1, 1e-05, 1e+20, inf, nan).
std::string FloatRepr(double value);

// UTF-8 code points of text (a string's len() and indexes count these).
std::vector<std::string> CodePoints(const std::string& text);

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_VALUE_H_
