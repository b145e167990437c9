#ifndef FERRY_CLIENT_LM_JINJA_AST_H_
#define FERRY_CLIENT_LM_JINJA_AST_H_

// The parsed template: expressions and statements, each with its source line.

#include <memory>
#include <string>
#include <vector>

#include "client/lm/jinja/value.h"

namespace ferry::lm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // value
    kName,      // name
    kList,      // children
    kTuple,     // children
    kDict,      // children: key, value, key, value...
    kGetAttr,   // children[0].name
    kGetItem,   // children[0][children[1]]
    kSlice,     // children[0][children[1]:children[2]:children[3]] (null where left out)
    kUnary,     // name ("-", "+", "not") children[0]
    kBinary,    // children[0] name children[1]: + - * / // % ** ~ and or
    kCompare,   // children[0] ops[0] children[1] ops[1] children[2]...
    kTest,      // children[0] is [not: negated] name(args)
    kFilter,    // children[0] | name(args)
    kCall,      // children[0](args)
    kCondition  // children[0] if children[1] else children[2] (null: undefined)
  };
  Kind kind;
  int line;
  Value value;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::string> ops;
  bool negated = false;
  // kTest, kFilter, kCall: the arguments are children[1...]; the last keywords.size() of them
  // are keyword arguments under these names.
  std::vector<std::string> keywords;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // conditions[i] -> bodies[i]; a last body without condition is the else
    kFor,          // for targets in expr [if condition]: bodies[0] [else bodies[1]]
    kSet,          // set targets = expr, or set object.attribute = expr (attribute non-empty)
    kSetBlock,     // set targets[0] %}bodies[0]{% endset
    kMacro,        // macro name(targets = defaults) bodies[0]
    kCallBlock,    // call(targets) expr %}bodies[0]{% endcall (the body is `caller`)
    kFilterBlock,  // filter expr (applied to the rendered bodies[0], read as `name`)
    kWith,         // with targets = defaults: bodies[0]
    kBreak,
    kContinue,
    kScope  // bodies[0] as is ({% generation %}, transformers' assistant-mask tag)
  };
  Kind kind;
  int line;
  std::string text;
  std::string name;
  std::string attribute;
  ExprPtr expr;
  ExprPtr condition;
  std::vector<std::string> targets;
  std::vector<ExprPtr> defaults;    // macro parameters' defaults (null: none), with values
  std::vector<ExprPtr> conditions;  // kIf
  std::vector<Body> bodies;
};

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_AST_H_
