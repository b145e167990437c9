// The globals transformers gives chat templates: raise_exception, strftime_now, namespace,
// dict, and jinja2's range.

#include <ctime>

#include "client/lm/jinja/builtins.h"

namespace ferry::lm::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2's sandbox MAX_RANGE

Value Namespace(const Args& args, bool is_namespace) {
  Dict dict;
  for (const Value& mapping : args.positional) {
    if (!mapping.is_mapping())
      throw RenderError("namespace() and dict() take mappings and keywords");
    for (const auto& [key, value] : mapping.dict->items) dict.set(key, value);
  }
  for (const auto& [key, value] : args.keywords) {
    if (is_namespace && !key.empty() && key[0] == '_') {
      throw RenderError(
          "chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
          key + "'");
    }
    dict.set(Value::String(key), value);
  }
  return Value::MakeDict(std::move(dict),
                         is_namespace ? Value::Kind::kNamespace : Value::Kind::kDict);
}

Value Range(const Args& args) {
  if (args.positional.empty() || args.positional.size() > 3)
    throw RenderError("range expected 1 to 3 arguments");
  for (const Value& v : args.positional) {
    if (!v.is_integral())
      throw RenderError("'" + v.type_name() + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop, step = 1;
  if (args.positional.size() == 1) {
    stop = args.positional[0].as_int();
  } else {
    start = args.positional[0].as_int();
    stop = args.positional[1].as_int();
    if (args.positional.size() == 3) step = args.positional[2].as_int();
  }
  if (step == 0) throw RenderError("range() arg 3 must not be zero");
  List items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) {
      throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    items.push_back(Value::Int(i));
    if (__builtin_add_overflow(i, step, &i)) break;
  }
  return Value::MakeList(std::move(items));
}

Value StrftimeNow(const Args& args) {
  const Value* format = args.get(0, "format");
  if (!format || !format->is_string()) throw RenderError("strftime_now takes a format string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[512];
  const size_t n = std::strftime(buffer, sizeof(buffer), format->string.c_str(), &local);
  return Value::String(std::string(buffer, n));
}

}  // namespace

std::vector<std::pair<std::string, Value>> Globals() {
  return {
      {"raise_exception", Value::MakeFunction([](const Args& args) -> Value {
         const Value* message = args.get(0, "message");
         throw RenderError(message ? message->str() : "raise_exception");
       })},
      {"strftime_now", Value::MakeFunction(StrftimeNow)},
      {"namespace", Value::MakeFunction([](const Args& a) { return Namespace(a, true); })},
      {"dict", Value::MakeFunction([](const Args& a) { return Namespace(a, false); })},
      {"range", Value::MakeFunction(Range)},
  };
}

}  // namespace ferry::lm::jinja
