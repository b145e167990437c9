// The expression operators with Python's semantics: + - * / // % ** ~ and `in`.

#include <cmath>
#include <cstdint>

#include "client/lm/jinja/builtins.h"

namespace ferry::lm::jinja {
namespace {

std::string Operands(const char* op, const Value& a, const Value& b) {
  return std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() + "' and '" +
         b.type_name() + "'";
}

// Python's ints do not overflow; an int64 result that would throws instead.
int64_t Checked(bool overflowed, int64_t value) {
  if (overflowed) throw RenderError("integer overflow (the result does not fit in 64 bits)");
  return value;
}
int64_t Add(int64_t a, int64_t b) {
  int64_t r;
  const bool overflowed = __builtin_add_overflow(a, b, &r);
  return Checked(overflowed, r);
}
int64_t Sub(int64_t a, int64_t b) {
  int64_t r;
  const bool overflowed = __builtin_sub_overflow(a, b, &r);
  return Checked(overflowed, r);
}
int64_t Mul(int64_t a, int64_t b) {
  int64_t r;
  const bool overflowed = __builtin_mul_overflow(a, b, &r);
  return Checked(overflowed, r);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) Checked(true, 0);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value Repeat(const Value& seq, int64_t n) {
  const size_t size = seq.is_string() ? seq.string.size() : seq.list->size();
  if (n > 0 && size > 0 && static_cast<uint64_t>(n) > (uint64_t{1} << 28) / size) {
    throw RenderError("the repeated sequence would be too large");
  }
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.string;
    return Value::String(out);
  }
  List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return Value::MakeList(std::move(out), seq.kind);
}

// Python's "format" % args for %s, %r, %d, %i and %%: args a tuple, or one value.
Value Percent(const std::string& format, const Value& args) {
  List values = args.kind == Value::Kind::kTuple ? *args.list : List{args};
  // A mapping-like argument (dict, list, Undefined) with no fields formats nothing.
  const bool mapping_like =
      args.kind == Value::Kind::kDict || args.kind == Value::Kind::kList || args.is_undefined();
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i == format.size()) throw RenderError("incomplete format");
    const char c = format[i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (c != 's' && c != 'r' && c != 'd' && c != 'i') {
      throw RenderError(std::string("the format %") + c + " is not supported");
    }
    if (next >= values.size()) throw RenderError("not enough arguments for format string");
    const Value& v = values[next++];
    if (c == 's') {
      out += v.str();
    } else if (c == 'r') {
      out += v.repr();
    } else {
      if (!v.is_number())
        throw RenderError("%d format: a real number is required, not " + v.type_name());
      if (v.kind == Value::Kind::kFloat && !(std::fabs(v.number) < 9.2e18)) {
        throw RenderError("%d of a float beyond 64-bit integers is not supported");
      }
      out += std::to_string(v.kind == Value::Kind::kFloat ? static_cast<int64_t>(v.number)
                                                          : v.as_int());
    }
  }
  if (next < values.size() && !(next == 0 && mapping_like)) {
    throw RenderError("not all arguments converted during string formatting");
  }
  return Value::String(out);
}

}  // namespace

Value Arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value::String(a.str() + b.str());
  if (op == "%" && a.is_string()) return Percent(a.string, b);
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.kind == Value::Kind::kFloat || b.kind == Value::Kind::kFloat);
  if (op == "+") {
    if (numbers)
      return floats ? Value::Float(a.as_double() + b.as_double())
                    : Value::Int(Add(a.as_int(), b.as_int()));
    if (a.is_string()) {
      if (!b.is_string())
        throw RenderError("can only concatenate str (not \"" + b.type_name() + "\") to str");
      return Value::String(a.string + b.string);
    }
    if (a.is_list() && b.kind == a.kind) {
      List out = *a.list;
      out.insert(out.end(), b.list->begin(), b.list->end());
      return Value::MakeList(std::move(out), a.kind);
    }
    if (a.is_list()) {
      throw RenderError("can only concatenate " + a.type_name() + " (not \"" + b.type_name() +
                        "\") to " + a.type_name());
    }
    throw RenderError(Operands("+", a, b));
  }
  if (op == "*") {
    if (numbers)
      return floats ? Value::Float(a.as_double() * b.as_double())
                    : Value::Int(Mul(a.as_int(), b.as_int()));
    if ((a.is_string() || a.is_list()) && b.is_integral()) return Repeat(a, b.as_int());
    if (a.is_integral() && (b.is_string() || b.is_list())) return Repeat(b, a.as_int());
    throw RenderError(Operands("*", a, b));
  }
  if (!numbers) throw RenderError(Operands(op.c_str(), a, b));
  if (op == "-")
    return floats ? Value::Float(a.as_double() - b.as_double())
                  : Value::Int(Sub(a.as_int(), b.as_int()));
  if (op == "/") {
    if (b.as_double() == 0) throw RenderError("division by zero");
    return Value::Float(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0) throw RenderError("integer division or modulo by zero");
    if (!floats) {
      const int64_t q = FloorDiv(a.as_int(), b.as_int());
      return op == "//" ? Value::Int(q) : Value::Int(Sub(a.as_int(), Mul(q, b.as_int())));
    }
    // CPython's float divmod, so 7 // 0.1 is 69.0 as there.
    const double x = a.as_double(), y = b.as_double();
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0) {
      if ((y < 0) != (mod < 0)) {
        mod += y;
        div -= 1.0;
      }
    } else {
      mod = std::copysign(0.0, y);
    }
    double floor_div = std::copysign(0.0, x / y);
    if (div != 0) {
      floor_div = std::floor(div);
      if (div - floor_div > 0.5) floor_div += 1.0;
    }
    return Value::Float(op == "//" ? floor_div : mod);
  }
  if (op == "**") {
    if (!floats && b.as_int() >= 0) {
      int64_t result = 1;
      for (int64_t i = 0; i < b.as_int() && result != 0 && (result != 1 || a.as_int() != 1); ++i) {
        result = Mul(result, a.as_int());  // throws past 64 bits, so at most 63 rounds
        if (result == -1 && a.as_int() == -1) return Value::Int(b.as_int() % 2 ? -1 : 1);
      }
      return Value::Int(result);
    }
    return Value::Float(std::pow(a.as_double(), b.as_double()));
  }
  throw RenderError("unknown operator " + op);
}

bool Contains(const Value& container, const Value& item) {
  Args args;
  args.positional.push_back(container);
  return ApplyTest("in", item, args);
}

}  // namespace ferry::lm::jinja
