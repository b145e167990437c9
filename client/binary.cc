// Elementwise functions of two arrays (or an array and a number), and where.

#include <vector>

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry {
namespace {

// The operands as arrays: a number takes its dtype from the array beside it (MLX's
// weak-scalar rule) and lives on that array's device.
std::vector<Array> AsArrays(const std::vector<const Operand*>& operands) {
  const Array* like = nullptr;
  for (const Operand* operand : operands) {
    if (operand->array()) {
      like = &*operand->array();
      break;
    }
  }
  std::vector<Array> arrays;
  arrays.reserve(operands.size());
  for (const Operand* operand : operands) {
    if (operand->array()) {
      arrays.push_back(*operand->array());
    } else if (like != nullptr) {
      arrays.push_back(detail::Constant(*operand, detail::WeakScalarType(*operand, like->dtype()),
                                        like->device()));
    } else {
      arrays.push_back(
          detail::Constant(*operand, detail::StrongScalarType(*operand), default_device()));
    }
  }
  return arrays;
}

Array Binary(const char* op, const Operand& a, const Operand& b) {
  return detail::MakeOp(op, AsArrays({&a, &b}), {});
}

}  // namespace

Array add(const Operand& a, const Operand& b) { return Binary("add", a, b); }
Array subtract(const Operand& a, const Operand& b) { return Binary("sub", a, b); }
Array multiply(const Operand& a, const Operand& b) { return Binary("mul", a, b); }
Array divide(const Operand& a, const Operand& b) { return Binary("div", a, b); }
Array power(const Operand& a, const Operand& b) { return Binary("pow", a, b); }
Array maximum(const Operand& a, const Operand& b) { return Binary("maximum", a, b); }
Array minimum(const Operand& a, const Operand& b) { return Binary("minimum", a, b); }
Array equal(const Operand& a, const Operand& b) { return Binary("equal", a, b); }
Array less(const Operand& a, const Operand& b) { return Binary("less", a, b); }
Array greater(const Operand& a, const Operand& b) { return Binary("greater", a, b); }
Array logical_and(const Operand& a, const Operand& b) { return Binary("logical_and", a, b); }
Array logical_or(const Operand& a, const Operand& b) { return Binary("logical_or", a, b); }

Array where(const Array& condition, const Operand& x, const Operand& y) {
  if (!x.array() && !y.array()) {  // two numbers: they live where the condition does
    return detail::MakeOp(
        "where",
        {condition, detail::Constant(x, detail::StrongScalarType(x), condition.device()),
         detail::Constant(y, detail::StrongScalarType(y), condition.device())},
        {});
  }
  std::vector<Array> values = AsArrays({&x, &y});
  return detail::MakeOp("where", {condition, values[0], values[1]}, {});
}

Array operator+(const Operand& a, const Operand& b) { return add(a, b); }
Array operator-(const Operand& a, const Operand& b) { return subtract(a, b); }
Array operator*(const Operand& a, const Operand& b) { return multiply(a, b); }
Array operator/(const Operand& a, const Operand& b) { return divide(a, b); }
Array operator<(const Operand& a, const Operand& b) { return less(a, b); }
Array operator>(const Operand& a, const Operand& b) { return greater(a, b); }
Array operator==(const Operand& a, const Operand& b) { return equal(a, b); }
Array operator&&(const Operand& a, const Operand& b) { return logical_and(a, b); }
Array operator||(const Operand& a, const Operand& b) { return logical_or(a, b); }

// ---- part A ----

Array not_equal(const Operand& a, const Operand& b) { return Binary("not_equal", a, b); }
Array less_equal(const Operand& a, const Operand& b) { return Binary("less_equal", a, b); }
Array greater_equal(const Operand& a, const Operand& b) { return Binary("greater_equal", a, b); }
Array arctan2(const Operand& a, const Operand& b) { return Binary("arctan2", a, b); }
Array logaddexp(const Operand& a, const Operand& b) { return Binary("logaddexp", a, b); }
Array floor_divide(const Operand& a, const Operand& b) { return Binary("floor_divide", a, b); }
Array remainder(const Operand& a, const Operand& b) { return Binary("remainder", a, b); }
Array bitwise_and(const Operand& a, const Operand& b) { return Binary("bitwise_and", a, b); }
Array bitwise_or(const Operand& a, const Operand& b) { return Binary("bitwise_or", a, b); }
Array bitwise_xor(const Operand& a, const Operand& b) { return Binary("bitwise_xor", a, b); }
Array left_shift(const Operand& a, const Operand& b) { return Binary("left_shift", a, b); }
Array right_shift(const Operand& a, const Operand& b) { return Binary("right_shift", a, b); }

Array clip(const Array& a, const std::optional<Operand>& a_min,
           const std::optional<Operand>& a_max) {
  if (!a_min && !a_max) detail::ThrowOpError("clip", "needs a_min, a_max or both.");
  Array out = a;
  if (a_min) out = maximum(out, *a_min);
  if (a_max) out = minimum(out, *a_max);
  return out;
}

Array operator!=(const Operand& a, const Operand& b) { return not_equal(a, b); }
Array operator<=(const Operand& a, const Operand& b) { return less_equal(a, b); }
Array operator>=(const Operand& a, const Operand& b) { return greater_equal(a, b); }
Array operator%(const Operand& a, const Operand& b) { return remainder(a, b); }
Array operator&(const Operand& a, const Operand& b) { return bitwise_and(a, b); }
Array operator|(const Operand& a, const Operand& b) { return bitwise_or(a, b); }
Array operator^(const Operand& a, const Operand& b) { return bitwise_xor(a, b); }
Array operator<<(const Operand& a, const Operand& b) { return left_shift(a, b); }
Array operator>>(const Operand& a, const Operand& b) { return right_shift(a, b); }

}  // namespace ferry
