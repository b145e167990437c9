#ifndef FERRY_CLIENT_LM_JINJA_TEMPLATE_H_
#define FERRY_CLIENT_LM_JINJA_TEMPLATE_H_

// A Jinja2 template, rendered as jinja2 3.1 renders it in the environment Hugging Face
// transformers gives chat templates: ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True, extensions=[loopcontrols]), its tojson as json.dumps(ensure_ascii=False),
// and the globals raise_exception, strftime_now, namespace, dict and range.
//
// The language: text, {{ }}, {% %}, {# #}, whitespace control; if/elif/else, for (loop.*,
// else, `if` filters, unpacking), break/continue, set (names, tuples, namespace attributes,
// blocks), macro and call, filter blocks, with; literals, attribute and item access, slices,
// arithmetic, ~, comparisons, and/or/not, in, is-tests, inline if; the filters, tests and
// str/dict/list methods chat templates use. Left out: include/extends/import/block, raw,
// recursive loops, *args/**kwargs, `%` formats other than %s %r %d %i, ints past 64 bits
// (they throw), case mapping outside Latin, Greek and Cyrillic.

#include <memory>
#include <string>

#include "nlohmann/json.hpp"

namespace ferry::lm::jinja {

struct Node;

class Template {
 public:
  // Parses source. Throws ferry::Error (INVALID_ARGUMENT) "[jinja] line N: ..." naming what
  // is malformed: an unknown tag, filter or test, a block left open, an unterminated string.
  explicit Template(const std::string& source);

  // The text the template renders with `variables` (a JSON object, each key a variable; key
  // order is kept, as Python's dicts keep it). Throws ferry::Error (INVALID_ARGUMENT)
  // "[jinja] line N: ..." on a runtime error: raise_exception(message) (the message as given),
  // an undefined value misused, a type error, macro recursion deeper than 100 calls.
  std::string render(const nlohmann::ordered_json& variables) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_TEMPLATE_H_
