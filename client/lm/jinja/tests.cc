// jinja2's tests (`x is defined`, `x is divisibleby 3`...).

#include <cmath>
#include <functional>
#include <map>

#include "client/lm/jinja/builtins.h"

namespace ferry::lm::jinja {
namespace {

using Test = std::function<bool(const Value&, const Args&)>;

const Value& Other(const Args& args, const char* test) {
  if (args.positional.empty())
    throw RenderError(std::string("the test '") + test + "' needs an argument");
  return args.positional[0];
}

bool IsInteger(const Value& v) { return v.kind == Value::Kind::kInt; }

const std::map<std::string, Test>& Tests() {
  using K = Value::Kind;
  static const auto* tests = new std::map<std::string, Test>{
      {"defined", [](const Value& v, const Args&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, const Args&) { return v.is_undefined(); }},
      {"none", [](const Value& v, const Args&) { return v.is_none(); }},
      {"string", [](const Value& v, const Args&) { return v.is_string(); }},
      {"number", [](const Value& v, const Args&) { return v.is_number(); }},
      {"integer", [](const Value& v, const Args&) { return IsInteger(v); }},
      {"float", [](const Value& v, const Args&) { return v.kind == K::kFloat; }},
      {"boolean", [](const Value& v, const Args&) { return v.kind == K::kBool; }},
      {"true", [](const Value& v, const Args&) { return v.kind == K::kBool && v.boolean; }},
      {"false", [](const Value& v, const Args&) { return v.kind == K::kBool && !v.boolean; }},
      {"mapping", [](const Value& v, const Args&) { return v.kind == K::kDict; }},
      {"iterable",
       [](const Value& v, const Args&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.kind == K::kDict;
       }},
      {"sequence",
       [](const Value& v, const Args&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.kind == K::kDict;
       }},
      {"callable", [](const Value& v, const Args&) { return v.kind == K::kFunction; }},
      {"even",
       [](const Value& v, const Args&) {
         if (!v.is_number()) throw RenderError("the test 'even' needs a number");
         return v.kind == K::kFloat ? std::fmod(v.number, 2) == 0 : v.as_int() % 2 == 0;
       }},
      {"odd",
       [](const Value& v, const Args&) {
         if (!v.is_number()) throw RenderError("the test 'odd' needs a number");
         return v.kind == K::kFloat ? std::fabs(std::fmod(v.number, 2)) == 1 : v.as_int() % 2 != 0;
       }},
      {"divisibleby",
       [](const Value& v, const Args& a) {
         const Value& n = Other(a, "divisibleby");
         if (!v.is_number() || !n.is_number())
           throw RenderError("the test 'divisibleby' needs numbers");
         if (n.as_double() == 0) throw RenderError("integer division or modulo by zero");
         if (v.kind == K::kFloat || n.kind == K::kFloat)
           return std::fmod(v.as_double(), n.as_double()) == 0;
         return v.as_int() % n.as_int() == 0;
       }},
      {"eq", [](const Value& v, const Args& a) { return Equal(v, Other(a, "eq")); }},
      {"ne", [](const Value& v, const Args& a) { return !Equal(v, Other(a, "ne")); }},
      {"lt", [](const Value& v, const Args& a) { return Less(v, Other(a, "lt")); }},
      {"le", [](const Value& v, const Args& a) { return !Less(Other(a, "le"), v); }},
      {"gt", [](const Value& v, const Args& a) { return Less(Other(a, "gt"), v); }},
      {"ge", [](const Value& v, const Args& a) { return !Less(v, Other(a, "ge")); }},
      {"in",
       [](const Value& v, const Args& a) {
         const Value& seq = Other(a, "in");
         if (seq.is_string()) {
           if (!v.is_string())
             throw RenderError("'in <string>' requires string as left operand, not " +
                               v.type_name());
           return seq.string.find(v.string) != std::string::npos;
         }
         if (seq.is_dict_like()) {
           if (v.kind == K::kList || v.kind == K::kDict)
             throw RenderError("unhashable type: '" + v.type_name() + "'");
           return seq.dict->find(v) != nullptr;
         }
         for (const Value& item : Iterate(seq)) {
           if (Equal(item, v)) return true;
         }
         return false;
       }},
      {"sameas",
       [](const Value& v, const Args& a) {
         const Value& o = Other(a, "sameas");
         if (v.kind != o.kind) return false;
         switch (v.kind) {
           case K::kNone:
           case K::kUndefined:
             return true;
           case K::kBool:
             return v.boolean == o.boolean;
           case K::kInt:
             return v.integer == o.integer && v.integer >= -5 && v.integer <= 256;
           case K::kList:
           case K::kTuple:
             return v.list == o.list;
           case K::kDict:
           case K::kNamespace:
             return v.dict == o.dict;
           case K::kFunction:
             return v.function == o.function;
           default:
             return false;
         }
       }},
      {"lower",
       [](const Value& v, const Args&) {
         return v.is_string() && Lower(v.string) == v.string && Upper(v.string) != v.string;
       }},
      {"upper",
       [](const Value& v, const Args&) {
         return v.is_string() && Upper(v.string) == v.string && Lower(v.string) != v.string;
       }},
  };
  return *tests;
}

std::string Canonical(const std::string& name) {
  static const std::map<std::string, std::string> kAliases = {
      {"==", "eq"}, {"equalto", "eq"}, {"!=", "ne"},          {"<", "lt"}, {"lessthan", "lt"},
      {"<=", "le"}, {">", "gt"},       {"greaterthan", "gt"}, {">=", "ge"}};
  auto it = kAliases.find(name);
  return it == kAliases.end() ? name : it->second;
}

}  // namespace

bool HasTest(const std::string& name) { return Tests().count(Canonical(name)) > 0; }

bool ApplyTest(const std::string& name, const Value& value, const Args& args) {
  auto it = Tests().find(Canonical(name));
  if (it == Tests().end()) throw RenderError("no test named '" + name + "'");
  return it->second(value, args);
}

}  // namespace ferry::lm::jinja
