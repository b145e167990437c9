#include "client/lm/jinja/parser.h"

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>

#include "client/error.h"

namespace ferry::lm::jinja {
namespace {

constexpr int kMaxDepth = 256;
constexpr int kMaxChain = 1024;

using K = Token::Kind;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Body Template() {
    Body body = Statements({});
    if (Peek().kind != K::kEnd) {
      Fail(Peek().line, "unexpected '" + Peek().text + "'");
    }
    return body;
  }

 private:
  [[noreturn]] void Fail(int line, const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument,
                "[jinja] line " + std::to_string(line) + ": " + what + ".");
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == K::kOperator && Peek(ahead).text == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == K::kName && Peek(ahead).text == name;
  }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case K::kEnd:
        return "end of template";
      case K::kBlockEnd:
        return "end of statement block";
      case K::kVariableEnd:
        return "end of print statement";
      case K::kString:
        return "string";
      default:
        return t.text;
    }
  }
  void ExpectOp(const char* op) {
    if (!SkipOp(op))
      Fail(Peek().line, std::string("expected '") + op + "', got '" + Describe(Peek()) + "'");
  }
  std::string ExpectName() {
    if (Peek().kind != K::kName)
      Fail(Peek().line, "expected a name, got '" + Describe(Peek()) + "'");
    return Next().text;
  }
  void ExpectBlockEnd() {
    if (Peek().kind != K::kBlockEnd) {
      Fail(Peek().line, "expected end of statement block, got '" + Describe(Peek()) + "'");
    }
    Next();
  }

  // Statements up to `{% name` for a name in `ends` (consumed, the name left to read).
  Body Statements(const std::set<std::string>& ends) {
    if (++nesting_ > kMaxDepth) Fail(Peek().line, "blocks nested too deeply");
    Body body;
    while (true) {
      const Token& t = Peek();
      if (t.kind == K::kEnd) {
        if (!ends.empty()) {
          std::string closing = *ends.begin();
          for (const std::string& end : ends) {
            if (end.rfind("end", 0) == 0) closing = end;
          }
          Fail(t.line, "unexpected end of template, expected '" + closing + "'");
        }
        break;
      }
      if (t.kind == K::kText) {
        auto node = MakeNode(Node::Kind::kText, t.line);
        node->text = Next().text;
        body.push_back(std::move(node));
      } else if (t.kind == K::kVariableBegin) {
        Next();
        auto node = MakeNode(Node::Kind::kOutput, t.line);
        node->expr = TupleOrExpression();
        if (Peek().kind != K::kVariableEnd) {
          Fail(Peek().line, "expected end of print statement, got '" + Describe(Peek()) + "'");
        }
        Next();
        body.push_back(std::move(node));
      } else if (t.kind == K::kBlockBegin) {
        if (Peek(1).kind == K::kName && ends.count(Peek(1).text)) {
          Next();
          break;
        }
        Next();
        body.push_back(Statement());
      } else {
        Fail(t.line, "unexpected '" + Describe(t) + "'");
      }
    }
    --nesting_;
    return body;
  }

  NodePtr MakeNode(Node::Kind kind, int line) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->line = line;
    return node;
  }

  NodePtr Statement() {
    const Token& t = Peek();
    if (t.kind != K::kName) Fail(t.line, "tag name expected");
    const std::string tag = Next().text;
    if (tag == "if") return If(t.line);
    if (tag == "for") return For(t.line);
    if (tag == "set") return Set(t.line);
    if (tag == "macro") return Macro(t.line);
    if (tag == "call") return CallBlock(t.line);
    if (tag == "filter") return FilterBlock(t.line);
    if (tag == "with") return With(t.line);
    if (tag == "generation") {
      auto node = MakeNode(Node::Kind::kScope, t.line);
      ExpectBlockEnd();
      node->bodies.push_back(Statements({"endgeneration"}));
      Next();
      ExpectBlockEnd();
      return node;
    }
    if (tag == "break" || tag == "continue") {
      if (loops_ == 0) Fail(t.line, "'" + tag + "' outside of a loop");
      ExpectBlockEnd();
      return MakeNode(tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, t.line);
    }
    static const std::set<std::string> kUnsupported = {"include", "extends", "block",      "import",
                                                       "from",    "raw",     "autoescape", "do"};
    if (kUnsupported.count(tag)) Fail(t.line, "the tag '" + tag + "' is not supported");
    if (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else") {
      Fail(t.line, "unexpected '" + tag + "'");
    }
    Fail(t.line, "unknown tag '" + tag + "'");
  }

  NodePtr If(int line) {
    auto node = MakeNode(Node::Kind::kIf, line);
    node->conditions.push_back(Expression());
    ExpectBlockEnd();
    while (true) {
      node->bodies.push_back(Statements({"elif", "else", "endif"}));
      const std::string tag = Next().text;
      if (tag == "elif") {
        node->conditions.push_back(Expression());
        ExpectBlockEnd();
      } else if (tag == "else") {
        ExpectBlockEnd();
        node->bodies.push_back(Statements({"endif"}));
        Next();
        ExpectBlockEnd();
        return node;
      } else {
        ExpectBlockEnd();
        return node;
      }
    }
  }

  std::vector<std::string> Targets() {
    std::vector<std::string> names;
    const bool paren = SkipOp("(");
    do {
      if (!names.empty() && (IsName("in") || IsOp("=") || IsOp(")"))) break;  // trailing comma
      names.push_back(ExpectName());
    } while (SkipOp(","));
    if (paren) ExpectOp(")");
    return names;
  }

  NodePtr For(int line) {
    auto node = MakeNode(Node::Kind::kFor, line);
    node->targets = Targets();
    if (!SkipName("in")) Fail(Peek().line, "expected 'in', got '" + Describe(Peek()) + "'");
    node->expr = Tuple([this] { return Or(); });
    if (SkipName("if")) node->condition = Expression();
    if (IsName("recursive")) Fail(Peek().line, "recursive loops are not supported");
    ExpectBlockEnd();
    ++loops_;
    node->bodies.push_back(Statements({"else", "endfor"}));
    --loops_;
    if (Next().text == "else") {
      ExpectBlockEnd();
      node->bodies.push_back(Statements({"endfor"}));
      Next();
    }
    ExpectBlockEnd();
    return node;
  }

  NodePtr Set(int line) {
    auto node = MakeNode(Node::Kind::kSet, line);
    if (Peek().kind == K::kName && IsOp(".", 1)) {
      node->name = Next().text;
      Next();
      node->attribute = ExpectName();
    } else {
      node->targets = Targets();
    }
    if (SkipOp("=")) {
      node->expr = TupleOrExpression();
      ExpectBlockEnd();
      return node;
    }
    if (node->targets.size() != 1) Fail(line, "expected '='");
    node->kind = Node::Kind::kSetBlock;
    if (IsOp("|")) Fail(line, "filters on set blocks are not supported");
    ExpectBlockEnd();
    node->bodies.push_back(Statements({"endset"}));
    Next();
    ExpectBlockEnd();
    return node;
  }

  // "(a, b=1, ...)" of a macro or a call block's caller.
  void Parameters(Node& node) {
    ExpectOp("(");
    while (!SkipOp(")")) {
      if (!node.targets.empty()) ExpectOp(",");
      if (SkipOp(")")) break;
      node.targets.push_back(ExpectName());
      node.defaults.push_back(SkipOp("=") ? Expression() : nullptr);
    }
  }

  NodePtr Macro(int line) {
    auto node = MakeNode(Node::Kind::kMacro, line);
    node->name = ExpectName();
    Parameters(*node);
    ExpectBlockEnd();
    const int loops = loops_;
    loops_ = 0;
    node->bodies.push_back(Statements({"endmacro"}));
    loops_ = loops;
    Next();
    if (Peek().kind == K::kName) Next();  // {% endmacro name %}
    ExpectBlockEnd();
    return node;
  }

  NodePtr CallBlock(int line) {
    auto node = MakeNode(Node::Kind::kCallBlock, line);
    if (IsOp("(")) Parameters(*node);
    node->expr = Expression();
    if (node->expr->kind != Expr::Kind::kCall) Fail(line, "expected a call");
    ExpectBlockEnd();
    const int loops = loops_;
    loops_ = 0;
    node->bodies.push_back(Statements({"endcall"}));
    loops_ = loops;
    Next();
    ExpectBlockEnd();
    return node;
  }

  NodePtr FilterBlock(int line) {
    auto node = MakeNode(Node::Kind::kFilterBlock, line);
    node->name = " filtered";  // a name no template can spell
    auto input = MakeExpr(Expr::Kind::kName, line);
    input->name = node->name;
    node->expr = Filter(std::move(input));
    while (SkipOp("|")) node->expr = Filter(std::move(node->expr));
    ExpectBlockEnd();
    node->bodies.push_back(Statements({"endfilter"}));
    Next();
    ExpectBlockEnd();
    return node;
  }

  NodePtr With(int line) {
    auto node = MakeNode(Node::Kind::kWith, line);
    while (Peek().kind != K::kBlockEnd) {
      if (!node->targets.empty()) ExpectOp(",");
      node->targets.push_back(ExpectName());
      ExpectOp("=");
      node->defaults.push_back(Expression());
    }
    ExpectBlockEnd();
    node->bodies.push_back(Statements({"endwith"}));
    Next();
    ExpectBlockEnd();
    return node;
  }

  // ---- Expressions ----

  ExprPtr MakeExpr(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // Operator chains (a + b + c..., x | f | g..., a.b.c...) nest the tree as deep as they are
  // long, and rendering recurses that deep: an expression gets at most kMaxChain links.
  void Chain(int line) {
    if (++chain_ > kMaxChain) Fail(line, "expression too long (over 1024 operators)");
  }

  class DepthGuard {
   public:
    DepthGuard(Parser& p, int line) : p_(p) {
      if (++p_.depth_ > kMaxDepth) p_.Fail(line, "expression nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }

   private:
    Parser& p_;
  };

  template <typename F>
  ExprPtr Tuple(F element) {
    const int line = Peek().line;
    ExprPtr first = element();
    if (!IsOp(",")) return first;
    auto tuple = MakeExpr(Expr::Kind::kTuple, line);
    tuple->children.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Peek().kind == K::kBlockEnd || Peek().kind == K::kVariableEnd || IsOp(")")) break;
      tuple->children.push_back(element());
    }
    return tuple;
  }
  ExprPtr TupleOrExpression() {
    return Tuple([this] { return Expression(); });
  }

  ExprPtr Expression() {
    DepthGuard guard(*this, Peek().line);
    if (depth_ == 1) chain_ = 0;
    ExprPtr e = Or();
    while (IsName("if")) {
      const int line = Next().line;
      auto cond = MakeExpr(Expr::Kind::kCondition, line);
      cond->children.push_back(std::move(e));
      cond->children.push_back(Or());
      cond->children.push_back(SkipName("else") ? Expression() : nullptr);
      e = std::move(cond);
    }
    return e;
  }

  ExprPtr Binary(ExprPtr left, const std::string& op, ExprPtr right, int line) {
    Chain(line);
    auto e = MakeExpr(Expr::Kind::kBinary, line);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr Or() {
    ExprPtr e = And();
    while (IsName("or")) {
      const int line = Next().line;
      e = Binary(std::move(e), "or", And(), line);
    }
    return e;
  }
  ExprPtr And() {
    ExprPtr e = Not();
    while (IsName("and")) {
      const int line = Next().line;
      e = Binary(std::move(e), "and", Not(), line);
    }
    return e;
  }
  ExprPtr Not() {
    if (IsName("not")) {
      DepthGuard guard(*this, Peek().line);
      auto e = MakeExpr(Expr::Kind::kUnary, Next().line);
      e->name = "not";
      e->children.push_back(Not());
      return e;
    }
    return Compare();
  }
  ExprPtr Compare() {
    const int line = Peek().line;
    ExprPtr first = Math1();
    ExprPtr e;
    while (true) {
      std::string op;
      if (Peek().kind == K::kOperator &&
          (Peek().text == "==" || Peek().text == "!=" || Peek().text == "<" || Peek().text == ">" ||
           Peek().text == "<=" || Peek().text == ">=")) {
        op = Next().text;
      } else if (IsName("in")) {
        Next();
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        op = "not in";
      } else {
        break;
      }
      if (!e) {
        e = MakeExpr(Expr::Kind::kCompare, line);
        e->children.push_back(std::move(first));
      }
      Chain(line);
      e->ops.push_back(op);
      e->children.push_back(Math1());
    }
    return e ? std::move(e) : std::move(first);
  }
  ExprPtr Math1() {
    ExprPtr e = Concat();
    while (IsOp("+") || IsOp("-")) {
      const Token& t = Next();
      e = Binary(std::move(e), t.text, Concat(), t.line);
    }
    return e;
  }
  ExprPtr Concat() {
    ExprPtr e = Math2();
    while (IsOp("~")) {
      const int line = Next().line;
      e = Binary(std::move(e), "~", Math2(), line);
    }
    return e;
  }
  ExprPtr Math2() {
    ExprPtr e = Pow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token& t = Next();
      e = Binary(std::move(e), t.text, Pow(), t.line);
    }
    return e;
  }
  ExprPtr Pow() {
    ExprPtr e = Unary(true);
    while (IsOp("**")) {
      const int line = Next().line;
      e = Binary(std::move(e), "**", Unary(true), line);
    }
    return e;
  }
  ExprPtr Unary(bool with_filter) {
    DepthGuard guard(*this, Peek().line);
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      const Token& t = Next();
      e = MakeExpr(Expr::Kind::kUnary, t.line);
      e->name = t.text;
      e->children.push_back(Unary(false));
    } else {
      e = Primary();
    }
    e = Postfix(std::move(e));
    if (with_filter) e = FilterExpr(std::move(e));
    return e;
  }

  ExprPtr Primary() {
    const Token& t = Peek();
    switch (t.kind) {
      case K::kName: {
        Next();
        auto e = MakeExpr(Expr::Kind::kLiteral, t.line);
        if (t.text == "true" || t.text == "True")
          e->value = Value::Bool(true);
        else if (t.text == "false" || t.text == "False")
          e->value = Value::Bool(false);
        else if (t.text == "none" || t.text == "None")
          e->value = Value::None();
        else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case K::kString: {
        std::string text;
        while (Peek().kind == K::kString) text += Next().text;  // "a" "b" is "ab"
        auto e = MakeExpr(Expr::Kind::kLiteral, t.line);
        e->value = Value::String(text);
        return e;
      }
      case K::kInteger:
      case K::kFloat: {
        Next();
        auto e = MakeExpr(Expr::Kind::kLiteral, t.line);
        if (t.kind == K::kFloat) {
          e->value = Value::Float(std::strtod(t.text.c_str(), nullptr));
        } else {
          errno = 0;
          const long long v = std::strtoll(t.text.c_str(), nullptr, 10);
          if (errno == ERANGE) Fail(t.line, "integer literal " + t.text + " is too large");
          e->value = Value::Int(v);
        }
        return e;
      }
      case K::kOperator:
        if (t.text == "(") {
          Next();
          if (SkipOp(")")) {
            auto e = MakeExpr(Expr::Kind::kTuple, t.line);
            return e;
          }
          ExprPtr e = Expression();
          if (IsOp(",")) {
            auto tuple = MakeExpr(Expr::Kind::kTuple, t.line);
            tuple->children.push_back(std::move(e));
            while (SkipOp(",")) {
              if (IsOp(")")) break;
              tuple->children.push_back(Expression());
            }
            e = std::move(tuple);
          }
          ExpectOp(")");
          return e;
        }
        if (t.text == "[") {
          Next();
          auto e = MakeExpr(Expr::Kind::kList, t.line);
          while (!SkipOp("]")) {
            if (!e->children.empty()) ExpectOp(",");
            if (SkipOp("]")) break;
            e->children.push_back(Expression());
          }
          return e;
        }
        if (t.text == "{") {
          Next();
          auto e = MakeExpr(Expr::Kind::kDict, t.line);
          while (!SkipOp("}")) {
            if (!e->children.empty()) ExpectOp(",");
            if (SkipOp("}")) break;
            e->children.push_back(Expression());
            ExpectOp(":");
            e->children.push_back(Expression());
          }
          return e;
        }
        break;
      default:
        break;
    }
    Fail(t.line, "unexpected '" + Describe(t) + "'");
  }

  ExprPtr Postfix(ExprPtr e) {
    while (true) {
      const int line = Peek().line;
      if (IsOp(".") || IsOp("[") || IsOp("(")) Chain(line);
      if (SkipOp(".")) {
        if (Peek().kind == K::kInteger) {
          auto item = MakeExpr(Expr::Kind::kGetItem, line);
          auto index = MakeExpr(Expr::Kind::kLiteral, line);
          index->value = Value::Int(std::strtoll(Next().text.c_str(), nullptr, 10));
          item->children.push_back(std::move(e));
          item->children.push_back(std::move(index));
          e = std::move(item);
          continue;
        }
        auto attr = MakeExpr(Expr::Kind::kGetAttr, line);
        attr->name = ExpectName();
        attr->children.push_back(std::move(e));
        e = std::move(attr);
      } else if (SkipOp("[")) {
        e = Subscript(std::move(e), line);
      } else if (IsOp("(")) {
        e = Call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr Subscript(ExprPtr target, int line) {
    ExprPtr parts[3];
    bool slice = false;
    for (int i = 0; i < 3; ++i) {
      if (!IsOp(":") && !IsOp("]")) parts[i] = Expression();
      if (i < 2 && SkipOp(":")) {
        slice = true;
        continue;
      }
      break;
    }
    ExpectOp("]");
    auto e = MakeExpr(slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, line);
    e->children.push_back(std::move(target));
    if (!slice && !parts[0]) Fail(line, "expected an index");
    e->children.push_back(std::move(parts[0]));
    if (slice) {
      e->children.push_back(std::move(parts[1]));
      e->children.push_back(std::move(parts[2]));
    }
    return e;
  }

  // "(args)" into e's children after children[0] (keywords last, as Python requires).
  void Arguments(Expr& e) {
    ExpectOp("(");
    bool first = true;
    while (!SkipOp(")")) {
      if (!first) ExpectOp(",");
      first = false;
      if (SkipOp(")")) break;
      if (IsOp("*") || IsOp("**")) Fail(Peek().line, "*args and **kwargs are not supported");
      if (Peek().kind == K::kName && IsOp("=", 1)) {
        e.keywords.push_back(Next().text);
        Next();
        e.children.push_back(Expression());
      } else {
        if (!e.keywords.empty()) Fail(Peek().line, "positional argument follows keyword argument");
        e.children.push_back(Expression());
      }
    }
  }

  ExprPtr Call(ExprPtr callee) {
    auto e = MakeExpr(Expr::Kind::kCall, Peek().line);
    e->children.push_back(std::move(callee));
    Arguments(*e);
    return e;
  }

  ExprPtr Filter(ExprPtr input) {
    const int line = Peek().line;
    auto e = MakeExpr(Expr::Kind::kFilter, line);
    e->name = ExpectName();
    while (SkipOp(".")) e->name += "." + ExpectName();
    e->children.push_back(std::move(input));
    if (IsOp("(")) Arguments(*e);
    return e;
  }

  ExprPtr FilterExpr(ExprPtr e) {
    while (true) {
      if (IsOp("|") || IsName("is") || IsOp("(")) Chain(Peek().line);
      if (SkipOp("|")) {
        e = Filter(std::move(e));
      } else if (IsName("is")) {
        const int line = Next().line;
        auto test = MakeExpr(Expr::Kind::kTest, line);
        test->negated = SkipName("not");
        test->name = ExpectName();
        while (SkipOp(".")) test->name += "." + ExpectName();
        test->children.push_back(std::move(e));
        const Token& t = Peek();
        if (IsOp("(")) {
          Arguments(*test);
        } else if ((t.kind == K::kName || t.kind == K::kString || t.kind == K::kInteger ||
                    t.kind == K::kFloat || IsOp("[") || IsOp("{")) &&
                   !(IsName("else") || IsName("or") || IsName("and"))) {
          // `x is divisibleby 3`, `x is sameas false`: one argument without parentheses.
          if (IsName("is")) Fail(t.line, "unexpected 'is'");
          test->children.push_back(Postfix(Primary()));
        }
        e = std::move(test);
      } else if (IsOp("(")) {
        e = Call(std::move(e));
      } else {
        return e;
      }
    }
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int chain_ = 0;
  int nesting_ = 0;
  int loops_ = 0;
};

}  // namespace

Body Parse(const std::vector<Token>& tokens) { return Parser(tokens).Template(); }

}  // namespace ferry::lm::jinja
