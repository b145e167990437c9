// einsum over existing ops, as NumPy's subscripts describe: repeated labels within an
// operand take a diagonal (gather), labels used nowhere else are summed out, and pairs of
// operands contract left to right through one batched matmul each (multiply and sum for
// non-floating dtypes). An ellipsis stands for the dims an operand has beyond its labels,
// broadcast across operands (aligned on the right) and given letters the subscripts leave
// unused.

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry {
namespace {

struct Term {
  Array array;
  std::string labels;
};

[[noreturn]] void Fail(const std::string& message) { detail::ThrowOpError("einsum", message); }

bool Has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// The diagonal over the first repeated label, moved to the front.
Term Diagonal(const Term& t, size_t p, size_t q) {
  const int64_t n = t.array.shape()[p];
  if (t.array.shape()[q] != n) {
    Fail(absl::StrCat("label '", std::string(1, t.labels[p]), "' has dims ", n, " and ",
                      t.array.shape()[q], "."));
  }
  Shape sizes = t.array.shape();
  sizes[p] = sizes[q] = 1;
  Array range = arange(0, static_cast<double>(n), 1, int32, t.array.device());
  Array g = gather(t.array, {range, range}, {static_cast<int>(p), static_cast<int>(q)}, sizes);
  Shape shape = {n};
  std::string labels(1, t.labels[p]);
  for (size_t d = 0; d < t.labels.size(); ++d) {
    if (d == p || d == q) continue;
    shape.push_back(t.array.shape()[d]);
    labels += t.labels[d];
  }
  return {reshape(g, shape), labels};
}

// Sums out every label of `t` that is not in `keep`.
Term SumOut(const Term& t, const std::string& keep) {
  std::vector<int> axes;
  std::string labels;
  for (size_t d = 0; d < t.labels.size(); ++d) {
    if (Has(keep, t.labels[d])) {
      labels += t.labels[d];
    } else {
      axes.push_back(static_cast<int>(d));
    }
  }
  if (axes.empty()) return t;
  return {sum(t.array, axes), labels};
}

// `t` transposed to `order` (a permutation of its labels).
Array Arrange(const Term& t, const std::string& order) {
  std::vector<int> perm;
  for (char c : order) perm.push_back(static_cast<int>(t.labels.find(c)));
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int>(i);
  return identity ? t.array : transpose(t.array, perm);
}

int64_t Dim(const Term& t, char c) { return t.array.shape()[t.labels.find(c)]; }

// a and b contracted over their shared labels not in `keep`.
Term Contract(const Term& a, const Term& b, const std::string& keep) {
  std::string batch, contracted, left, right;
  for (char c : a.labels) {
    if (Has(b.labels, c)) {
      (Has(keep, c) ? batch : contracted) += c;
    } else {
      left += c;
    }
  }
  for (char c : b.labels) {
    if (!Has(a.labels, c)) right += c;
  }
  for (char c : batch + contracted) {
    if (Dim(a, c) != Dim(b, c)) {
      Fail(absl::StrCat("label '", std::string(1, c), "' has dims ", Dim(a, c), " and ", Dim(b, c),
                        " in two operands."));
    }
  }
  Shape batch_shape, left_shape, right_shape;
  int64_t l = 1, k = 1, r = 1;
  for (char c : batch) batch_shape.push_back(Dim(a, c));
  for (char c : left) left_shape.push_back(Dim(a, c)), l *= Dim(a, c);
  for (char c : contracted) k *= Dim(a, c);
  for (char c : right) right_shape.push_back(Dim(b, c)), r *= Dim(b, c);
  const std::string out_labels = batch + left + right;
  Shape out_shape = batch_shape;
  out_shape.insert(out_shape.end(), left_shape.begin(), left_shape.end());
  out_shape.insert(out_shape.end(), right_shape.begin(), right_shape.end());
  const Dtype dtype = core::PromoteTypes(a.array.dtype(), b.array.dtype());
  if (!core::IsFloating(dtype)) {
    // Broadcast both over every label, multiply, and sum the contracted ones.
    const std::string all = out_labels + contracted;
    auto expand = [&](const Term& t) {
      std::string order;
      for (char c : all) {
        if (Has(t.labels, c)) order += c;
      }
      Shape shape;
      for (char c : all) shape.push_back(Has(t.labels, c) ? Dim(t, c) : 1);
      return reshape(Arrange(t, order), shape);
    };
    Array product = expand(a) * expand(b);
    if (contracted.empty()) return {product, out_labels};
    std::vector<int> axes;
    for (size_t i = out_labels.size(); i < all.size(); ++i) axes.push_back(static_cast<int>(i));
    return {sum(product, axes), out_labels};
  }
  Shape a_shape = batch_shape, b_shape = batch_shape;
  a_shape.insert(a_shape.end(), {l, k});
  b_shape.insert(b_shape.end(), {k, r});
  Array product = matmul(astype(reshape(Arrange(a, batch + left + contracted), a_shape), dtype),
                         astype(reshape(Arrange(b, batch + contracted + right), b_shape), dtype));
  return {reshape(product, out_shape), out_labels};
}

// Each operand's "..." replaced by letters for its broadcast extra dims (the operand
// broadcast to them), and the output's too; an implicit output starts with them (NumPy).
void ExpandEllipses(const std::string& subscripts, std::vector<std::string>& labels,
                    std::vector<Array>& arrays, std::string& output, bool implicit) {
  std::vector<size_t> at(labels.size(), std::string::npos);
  Shape extra;  // the broadcast shape of every ellipsis
  for (size_t i = 0; i < labels.size(); ++i) {
    at[i] = labels[i].find("...");
    if (at[i] == std::string::npos) continue;
    const int named = static_cast<int>(labels[i].size()) - 3;
    if (labels[i].find("...", at[i] + 1) != std::string::npos || named > arrays[i].ndim()) {
      Fail(absl::StrCat("operand ", i, " of rank ", arrays[i].ndim(), " does not fit subscripts '",
                        labels[i], "'."));
    }
    const Shape own(arrays[i].shape().begin() + at[i],
                    arrays[i].shape().begin() + at[i] + (arrays[i].ndim() - named));
    absl::StatusOr<Shape> both = core::BroadcastShapes(extra, own);
    if (!both.ok()) {
      Fail(absl::StrCat("the dims under '...' do not broadcast: ", core::ShapeToString(extra),
                        " and ", core::ShapeToString(own), "."));
    }
    extra = *both;
  }
  std::string letters;
  for (char c = 'A'; letters.size() < extra.size() && c <= 'z'; ++c) {
    if (std::isalpha(static_cast<unsigned char>(c)) && !Has(subscripts, c)) letters += c;
  }
  if (letters.size() < extra.size()) Fail("the ellipsis needs more letters than are unused.");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (at[i] == std::string::npos) continue;
    const int own = arrays[i].ndim() - (static_cast<int>(labels[i].size()) - 3);
    const Shape& shape = arrays[i].shape();
    Shape padded(shape.begin(), shape.begin() + at[i]), target = padded;
    padded.insert(padded.end(), extra.size() - own, 1);
    padded.insert(padded.end(), shape.begin() + at[i], shape.end());
    target.insert(target.end(), extra.begin(), extra.end());
    target.insert(target.end(), shape.begin() + at[i] + own, shape.end());
    arrays[i] = broadcast_to(reshape(arrays[i], padded), target);
    labels[i].replace(at[i], 3, letters);
  }
  const size_t out_at = output.find("...");
  if (out_at != std::string::npos) {
    output.replace(out_at, 3, letters);
  } else if (implicit) {
    output = letters + output;
  }
}

}  // namespace

