#ifndef FERRY_CLIENT_LM_JINJA_BUILTINS_H_
#define FERRY_CLIENT_LM_JINJA_BUILTINS_H_

// What jinja2 builds in, as its sandbox exposes it: attribute and item access (access.cc),
// the filters (filters.cc), the tests (tests.cc), and the methods of str, dict and list
// (methods.cc), the operators (operators.cc) and the globals (globals.cc). Failures throw
// RenderError with jinja2's or Python's message.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/jinja/value.h"

namespace ferry::lm::jinja {

// Throws the error an Undefined stands for ("'x' is undefined", "'dict object' has no
// attribute 'y'").
[[noreturn]] void FailUndefined(const Value& undefined);

// `obj.name`: a method of str, dict or list, else the item; missing, an Undefined.
Value GetAttr(const Value& obj, const std::string& name);
// `obj[key]`: the item, else (for a str key) the attribute; missing, an Undefined.
Value GetItem(const Value& obj, const Value& key);
// `obj[start:stop:step]` of a str, list or tuple (null bounds: None).
Value Slice(const Value& obj, const Value* start, const Value* stop, const Value* step);
// The items `for x in value` visits: a list's, a dict's keys, a str's characters; none of an
// Undefined. Throws for what Python cannot iterate.
List Iterate(const Value& value);
// len(value); an Undefined's is 0.
int64_t Length(const Value& value);

// The bound method `obj.name` of a str, dict or list, if Python's type has one the sandbox
// allows (mutating ones throw when called, as the immutable sandbox does).
std::optional<Value> Method(const Value& obj, const std::string& name);

// `a op b` for + - * / // % ** and ~, as Python computes them (ints exact to 64 bits, past
// which they throw); `item in container`.
Value Arithmetic(const std::string& op, const Value& a, const Value& b);
bool Contains(const Value& container, const Value& item);

// raise_exception, strftime_now, namespace, dict and range, by name.
std::vector<std::pair<std::string, Value>> Globals();

bool HasFilter(const std::string& name);
Value ApplyFilter(const std::string& name, const Value& input, const Args& args);

bool HasTest(const std::string& name);
bool ApplyTest(const std::string& name, const Value& value, const Args& args);

// Python's str.strip(chars) family (chars null: whitespace); `left`/`right` say which ends.
std::string Strip(const std::string& text, const Value* chars, bool left, bool right);
// Python's str.upper(), lower(), capitalize() for Latin, Greek and Cyrillic letters (other
// characters are kept as they are).
std::string Upper(const std::string& text);
std::string Lower(const std::string& text);
std::string Capitalize(const std::string& text);

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_BUILTINS_H_
