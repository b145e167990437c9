// Renders the parsed statements: scopes, control flow, macros, and the expression operators.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include "client/error.h"
#include "client/lm/jinja/ast.h"
#include "client/lm/jinja/builtins.h"
#include "client/lm/jinja/lexer.h"
#include "client/lm/jinja/parser.h"
#include "client/lm/jinja/template.h"

namespace ferry::lm::jinja {
namespace {

constexpr int kMaxCallDepth = 100;

// Variables of one scope: the globals, the template's top level, a macro call, a loop pass.
// A lookup falls back to the enclosing scope; an assignment stays in its own.
struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};
using FramePtr = std::shared_ptr<Frame>;

[[noreturn]] void Fail(int line, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "[jinja] line " + std::to_string(line) + ": " + what);
}

class Interpreter {
 public:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow Exec(const Body& body, const FramePtr& frame, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow flow = ExecNode(*node, frame, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

 private:
  static FramePtr Child(const FramePtr& parent) {
    auto frame = std::make_shared<Frame>();
    frame->parent = parent;
    return frame;
  }

  static Value Lookup(const std::string& name, const FramePtr& frame) {
    for (const Frame* f = frame.get(); f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return it->second;
    }
    return Value::Undefined("'" + name + "' is undefined");
  }

  static void Unpack(const std::vector<std::string>& targets, const Value& value, Frame& frame) {
    if (targets.size() == 1) {
      frame.vars[targets[0]] = value;
      return;
    }
    const List items = Iterate(value);
    if (items.size() != targets.size()) {
      throw RenderError(
          items.size() > targets.size()
              ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
              : "not enough values to unpack (expected " + std::to_string(targets.size()) +
                    ", got " + std::to_string(items.size()) + ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) frame.vars[targets[i]] = items[i];
  }

  Flow ExecNode(const Node& node, const FramePtr& frame, std::string& out) {
    try {
      return ExecNodeUnchecked(node, frame, out);
    } catch (const RenderError& e) {
      Fail(node.line, e.what());
    }
  }

  Flow ExecNodeUnchecked(const Node& node, const FramePtr& frame, std::string& out) {
    switch (node.kind) {
      case Node::Kind::kText:
        out += node.text;
        return Flow::kNormal;
      case Node::Kind::kOutput:
        out += Eval(*node.expr, frame).str();
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (size_t i = 0; i < node.bodies.size(); ++i) {
          if (i == node.conditions.size() || Eval(*node.conditions[i], frame).truthy()) {
            return Exec(node.bodies[i], frame, out);
          }
        }
        return Flow::kNormal;
      case Node::Kind::kFor:
        For(node, frame, out);
        return Flow::kNormal;
      case Node::Kind::kSet: {
        Value value = Eval(*node.expr, frame);
        if (!node.attribute.empty()) {
          const Value target = Lookup(node.name, frame);
          if (target.kind != Value::Kind::kNamespace) {
            throw RenderError("cannot assign attribute on non-namespace object");
          }
          target.dict->set(Value::String(node.attribute), std::move(value));
        } else {
          Unpack(node.targets, value, *frame);
        }
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        std::string text;
        Exec(node.bodies[0], Child(frame), text);
        frame->vars[node.targets[0]] = Value::String(text);
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        frame->vars[node.name] = Macro(node, frame, node.name);
        return Flow::kNormal;
      case Node::Kind::kCallBlock: {
        const Expr& call = *node.expr;
        Value callee = Eval(*call.children[0], frame);
        Args args = Arguments(call, frame);
        args.keywords.emplace_back("caller", Macro(node, frame, "caller"));
        out += Call(callee, args).str();
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        FramePtr inner = Child(frame);
        std::string text;
        Exec(node.bodies[0], inner, text);
        inner->vars[node.name] = Value::String(text);
        out += Eval(*node.expr, inner).str();
        return Flow::kNormal;
      }
      case Node::Kind::kWith: {
        FramePtr inner = Child(frame);
        for (size_t i = 0; i < node.targets.size(); ++i) {
          inner->vars[node.targets[i]] = Eval(*node.defaults[i], frame);
        }
        return Exec(node.bodies[0], inner, out);
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kScope:
        return Exec(node.bodies[0], frame, out);
    }
    return Flow::kNormal;
  }

  void For(const Node& node, const FramePtr& frame, std::string& out) {
    List items = Iterate(Eval(*node.expr, frame));
    if (node.condition) {
      // The `if` filter runs before the loop counts, so loop.* sees only the kept items.
      List kept;
      for (Value& item : items) {
        FramePtr probe = Child(frame);
        Unpack(node.targets, item, *probe);
        if (Eval(*node.condition, probe).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const int64_t n = items.size();
    for (int64_t i = 0; i < n; ++i) {
      FramePtr inner = Child(frame);
      Unpack(node.targets, items[i], *inner);
      Dict loop;
      auto set = [&](const char* key, Value v) {
        loop.items.emplace_back(Value::String(key), std::move(v));
      };
      set("index", Value::Int(i + 1));
      set("index0", Value::Int(i));
      set("revindex", Value::Int(n - i));
      set("revindex0", Value::Int(n - i - 1));
      set("first", Value::Bool(i == 0));
      set("last", Value::Bool(i == n - 1));
      set("length", Value::Int(n));
      set("depth", Value::Int(1));
      set("depth0", Value::Int(0));
      if (i > 0) set("previtem", items[i - 1]);
      if (i + 1 < n) set("nextitem", items[i + 1]);
      set("cycle", Value::MakeFunction([i](const Args& args) {
            if (args.positional.empty()) throw RenderError("no items for cycling given");
            return args.positional[i % args.positional.size()];
          }));
      inner->vars["loop"] = Value::MakeDict(std::move(loop));
      if (Exec(node.bodies[0], inner, out) == Flow::kBreak) break;
    }
    if (n == 0 && node.bodies.size() > 1) Exec(node.bodies[1], frame, out);
  }

  // A macro (or a call block's caller): a function rendering the body with its parameters
  // bound, in a scope under the one it was defined in.
  Value Macro(const Node& node, const FramePtr& defined_in, const std::string& name) {
    std::weak_ptr<Frame> closure = defined_in;  // the frame holds the macro: no cycle
    const Body& body = node.bodies[0];
    return Value::MakeFunction([this, &node, &body, closure, name](const Args& args) -> Value {
      FramePtr parent = closure.lock();
      if (!parent) throw RenderError("macro '" + name + "' called after its scope ended");
      if (depth_ >= kMaxCallDepth)
        throw RenderError("maximum recursion depth exceeded in macro '" + name + "'");
      ++depth_;
      struct Restore {
        int& depth;
        ~Restore() { --depth; }
      } restore{depth_};
      FramePtr frame = Child(parent);
      if (args.positional.size() > node.targets.size()) {
        throw RenderError("macro '" + name + "' takes not more than " +
                          std::to_string(node.targets.size()) + " argument(s)");
      }
      for (const auto& [key, value] : args.keywords) {
        if (key == "caller") {
          frame->vars["caller"] = value;
          continue;
        }
        if (std::find(node.targets.begin(), node.targets.end(), key) == node.targets.end()) {
          throw RenderError("macro '" + name + "' takes no keyword argument '" + key + "'");
        }
      }
      for (size_t i = 0; i < node.targets.size(); ++i) {
        const std::string& param = node.targets[i];
        const Value* given = i < args.positional.size() ? &args.positional[i] : nullptr;
        for (const auto& [key, value] : args.keywords) {
          if (key == param) given = &value;
        }
        if (given)
          frame->vars[param] = *given;
        else if (node.defaults[i])
          frame->vars[param] = Eval(*node.defaults[i], frame);
        else
          frame->vars[param] = Value::Undefined("parameter '" + param + "' was not provided");
      }
      std::string out;
      Exec(body, frame, out);
      return Value::String(out);
    });
  }

  Args Arguments(const Expr& e, const FramePtr& frame) {
    Args args;
    const size_t keywords = e.keywords.size();
    const size_t positional = e.children.size() - 1 - keywords;
    for (size_t i = 0; i < positional; ++i)
      args.positional.push_back(Eval(*e.children[1 + i], frame));
    for (size_t i = 0; i < keywords; ++i) {
      args.keywords.emplace_back(e.keywords[i], Eval(*e.children[1 + positional + i], frame));
    }
    return args;
  }

  static Value Call(const Value& callee, const Args& args) {
    if (callee.is_undefined()) FailUndefined(callee);
    if (callee.kind != Value::Kind::kFunction) {
      throw RenderError("'" + callee.type_name() + "' object is not callable");
    }
    return (*callee.function)(args);
  }

  Value Eval(const Expr& e, const FramePtr& frame) {
    try {
      return EvalUnchecked(e, frame);
    } catch (const RenderError& error) {
      Fail(e.line, error.what());
    }
  }

  Value EvalUnchecked(const Expr& e, const FramePtr& frame) {
    using K = Expr::Kind;
    switch (e.kind) {
      case K::kLiteral:
        return e.value;
      case K::kName:
        return Lookup(e.name, frame);
      case K::kList:
      case K::kTuple: {
        List items;
        for (const ExprPtr& child : e.children) items.push_back(Eval(*child, frame));
        return Value::MakeList(std::move(items),
                               e.kind == K::kList ? Value::Kind::kList : Value::Kind::kTuple);
      }
      case K::kDict: {
        Dict dict;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          dict.set(Eval(*e.children[i], frame), Eval(*e.children[i + 1], frame));
        }
        return Value::MakeDict(std::move(dict));
      }
      case K::kGetAttr:
        return GetAttr(Eval(*e.children[0], frame), e.name);
      case K::kGetItem:
        return GetItem(Eval(*e.children[0], frame), Eval(*e.children[1], frame));
      case K::kSlice: {
        const Value obj = Eval(*e.children[0], frame);
        Value bounds[3];
        const Value* parts[3] = {nullptr, nullptr, nullptr};
        for (int i = 0; i < 3; ++i) {
          if (e.children[1 + i]) {
            bounds[i] = Eval(*e.children[1 + i], frame);
            parts[i] = &bounds[i];
          }
        }
        return Slice(obj, parts[0], parts[1], parts[2]);
      }
      case K::kUnary: {
        const Value v = Eval(*e.children[0], frame);
        if (e.name == "not") return Value::Bool(!v.truthy());
        if (v.is_undefined()) FailUndefined(v);
        if (!v.is_number())
          throw RenderError("bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
        if (e.name == "+") return v.kind == Value::Kind::kFloat ? v : Value::Int(v.as_int());
        return v.kind == Value::Kind::kFloat ? Value::Float(-v.number)
                                             : Arithmetic("-", Value::Int(0), v);
      }
      case K::kBinary: {
        Value left = Eval(*e.children[0], frame);
        if (e.name == "and") return left.truthy() ? Eval(*e.children[1], frame) : left;
        if (e.name == "or") return left.truthy() ? left : Eval(*e.children[1], frame);
        return Arithmetic(e.name, left, Eval(*e.children[1], frame));
      }
      case K::kCompare: {
        Value left = Eval(*e.children[0], frame);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = Eval(*e.children[i + 1], frame);
          const std::string& op = e.ops[i];
          bool result;
          if (op == "==")
            result = Equal(left, right);
          else if (op == "!=")
            result = !Equal(left, right);
          else if (op == "in")
            result = Contains(right, left);
          else if (op == "not in")
            result = !Contains(right, left);
          else {
            if (left.is_undefined()) FailUndefined(left);
            if (right.is_undefined()) FailUndefined(right);
            if (op == "<")
              result = Less(left, right);
            else if (op == ">")
              result = Less(right, left);
            else if (op == "<=")
              result = !Less(right, left);
            else
              result = !Less(left, right);
          }
          if (!result) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case K::kTest: {
        const Value v = Eval(*e.children[0], frame);
        const bool result = ApplyTest(e.name, v, Arguments(e, frame));
        return Value::Bool(result != e.negated);
      }
      case K::kFilter:
        return ApplyFilter(e.name, Eval(*e.children[0], frame), Arguments(e, frame));
      case K::kCall: {
        const Value callee = Eval(*e.children[0], frame);
        return Call(callee, Arguments(e, frame));
      }
      case K::kCondition:
        if (Eval(*e.children[1], frame).truthy()) return Eval(*e.children[0], frame);
        if (e.children[2]) return Eval(*e.children[2], frame);
        return Value::Undefined(
            "the inline if expression's condition was false and it has no else");
    }
    return Value();
  }

  int depth_ = 0;
};

}  // namespace

Template::Template(const std::string& source)
    : body_(std::make_shared<const Body>(Parse(Tokenize(source)))) {}

std::string Template::render(const nlohmann::ordered_json& variables) const {
  auto globals = std::make_shared<Frame>();
  for (auto& [name, value] : Globals()) globals->vars[name] = std::move(value);
  if (!variables.is_null() && !variables.is_object()) {
    throw Error(ErrorCode::kInvalidArgument, "[jinja] the variables must be a JSON object");
  }
  try {
    if (variables.is_object()) {
      for (const auto& [name, value] : variables.items())
        globals->vars[name] = Value::FromJson(value);
    }
  } catch (const RenderError& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string("[jinja] ") + e.what());
  }
  auto top = std::make_shared<Frame>();
  top->parent = globals;
  std::string out;
  Interpreter().Exec(*body_, top, out);
  return out;
}

}  // namespace ferry::lm::jinja