Array einsum(const std::string& subscripts, const std::vector<Array>& operands) {
  if (operands.empty()) Fail("needs at least one operand.");
  std::string spec;
  for (char c : subscripts) {
    if (c != ' ') spec += c;
  }
  const size_t arrow = spec.find("->");
  std::string inputs = spec.substr(0, arrow);
  std::vector<std::string> labels;
  for (size_t start = 0;;) {
    const size_t comma = inputs.find(',', start);
    labels.push_back(inputs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (labels.size() != operands.size()) {
    Fail(absl::StrCat("subscripts '", subscripts, "' name ", labels.size(), " operands, got ",
                      operands.size(), "."));
  }
  std::vector<Array> arrays = operands;
  const bool implicit = arrow == std::string::npos;
  std::string output = implicit ? "" : spec.substr(arrow + 2);
  if (spec.find('.') != std::string::npos) {
    ExpandEllipses(subscripts, labels, arrays, output, implicit);
  }
  std::map<char, int> count;
  for (size_t i = 0; i < labels.size(); ++i) {
    for (char c : labels[i]) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        Fail(absl::StrCat("subscripts '", subscripts, "' hold '", std::string(1, c),
                          "'; labels are letters."));
      }
      ++count[c];
    }
    if (static_cast<int>(labels[i].size()) != arrays[i].ndim()) {
      Fail(absl::StrCat("operand ", i, " has rank ", arrays[i].ndim(), " but subscripts '",
                        labels[i], "'."));
    }
  }
  if (implicit) {  // the labels used once, sorted, after the ellipsis's
    for (const auto& [c, n] : count) {
      if (n == 1 && !Has(output, c)) output += c;
    }
  } else {
    for (size_t i = 0; i < output.size(); ++i) {
      if (!count.count(output[i]) || output.find(output[i]) != i) {
        Fail(absl::StrCat("output subscript '", std::string(1, output[i]),
                          "' must appear in an input, once."));
      }
    }
  }
  std::vector<Term> terms;
  for (size_t i = 0; i < operands.size(); ++i) {
    Term t{arrays[i], labels[i]};
    for (bool again = true; again;) {  // take diagonals until every label is distinct
      again = false;
      for (size_t p = 0; p < t.labels.size() && !again; ++p) {
        const size_t q = t.labels.find(t.labels[p], p + 1);
        if (q != std::string::npos) {
          t = Diagonal(t, p, q);
          again = true;
        }
      }
    }
    terms.push_back(t);
  }
  // The labels still needed after the terms [first, end) are folded in.
  auto needed_beyond = [&](size_t first) {
    std::string keep = output;
    for (size_t j = first; j < terms.size(); ++j) keep += terms[j].labels;
    return keep;
  };
  Term acc = SumOut(terms[0], needed_beyond(1));
  for (size_t i = 1; i < terms.size(); ++i) {
    const std::string keep = needed_beyond(i + 1);
    Term next = SumOut(terms[i], keep + acc.labels);
    acc = Contract(SumOut(acc, keep + next.labels), next, keep);
  }
  acc = SumOut(acc, output);
  return Arrange(acc, output);
}

}  // namespace ferry
