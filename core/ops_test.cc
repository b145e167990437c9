#include "core/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using Ints = std::vector<int64_t>;

TensorType F32(Shape shape) { return {DType::kFloat32, std::move(shape)}; }
TensorType I32(Shape shape) { return {DType::kInt32, std::move(shape)}; }
TensorType Of(DType dtype, Shape shape) { return {dtype, std::move(shape)}; }

// "OK", or the message of an INVALID_ARGUMENT (any other code shows in the text).
std::string Error(const absl::StatusOr<TensorType>& result) {
  if (result.ok()) return "OK";
  std::string message(result.status().message());
  if (result.status().code() != absl::StatusCode::kInvalidArgument) {
    return absl::StatusCodeToString(result.status().code()) + ": " + message;
  }
  return message;
}

TensorType Infer(std::string_view op, std::vector<TensorType> inputs, const Attrs& attrs = {}) {
  absl::StatusOr<TensorType> out = InferOp(op, inputs, attrs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : TensorType{};
}

std::string Fails(std::string_view op, std::vector<TensorType> inputs, const Attrs& attrs = {}) {
  return Error(InferOp(op, inputs, attrs));
}

// ---- The table -------------------------------------------------------------------

TEST(OpsTest, EveryOpOfTheVocabularyIsDeclared) {
  // clang-format off
  std::vector<std::string> expected = {
      "abs", "add", "all", "any", "arange", "arctan2",
      "argmax", "argmin", "astype", "bitwise_and", "bitwise_invert", "bitwise_or",
      "bitwise_xor", "broadcast_to", "ceil", "concatenate", "constant", "cos",
      "cummax", "cummin", "cumprod", "cumsum", "div", "equal",
      "erf", "exp", "expm1", "floor", "floor_divide", "full",
      "gelu", "greater", "greater_equal", "isinf", "isnan", "left_shift",
      "less", "less_equal", "log", "log10", "log1p", "log2",
      "logaddexp", "logical_and", "logical_not", "logical_or", "logsumexp", "matmul",
      "max", "maximum", "mean", "min", "minimum", "mul",
      "neg", "not_equal", "parameter", "pow", "prod", "random_normal",
      "random_uniform", "relu", "remainder", "reshape", "right_shift", "round",
      "rsqrt", "sigmoid", "sign", "sin", "slice", "softmax",
      "sqrt", "square", "sub", "sum", "tanh", "transpose",
      "where",
  };
  // clang-format on
  // Ops part B.
  std::vector<std::string> part_b = {
      "argpartition", "argsort",      "convolution", "gather",      "partition",
      "random_bits",  "scatter",      "scatter_add", "scatter_max", "scatter_min",
      "scatter_prod", "slice_update", "sort",
  };
  expected.insert(expected.end(), part_b.begin(), part_b.end());
  expected.push_back("logcumsumexp");
  expected.push_back("quantized_matmul");
  expected.push_back("gather_mm");
  expected.push_back("gather_qmm");
  expected.push_back("gated_delta");
  expected.push_back("gated_delta_vjp");
  for (const char* op : {"cholesky",    "solve",      "solve_triangular",
                         "qr",          "svd",        "eigh",
                         "lu",          "view",       "real",
                         "imag",        "conjugate",  "fft",
                         "eig",         "depends",    "all_sum",
                         "all_max",     "all_min",    "all_gather",
                         "sum_scatter", "all_to_all", "send",
                         "recv"}) {
    expected.push_back(op);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(OpNames(), expected);
  for (const std::string& name : expected) {
    const OpDef* def = FindOp(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_EQ(def->name, name);
    EXPECT_TRUE(std::is_sorted(def->attrs.begin(), def->attrs.end())) << name;
  }
  EXPECT_EQ(FindOp("frobnicate"), nullptr);
  EXPECT_EQ(FindOp(""), nullptr);
}

TEST(OpsTest, Arity) {
  EXPECT_EQ(FindOp("parameter")->max_inputs, 0);
  EXPECT_EQ(FindOp("random_normal")->min_inputs, 1);
  EXPECT_EQ(FindOp("where")->min_inputs, 3);
  EXPECT_EQ(FindOp("concatenate")->min_inputs, 1);
  EXPECT_EQ(FindOp("concatenate")->max_inputs, -1);
  EXPECT_EQ(Fails("add", {F32({2})}), "[add] takes 2 inputs, got 1");
  EXPECT_EQ(Fails("neg", {F32({2}), F32({2})}), "[neg] takes 1 input, got 2");
  EXPECT_EQ(
      Fails("full", {F32({2})}, {{"value", 1.0}, {"shape", Ints{2}}, {"dtype", DType::kFloat32}}),
      "[full] takes no inputs, got 1");
  EXPECT_EQ(Fails("concatenate", {}, {{"axis", int64_t{0}}}),
            "[concatenate] takes at least 1 input, got 0");
}

TEST(OpsTest, UnknownOpAndUnexpectedAttributes) {
  EXPECT_EQ(Fails("frobnicate", {}), "[frobnicate] unknown op 'frobnicate'");
  EXPECT_EQ(Fails("add", {F32({2}), F32({2})}, {{"axis", int64_t{0}}}),
            "[add] unexpected attribute 'axis'");
  EXPECT_EQ(Fails("softmax", {F32({2})}, {{"axes", Ints{0}}, {"keepdims", int64_t{0}}}),
            "[softmax] unexpected attribute 'keepdims'");
}

TEST(OpsTest, InputShapesAndResultSizeAreChecked) {
  EXPECT_EQ(Fails("neg", {F32({-1})}), "[neg] input 0: shape (-1,) has a negative dimension");
  EXPECT_EQ(Fails("neg", {Of(static_cast<DType>(42), {2})}), "[neg] input 0 has unknown dtype 42");
  // Each operand is fine; their broadcast holds 2^60 elements.
  EXPECT_EQ(Fails("add", {F32({1 << 30, 1}), F32({1, 1 << 30})}),
            "[add] result: shape (1073741824, 1073741824) has more than 2^48 elements");
}

// ---- Leaves ----------------------------------------------------------------------

TEST(LeafOpsTest, Parameter) {
  EXPECT_EQ(Infer("parameter", {},
                  {{"index", int64_t{0}}, {"dtype", DType::kBFloat16}, {"shape", Ints{2, 3}}}),
            Of(DType::kBFloat16, {2, 3}));
  EXPECT_EQ(
      Infer("parameter", {}, {{"index", int64_t{4}}, {"dtype", DType::kInt64}, {"shape", Ints{}}}),
      Of(DType::kInt64, {}));
  EXPECT_EQ(Fails("parameter", {}, {{"dtype", DType::kFloat32}, {"shape", Ints{2}}}),
            "[parameter] missing attribute 'index'");
  EXPECT_EQ(
      Fails("parameter", {}, {{"index", 0.0}, {"dtype", DType::kFloat32}, {"shape", Ints{2}}}),
      "[parameter] attribute 'index' must be an integer");
  EXPECT_EQ(Fails("parameter", {},
                  {{"index", int64_t{-1}}, {"dtype", DType::kFloat32}, {"shape", Ints{2}}}),
            "[parameter] index -1 is negative");
  EXPECT_EQ(Fails("parameter", {},
                  {{"index", int64_t{0}}, {"dtype", DType::kFloat32}, {"shape", Ints{2, -3}}}),
            "[parameter] shape (2, -3) has a negative dimension");
  EXPECT_EQ(Fails("parameter", {},
                  {{"index", int64_t{0}}, {"dtype", std::string("float32")}, {"shape", Ints{2}}}),
            "[parameter] attribute 'dtype' must be a dtype");
  EXPECT_EQ(Fails("parameter", {},
                  {{"index", int64_t{0}}, {"dtype", static_cast<DType>(200)}, {"shape", Ints{2}}}),
            "[parameter] attribute 'dtype' holds unknown dtype 200");
}

TEST(LeafOpsTest, Constant) {
  HostTensor two_floats{F32({2}), std::string(8, '\0')};
  EXPECT_EQ(Infer("constant", {}, {{"value", two_floats}}), F32({2}));
  HostTensor scalar{Of(DType::kUInt8, {}), std::string(1, '\x07')};
  EXPECT_EQ(Infer("constant", {}, {{"value", scalar}}), Of(DType::kUInt8, {}));
  HostTensor empty{F32({0, 3}), ""};
  EXPECT_EQ(Infer("constant", {}, {{"value", empty}}), F32({0, 3}));

  HostTensor short_data{F32({2}), std::string(4, '\0')};
  EXPECT_EQ(Fails("constant", {}, {{"value", short_data}}),
            "[constant] value has 4 bytes but float32(2,) needs 8");
  HostTensor negative{F32({-2}), ""};
  EXPECT_EQ(Fails("constant", {}, {{"value", negative}}),
            "[constant] value: shape (-2,) has a negative dimension");
  EXPECT_EQ(Fails("constant", {}, {{"value", int64_t{3}}}),
            "[constant] attribute 'value' must be a tensor");
  HostTensor bools{Of(DType::kBool, {3}), std::string("\1\0\2", 3)};
  EXPECT_EQ(Fails("constant", {}, {{"value", bools}}),
            "[constant] value's bool element 2 is the byte 2; a bool is 0 or 1");
}

TEST(LeafOpsTest, Full) {
  EXPECT_EQ(Infer("full", {}, {{"value", 1.5}, {"shape", Ints{2, 3}}, {"dtype", DType::kFloat16}}),
            Of(DType::kFloat16, {2, 3}));
  // An integer attribute is accepted where a number is expected.
  EXPECT_EQ(
      Infer("full", {}, {{"value", int64_t{255}}, {"shape", Ints{}}, {"dtype", DType::kUInt8}}),
      Of(DType::kUInt8, {}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(Infer("full", {}, {{"value", -inf}, {"shape", Ints{4}}, {"dtype", DType::kFloat32}}),
            F32({4}));
  EXPECT_EQ(Infer("full", {}, {{"value", 2.0}, {"shape", Ints{1}}, {"dtype", DType::kBool}}),
            Of(DType::kBool, {1}));

  EXPECT_EQ(Fails("full", {}, {{"value", 300.0}, {"shape", Ints{2}}, {"dtype", DType::kUInt8}}),
            "[full] value 300 does not fit in uint8");
  EXPECT_EQ(Fails("full", {}, {{"value", -1.0}, {"shape", Ints{2}}, {"dtype", DType::kUInt32}}),
            "[full] value -1 does not fit in uint32");
  EXPECT_EQ(Fails("full", {}, {{"value", NAN}, {"shape", Ints{2}}, {"dtype", DType::kInt32}}),
            "[full] value nan does not fit in int32");
  EXPECT_EQ(Fails("full", {}, {{"value", 1.0}, {"shape", Ints{2}}}),
            "[full] missing attribute 'dtype'");
  EXPECT_EQ(Fails("full", {}, {{"value", 1.0}, {"shape", int64_t{2}}, {"dtype", DType::kInt32}}),
            "[full] attribute 'shape' must be a list of integers");
  EXPECT_EQ(Fails("full", {},
                  {{"value", 1.0}, {"shape", Ints{1 << 25, 1 << 25}}, {"dtype", DType::kInt32}}),
            "[full] shape (33554432, 33554432) has more than 2^48 elements");
}

Attrs Arange(double start, double stop, double step, DType dtype) {
  return {{"start", start}, {"stop", stop}, {"step", step}, {"dtype", dtype}};
}

TEST(LeafOpsTest, Arange) {
  EXPECT_EQ(Infer("arange", {}, Arange(0, 5, 1, DType::kInt32)), I32({5}));
  EXPECT_EQ(Infer("arange", {}, Arange(0, 1, 0.3, DType::kFloat32)), F32({4}));  // 0 .3 .6 .9
  EXPECT_EQ(Infer("arange", {}, Arange(5, 0, -2, DType::kInt64)), Of(DType::kInt64, {3}));
  EXPECT_EQ(Infer("arange", {}, Arange(5, 0, 1, DType::kFloat32)), F32({0}));
  EXPECT_EQ(Infer("arange", {}, Arange(0, 256, 1, DType::kUInt8)), Of(DType::kUInt8, {256}));

  EXPECT_EQ(Fails("arange", {}, Arange(0, 5, 0, DType::kInt32)), "[arange] step must be nonzero");
  EXPECT_EQ(Fails("arange", {}, Arange(0, INFINITY, 1, DType::kFloat32)),
            "[arange] attribute 'stop' must be finite, got inf");
  EXPECT_EQ(Fails("arange", {}, Arange(0, 1, NAN, DType::kFloat32)),
            "[arange] attribute 'step' must be finite, got nan");
  EXPECT_EQ(Fails("arange", {}, Arange(0, 1e20, 1, DType::kFloat32)),
            "[arange] from 0 to 1e+20 by 1 gives more than 2^48 elements");
  EXPECT_EQ(Fails("arange", {}, Arange(-1e308, 1e308, 1, DType::kFloat64)),
            "[arange] from -1e+308 to 1e+308 by 1 gives more than 2^48 elements");
  EXPECT_EQ(Fails("arange", {}, Arange(0, 2, 1, DType::kBool)),
            "[arange] dtype bool is not supported");
  EXPECT_EQ(Fails("arange", {}, Arange(0, 300, 1, DType::kUInt8)),
            "[arange] values from 0 to 299 do not fit in uint8");
}

// ---- Random ----------------------------------------------------------------------

const TensorType kKey = Of(DType::kUInt32, {2});

TEST(RandomOpsTest, Types) {
  EXPECT_EQ(Infer("random_uniform", {kKey},
                  {{"low", 0.0}, {"high", 1.0}, {"shape", Ints{3, 4}}, {"dtype", DType::kFloat32}}),
            F32({3, 4}));
  EXPECT_EQ(Infer("random_normal", {kKey},
                  {{"loc", 0.0}, {"scale", 1.0}, {"shape", Ints{}}, {"dtype", DType::kBFloat16}}),
            Of(DType::kBFloat16, {}));
}

TEST(RandomOpsTest, Errors) {
  const Attrs uniform = {
      {"low", 0.0}, {"high", 1.0}, {"shape", Ints{3}}, {"dtype", DType::kFloat32}};
  EXPECT_EQ(Fails("random_uniform", {I32({2})}, uniform),
            "[random_uniform] key must be uint32(2,), got int32(2,)");
  EXPECT_EQ(Fails("random_uniform", {Of(DType::kUInt32, {4})}, uniform),
            "[random_uniform] key must be uint32(2,), got uint32(4,)");
  EXPECT_EQ(Fails("random_uniform", {}, uniform), "[random_uniform] takes 1 input, got 0");
  EXPECT_EQ(Fails("random_uniform", {kKey},
                  {{"low", 2.0}, {"high", 1.0}, {"shape", Ints{3}}, {"dtype", DType::kFloat32}}),
            "[random_uniform] low 2 is greater than high 1");
  EXPECT_EQ(Fails("random_normal", {kKey},
                  {{"loc", 0.0}, {"scale", 1.0}, {"shape", Ints{3}}, {"dtype", DType::kInt32}}),
            "[random_normal] dtype must be floating, got int32");
  EXPECT_EQ(Fails("random_normal", {kKey},
                  {{"loc", 0.0}, {"scale", -1.0}, {"shape", Ints{3}}, {"dtype", DType::kFloat32}}),
            "[random_normal] scale -1 is negative");
  EXPECT_EQ(Fails("random_normal", {kKey},
                  {{"loc", NAN}, {"scale", 1.0}, {"shape", Ints{3}}, {"dtype", DType::kFloat32}}),
            "[random_normal] attribute 'loc' must be finite, got nan");
  EXPECT_EQ(
      Fails("random_normal", {kKey}, {{"loc", 0.0}, {"scale", 1.0}, {"dtype", DType::kFloat32}}),
      "[random_normal] missing attribute 'shape'");
}

// ---- Elementwise -----------------------------------------------------------------

TEST(UnaryOpsTest, KeepOrFloatTheDtype) {
  EXPECT_EQ(Infer("neg", {I32({2, 3})}), I32({2, 3}));
  EXPECT_EQ(Infer("abs", {Of(DType::kUInt8, {})}), Of(DType::kUInt8, {}));
  EXPECT_EQ(Infer("relu", {Of(DType::kFloat16, {0})}), Of(DType::kFloat16, {0}));
  EXPECT_EQ(Infer("exp", {I32({2})}), F32({2}));
  EXPECT_EQ(Infer("sqrt", {Of(DType::kBool, {2})}), F32({2}));
  EXPECT_EQ(Infer("tanh", {Of(DType::kFloat64, {})}), Of(DType::kFloat64, {}));
  EXPECT_EQ(Infer("erf", {Of(DType::kBFloat16, {1})}), Of(DType::kBFloat16, {1}));
  for (const char* op : {"log", "rsqrt", "sin", "cos", "sigmoid", "gelu"}) {
    EXPECT_EQ(Infer(op, {Of(DType::kInt64, {3})}), F32({3})) << op;
  }
}

TEST(UnaryOpsTest, RefuseBoolWhereTheResultKeepsIt) {
  EXPECT_EQ(Fails("neg", {Of(DType::kBool, {2})}), "[neg] is not defined for bool");
  EXPECT_EQ(Fails("abs", {Of(DType::kBool, {2})}), "[abs] is not defined for bool");
  EXPECT_EQ(Fails("relu", {Of(DType::kBool, {2})}), "[relu] is not defined for bool");
}

TEST(BinaryOpsTest, BroadcastAndPromote) {
  EXPECT_EQ(Infer("add", {F32({2, 3}), F32({3})}), F32({2, 3}));
  EXPECT_EQ(Infer("mul", {F32({2, 1}), I32({1, 3})}), F32({2, 3}));
  EXPECT_EQ(Infer("sub", {Of(DType::kUInt32, {}), I32({4})}), Of(DType::kInt64, {4}));
  EXPECT_EQ(Infer("maximum", {Of(DType::kFloat16, {2}), Of(DType::kBFloat16, {2})}), F32({2}));
  EXPECT_EQ(Infer("pow", {I32({}), I32({})}), I32({}));
  EXPECT_EQ(Infer("minimum", {F32({}), F32({0})}), F32({0}));
}

TEST(BinaryOpsTest, DivIsFloating) {
  EXPECT_EQ(Infer("div", {I32({2}), I32({2})}), F32({2}));
  EXPECT_EQ(Infer("div", {Of(DType::kFloat16, {2}), Of(DType::kUInt8, {})}),
            Of(DType::kFloat16, {2}));
  EXPECT_EQ(Infer("div", {Of(DType::kFloat64, {}), F32({})}), Of(DType::kFloat64, {}));
}

TEST(BinaryOpsTest, ComparisonsAndLogicGiveBool) {
  for (const char* op : {"equal", "less", "greater", "logical_and", "logical_or"}) {
    EXPECT_EQ(Infer(op, {F32({2, 1}), I32({3})}), Of(DType::kBool, {2, 3})) << op;
  }
}

TEST(BinaryOpsTest, ShapeMismatch) {
  EXPECT_EQ(Fails("add", {F32({2, 3}), F32({4})}),
            "[add] shapes (2, 3) and (4,) cannot be broadcast together");
  EXPECT_EQ(Fails("less", {F32({0}), F32({2})}),
            "[less] shapes (0,) and (2,) cannot be broadcast together");
}

TEST(WhereOpTest, BroadcastsAllThree) {
  EXPECT_EQ(Infer("where", {Of(DType::kBool, {2, 1}), F32({3}), I32({})}), F32({2, 3}));
  EXPECT_EQ(Infer("where", {F32({}), I32({}), Of(DType::kUInt8, {})}), I32({}));
  EXPECT_EQ(Fails("where", {Of(DType::kBool, {2}), F32({3}), F32({1})}),
            "[where] shapes (2,), (3,) and (1,) cannot be broadcast together");
  EXPECT_EQ(Fails("where", {Of(DType::kBool, {1}), F32({3}), F32({2})}),
            "[where] shapes (1,), (3,) and (2,) cannot be broadcast together");
}

TEST(AstypeOpTest, TakesTheDtypeAttribute) {
  EXPECT_EQ(Infer("astype", {F32({2, 3})}, {{"dtype", DType::kUInt8}}), Of(DType::kUInt8, {2, 3}));
  EXPECT_EQ(Fails("astype", {F32({2})}), "[astype] missing attribute 'dtype'");
  EXPECT_EQ(Fails("astype", {F32({2})}, {{"dtype", int64_t{7}}}),
            "[astype] attribute 'dtype' must be a dtype");
}

// ---- Reductions ------------------------------------------------------------------

Attrs Axes(Ints axes, int64_t keepdims = 0) { return {{"axes", axes}, {"keepdims", keepdims}}; }

TEST(ReduceOpsTest, Shapes) {
  EXPECT_EQ(Infer("sum", {F32({2, 3, 4})}, Axes({0, 2})), F32({3}));
  EXPECT_EQ(Infer("sum", {F32({2, 3, 4})}, Axes({2, 0}, 1)), F32({1, 3, 1}));
  EXPECT_EQ(Infer("sum", {F32({2, 3})}, Axes({})), F32({2, 3}));
  EXPECT_EQ(Infer("sum", {F32({})}, Axes({})), F32({}));
  EXPECT_EQ(Infer("sum", {F32({2, 3})}, Axes({0, 1})), F32({}));
  EXPECT_EQ(Infer("sum", {F32({0, 3})}, Axes({0})), F32({3}));  // an empty sum is 0
}

TEST(ReduceOpsTest, Dtypes) {
  EXPECT_EQ(Infer("sum", {Of(DType::kBool, {4})}, Axes({0})), I32({}));
  EXPECT_EQ(Infer("prod", {Of(DType::kBool, {4})}, Axes({0})), I32({}));
  // As MLX: integers narrower than 32 bits accumulate in 32 bits of their signedness.
  EXPECT_EQ(Infer("prod", {Of(DType::kUInt8, {4})}, Axes({0})), Of(DType::kUInt32, {}));
  EXPECT_EQ(Infer("sum", {Of(DType::kInt8, {4})}, Axes({0})), I32({}));
  EXPECT_EQ(Infer("sum", {Of(DType::kUInt16, {4})}, Axes({0})), Of(DType::kUInt32, {}));
  EXPECT_EQ(Infer("sum", {Of(DType::kInt16, {4})}, Axes({0})), I32({}));
  EXPECT_EQ(Infer("sum", {Of(DType::kUInt64, {4})}, Axes({0})), Of(DType::kUInt64, {}));
  EXPECT_EQ(Infer("mean", {I32({4})}, Axes({0})), F32({}));
  EXPECT_EQ(Infer("mean", {Of(DType::kFloat16, {4})}, Axes({0})), Of(DType::kFloat16, {}));
  EXPECT_EQ(Infer("max", {Of(DType::kBool, {4})}, Axes({0})), Of(DType::kBool, {}));
  EXPECT_EQ(Infer("min", {Of(DType::kInt64, {4, 2})}, Axes({1}, 1)), Of(DType::kInt64, {4, 1}));
}

TEST(ReduceOpsTest, Errors) {
  EXPECT_EQ(Fails("sum", {F32({2, 3})}, Axes({3})),
            "[sum] axis 3 is out of range for an array of rank 2");
  EXPECT_EQ(Fails("sum", {F32({2, 3})}, Axes({-1})),
            "[sum] axis -1 is negative; axes must be normalized to [0, rank)");
  EXPECT_EQ(Fails("mean", {F32({2, 3})}, Axes({1, 1})), "[mean] axis 1 appears twice in axes");
  EXPECT_EQ(Fails("sum", {F32({2, 3})}, Axes({0}, 2)),
            "[sum] attribute 'keepdims' must be 0 or 1, got 2");
  EXPECT_EQ(Fails("sum", {F32({2, 3})}, {{"axes", Ints{0}}}), "[sum] missing attribute 'keepdims'");
  EXPECT_EQ(Fails("sum", {F32({2, 3})}, {{"axes", int64_t{0}}, {"keepdims", int64_t{0}}}),
            "[sum] attribute 'axes' must be a list of integers");
  EXPECT_EQ(Fails("max", {F32({0, 3})}, Axes({0})),
            "[max] cannot reduce axis 0 of length 0 in shape (0, 3)");
  EXPECT_EQ(Infer("max", {F32({0, 3})}, Axes({1})), F32({0}));  // nothing to reduce per row
}

TEST(ReduceOpsTest, ArgmaxArgmin) {
  const Attrs axis1 = {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}};
  EXPECT_EQ(Infer("argmax", {F32({2, 3})}, axis1), Of(DType::kUInt32, {2}));
  EXPECT_EQ(Infer("argmin", {I32({2, 3})}, {{"axis", int64_t{0}}, {"keepdims", int64_t{1}}}),
            Of(DType::kUInt32, {1, 3}));
  EXPECT_EQ(Fails("argmax", {F32({})}, {{"axis", int64_t{0}}, {"keepdims", int64_t{0}}}),
            "[argmax] axis 0 is out of range for an array of rank 0");
  EXPECT_EQ(Fails("argmin", {F32({2, 0})}, axis1),
            "[argmin] cannot reduce axis 1 of length 0 in shape (2, 0)");
  EXPECT_EQ(Fails("argmax", {F32({2, 3})}, {{"axes", Ints{1}}, {"keepdims", int64_t{0}}}),
            "[argmax] unexpected attribute 'axes'");
}

// ---- Matmul ----------------------------------------------------------------------

TEST(MatmulOpTest, NumpyShapes) {
  EXPECT_EQ(Infer("matmul", {F32({2, 3}), F32({3, 4})}), F32({2, 4}));
  EXPECT_EQ(Infer("matmul", {F32({3}), F32({3, 4})}), F32({4}));
  EXPECT_EQ(Infer("matmul", {F32({2, 3}), F32({3})}), F32({2}));
  EXPECT_EQ(Infer("matmul", {F32({3}), F32({3})}), F32({}));
  EXPECT_EQ(Infer("matmul", {F32({5, 1, 2, 3}), F32({4, 3, 6})}), F32({5, 4, 2, 6}));
  EXPECT_EQ(Infer("matmul", {F32({3}), F32({7, 3, 2})}), F32({7, 2}));
  EXPECT_EQ(Infer("matmul", {F32({2, 0}), F32({0, 4})}), F32({2, 4}));
  EXPECT_EQ(Infer("matmul", {Of(DType::kFloat16, {2, 2}), Of(DType::kBFloat16, {2, 2})}),
            F32({2, 2}));
}

TEST(MatmulOpTest, Errors) {
  EXPECT_EQ(Fails("matmul", {F32({2, 3}), F32({4, 5})}),
            "[matmul] inner dimensions differ: (2, 3) @ (4, 5)");
  EXPECT_EQ(Fails("matmul", {F32({3}), F32({4})}), "[matmul] inner dimensions differ: (3,) @ (4,)");
  EXPECT_EQ(Fails("matmul", {F32({}), F32({3})}),
            "[matmul] operands must have at least one dimension, got () @ (3,)");
  EXPECT_EQ(Fails("matmul", {I32({2, 2}), F32({2, 2})}),
            "[matmul] only floating dtypes are supported, got int32 and float32");
  EXPECT_EQ(Fails("matmul", {F32({2, 2, 3}), F32({3, 3, 4})}),
            "[matmul] batch dimensions (2,) and (3,) of (2, 2, 3) @ (3, 3, 4) cannot be "
            "broadcast together");
}

TEST(MatmulOpTest, GatherMm) {
  // (pairs..., M, N): one product per element of the index arrays.
  EXPECT_EQ(Infer("gather_mm",
                  {F32({6, 1, 4}), Of(DType::kFloat16, {8, 4, 5}), I32({6, 2}), I32({6, 2})}),
            F32({6, 2, 1, 5}));
  EXPECT_EQ(Infer("gather_mm", {Of(DType::kBFloat16, {2, 3, 3, 4}), Of(DType::kBFloat16, {4, 7}),
                                Of(DType::kUInt32, {}), Of(DType::kInt64, {})}),
            Of(DType::kBFloat16, {3, 7}));
  EXPECT_EQ(Fails("gather_mm", {F32({2, 3}), F32({4, 5}), I32({1}), I32({1})}),
            "[gather_mm] needs matrices (..., M, K) and (..., K, N), got (2, 3) and (4, 5)");
  EXPECT_EQ(Fails("gather_mm", {F32({3}), F32({3, 5}), I32({1}), I32({1})}),
            "[gather_mm] needs matrices (..., M, K) and (..., K, N), got (3,) and (3, 5)");
  EXPECT_EQ(Fails("gather_mm", {I32({2, 3}), F32({3, 5}), I32({1}), I32({1})}),
            "[gather_mm] only floating dtypes are supported, got int32 and float32");
  EXPECT_EQ(Fails("gather_mm", {F32({2, 3}), F32({3, 5}), I32({2}), I32({3})}),
            "[gather_mm] lhs_indices and rhs_indices must be integers of one shape, got int32 "
            "(2,) and int32 (3,)");
  EXPECT_EQ(Fails("gather_mm", {F32({2, 3}), F32({3, 5}), F32({2}), I32({2})}),
            "[gather_mm] lhs_indices and rhs_indices must be integers of one shape, got float32 "
            "(2,) and int32 (2,)");
}

// ---- gated_delta -------------------------------------------------------------------

TEST(GatedDeltaOpTest, PacksYAndTheStatePerBatchRow) {
  // B 2, T 3, Hk 1, Hv 2, Dk 4, Dv 5: y 3*2*5 = 30, then the state 2*5*4 = 40.
  const TensorType q = F32({2, 3, 1, 4});
  const TensorType v = Of(DType::kBFloat16, {2, 3, 2, 5});
  const TensorType gate = F32({2, 3, 2});
  const TensorType state = F32({2, 2, 5, 4});
  EXPECT_EQ(Infer("gated_delta", {q, q, v, gate, gate, state}), F32({2, 70}));
  EXPECT_EQ(
      Infer("gated_delta", {q, q, v, F32({2, 3, 2, 4}), gate, state, Of(DType::kBool, {2, 3})}),
      F32({2, 70}));
  EXPECT_EQ(Fails("gated_delta", {q, F32({2, 3, 1, 5}), v, gate, gate, state}),
            "[gated_delta] q and k must be (B, T, Hk, Dk) of one shape, got (2, 3, 1, 4) and "
            "(2, 3, 1, 5)");
  EXPECT_EQ(Fails("gated_delta", {F32({2, 3, 3, 4}), F32({2, 3, 3, 4}), v, gate, gate, state}),
            "[gated_delta] v must be (B, T, Hv, Dv) with q's B and T and Hv a multiple of Hk, "
            "got q (2, 3, 3, 4) and v (2, 3, 2, 5)");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, F32({2, 3, 2, 5}), gate, state}),
            "[gated_delta] g must be (B, T, Hv) (2, 3, 2) or (B, T, Hv, Dk) (2, 3, 2, 4), got "
            "(2, 3, 2, 5)");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, gate, F32({2, 3}), state}),
            "[gated_delta] beta must be (B, T, Hv) (2, 3, 2), got (2, 3)");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, gate, gate, F32({2, 2, 4, 5})}),
            "[gated_delta] state must be (B, Hv, Dv, Dk) (2, 2, 5, 4), got (2, 2, 4, 5)");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, gate, gate, state, F32({2, 3})}),
            "[gated_delta] mask must be bool (B, T) (2, 3), got float32 (2, 3)");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, gate, gate, Of(DType::kFloat64, {2, 2, 5, 4})}),
            "[gated_delta] state must be float32, float16 or bfloat16, got float64");
  EXPECT_EQ(Fails("gated_delta", {q, q, v, gate, gate}),
            "[gated_delta] takes 6 to 7 inputs, got 5");
}

TEST(GatedDeltaOpTest, VjpPacksEachOperandsCotangentPerBatchRow) {
  // As above: dq and dk 3*2*4 = 24 each (per value head), dv 30, dg 6 (or 24 for a vector
  // gate), dbeta 6, the state's 40.
  const TensorType q = F32({2, 3, 1, 4});
  const TensorType v = F32({2, 3, 2, 5});
  const TensorType gate = F32({2, 3, 2});
  const TensorType state = F32({2, 2, 5, 4});
  const TensorType cotangent = F32({2, 70});
  EXPECT_EQ(Infer("gated_delta_vjp", {q, q, v, gate, gate, state, cotangent}), F32({2, 130}));
  EXPECT_EQ(Infer("gated_delta_vjp",
                  {q, q, v, F32({2, 3, 2, 4}), gate, state, cotangent, Of(DType::kBool, {2, 3})}),
            F32({2, 148}));
  EXPECT_EQ(Fails("gated_delta_vjp", {q, q, v, gate, gate, state, F32({2, 69})}),
            "[gated_delta_vjp] cotangent must be float32 (2, 70) (gated_delta's result), got "
            "float32 (2, 69)");
  EXPECT_EQ(Fails("gated_delta_vjp", {q, q, v, gate, F32({2, 3}), state, cotangent}),
            "[gated_delta_vjp] beta must be (B, T, Hv) (2, 3, 2), got (2, 3)");
}

// ---- Collectives ------------------------------------------------------------------

TEST(CollectiveOpsTest, KeepOrGatherOrScatterAxisZero) {
  const Attrs of_four = {{"group", int64_t{1}}, {"size", int64_t{4}}};
  for (const char* op : {"all_sum", "all_max", "all_min"}) {
    EXPECT_EQ(Infer(op, {F32({2, 3})}, of_four), F32({2, 3})) << op;
    EXPECT_TRUE(IsCollective(op));
  }
  EXPECT_EQ(Infer("all_gather", {F32({2, 3})}, of_four), F32({8, 3}));
  EXPECT_EQ(Infer("all_gather", {F32({})}, of_four), F32({4}));
  EXPECT_EQ(Infer("sum_scatter", {F32({8, 3})}, of_four), F32({2, 3}));
  EXPECT_EQ(Infer("all_to_all", {F32({8, 3})}, of_four), F32({8, 3}));
  EXPECT_EQ(Fails("all_to_all", {F32({6})}, of_four),
            "[all_to_all] needs axis 0 divisible by the group's 4 ranks, got shape (6,)");
  EXPECT_FALSE(IsCollective("sum"));
}

TEST(CollectiveOpsTest, Errors) {
  const Attrs of_four = {{"group", int64_t{1}}, {"size", int64_t{4}}};
  EXPECT_EQ(Fails("sum_scatter", {F32({6, 3})}, of_four),
            "[sum_scatter] needs axis 0 divisible by the group's 4 ranks, got shape (6, 3)");
  EXPECT_EQ(Fails("all_sum", {Of(DType::kBool, {2})}, of_four),
            "[all_sum] takes no bool input (astype it to a number first)");
  EXPECT_EQ(Fails("all_sum", {F32({2})}, {{"group", int64_t{0}}, {"size", int64_t{4}}}),
            "[all_sum] group must be at least 1, got 0");
  EXPECT_EQ(Fails("all_gather", {F32({2})}, {{"group", int64_t{1}}, {"size", int64_t{0}}}),
            "[all_gather] size must be at least 1, got 0");
  EXPECT_EQ(Fails("all_gather", {F32({2})}, {{"group", int64_t{1}}, {"size", int64_t{1} << 62}}),
            "[all_gather] 2 rows from each of 4611686018427387904 ranks exceed 281474976710656 "
            "elements");
}

TEST(CollectiveOpsTest, SendGivesItsInputAndRecvTheDeclaredType) {
  EXPECT_EQ(Infer("send", {Of(DType::kBool, {2, 3})},
                  {{"dst", int64_t{1}}, {"group", int64_t{1}}, {"size", int64_t{2}}}),
            Of(DType::kBool, {2, 3}));
  EXPECT_EQ(Infer("recv", {},
                  {{"dtype", DType::kFloat16},
                   {"group", int64_t{1}},
                   {"shape", Ints{4, 5}},
                   {"size", int64_t{2}},
                   {"src", int64_t{0}}}),
            Of(DType::kFloat16, {4, 5}));
  EXPECT_TRUE(IsCollective("send"));
  EXPECT_TRUE(IsCollective("recv"));
  EXPECT_EQ(
      Fails("send", {F32({2})}, {{"dst", int64_t{2}}, {"group", int64_t{1}}, {"size", int64_t{2}}}),
      "[send] dst 2 is not a rank of a group of 2");
  EXPECT_EQ(Fails("recv", {},
                  {{"dtype", DType::kFloat32},
                   {"group", int64_t{1}},
                   {"shape", Ints{4}},
                   {"size", int64_t{3}},
                   {"src", int64_t{-1}}}),
            "[recv] src -1 is not a rank of a group of 3");
}

// ---- Layout ----------------------------------------------------------------------

TEST(LayoutOpsTest, Reshape) {
  // depends: its first input, whatever the others are.
  EXPECT_EQ(Infer("depends", {F32({2, 3})}), F32({2, 3}));
  EXPECT_EQ(Infer("depends", {F32({2, 3}), Of(DType::kInt32, {7}), F32({})}), F32({2, 3}));
  EXPECT_EQ(Fails("depends", {}), "[depends] takes at least 1 input, got 0");
  EXPECT_EQ(Infer("reshape", {F32({2, 3})}, {{"shape", Ints{3, 2}}}), F32({3, 2}));
  EXPECT_EQ(Infer("reshape", {F32({2, 3})}, {{"shape", Ints{6}}}), F32({6}));
  EXPECT_EQ(Infer("reshape", {F32({1, 1})}, {{"shape", Ints{}}}), F32({}));
  EXPECT_EQ(Infer("reshape", {F32({0, 3})}, {{"shape", Ints{3, 0, 5}}}), F32({3, 0, 5}));
  EXPECT_EQ(Fails("reshape", {F32({2, 3})}, {{"shape", Ints{4}}}),
            "[reshape] cannot reshape (2, 3) (6 elements) to (4,) (4 elements)");
  EXPECT_EQ(Fails("reshape", {F32({2, 3})}, {{"shape", Ints{-1, 3}}}),
            "[reshape] shape (-1, 3) has a negative dimension");
}

TEST(LayoutOpsTest, Transpose) {
  EXPECT_EQ(Infer("transpose", {F32({2, 3, 4})}, {{"perm", Ints{2, 0, 1}}}), F32({4, 2, 3}));
  EXPECT_EQ(Infer("transpose", {F32({})}, {{"perm", Ints{}}}), F32({}));
  EXPECT_EQ(Fails("transpose", {F32({2, 3})}, {{"perm", Ints{0, 0}}}),
            "[transpose] perm [0, 0] is not a permutation of the axes of an array of rank 2");
  EXPECT_EQ(Fails("transpose", {F32({2, 3})}, {{"perm", Ints{1, 0, 2}}}),
            "[transpose] perm [1, 0, 2] is not a permutation of the axes of an array of rank 2");
  EXPECT_EQ(Fails("transpose", {F32({2, 3})}, {{"perm", Ints{1, -1}}}),
            "[transpose] perm [1, -1] is not a permutation of the axes of an array of rank 2");
}

TEST(LayoutOpsTest, BroadcastTo) {
  EXPECT_EQ(Infer("broadcast_to", {F32({3})}, {{"shape", Ints{2, 3}}}), F32({2, 3}));
  EXPECT_EQ(Infer("broadcast_to", {I32({2, 1})}, {{"shape", Ints{2, 5}}}), I32({2, 5}));
  EXPECT_EQ(Infer("broadcast_to", {F32({})}, {{"shape", Ints{0}}}), F32({0}));
  EXPECT_EQ(Fails("broadcast_to", {F32({2, 3})}, {{"shape", Ints{3, 3}}}),
            "[broadcast_to] cannot broadcast (2, 3) to (3, 3)");
  EXPECT_EQ(Fails("broadcast_to", {F32({1, 3})}, {{"shape", Ints{3}}}),
            "[broadcast_to] cannot broadcast (1, 3) to (3,)");
  EXPECT_EQ(Fails("broadcast_to", {F32({3})}, {{"shape", Ints{1}}}),
            "[broadcast_to] cannot broadcast (3,) to (1,)");
}

Attrs Slice(Ints start, Ints stop, Ints strides) {
  return {{"start", start}, {"stop", stop}, {"strides", strides}};
}

TEST(LayoutOpsTest, SliceLengths) {
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({2}, {8}, {2})), F32({3}));     // 2 4 6
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({0}, {10}, {3})), F32({4}));    // 0 3 6 9
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({8}, {2}, {-2})), F32({3}));    // 8 6 4
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({9}, {-1}, {-1})), F32({10}));  // reversed
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({7}, {3}, {1})), F32({0}));
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({3}, {7}, {-1})), F32({0}));
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({10}, {10}, {1})), F32({0}));
  EXPECT_EQ(Infer("slice", {F32({0})}, Slice({0}, {0}, {1})), F32({0}));
  EXPECT_EQ(Infer("slice", {F32({0})}, Slice({-1}, {-1}, {-1})), F32({0}));
  EXPECT_EQ(Infer("slice", {F32({4, 6})}, Slice({1, 0}, {3, 6}, {1, 4})), F32({2, 2}));
  EXPECT_EQ(Infer("slice", {F32({})}, Slice({}, {}, {})), F32({}));
  const int64_t min = std::numeric_limits<int64_t>::min();
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({9}, {-1}, {min})), F32({1}));
  EXPECT_EQ(Infer("slice", {F32({10})}, Slice({0}, {10}, {max})), F32({1}));
}

TEST(LayoutOpsTest, SliceErrors) {
  EXPECT_EQ(Fails("slice", {F32({10})}, Slice({0}, {10}, {0})), "[slice] stride on axis 0 is 0");
  EXPECT_EQ(Fails("slice", {F32({10})}, Slice({11}, {10}, {1})),
            "[slice] axis 0 of length 10: start 11, stop 10 with stride 1 must satisfy "
            "0 <= start, stop <= dim");
  EXPECT_EQ(Fails("slice", {F32({10})}, Slice({-1}, {5}, {1})),
            "[slice] axis 0 of length 10: start -1, stop 5 with stride 1 must satisfy "
            "0 <= start, stop <= dim");
  EXPECT_EQ(Fails("slice", {F32({2, 10})}, Slice({0, 10}, {2, 0}, {1, -1})),
            "[slice] axis 1 of length 10: start 10, stop 0 with stride -1 must satisfy "
            "-1 <= start, stop <= dim - 1");
  EXPECT_EQ(Fails("slice", {F32({10})}, Slice({5}, {-2}, {-1})),
            "[slice] axis 0 of length 10: start 5, stop -2 with stride -1 must satisfy "
            "-1 <= start, stop <= dim - 1");
  EXPECT_EQ(Fails("slice", {F32({2, 3})}, Slice({0}, {2, 3}, {1, 1})),
            "[slice] attribute 'start' has 1 values for an array of rank 2");
  EXPECT_EQ(Fails("slice", {F32({2})}, {{"start", Ints{0}}, {"stop", Ints{2}}}),
            "[slice] missing attribute 'strides'");
}

TEST(LayoutOpsTest, Concatenate) {
  const Attrs axis0 = {{"axis", int64_t{0}}};
  const Attrs axis1 = {{"axis", int64_t{1}}};
  EXPECT_EQ(Infer("concatenate", {F32({2, 3}), F32({4, 3})}, axis0), F32({6, 3}));
  EXPECT_EQ(Infer("concatenate", {F32({2, 3}), F32({2, 0}), F32({2, 1})}, axis1), F32({2, 4}));
  EXPECT_EQ(Infer("concatenate", {I32({2}), F32({1}), Of(DType::kUInt8, {1})}, axis0), F32({4}));
  EXPECT_EQ(Infer("concatenate", {Of(DType::kUInt32, {1}), I32({1})}, axis0),
            Of(DType::kInt64, {2}));
  EXPECT_EQ(Infer("concatenate", {F32({5})}, axis0), F32({5}));

  EXPECT_EQ(Fails("concatenate", {F32({2, 3}), F32({2, 4})}, axis0),
            "[concatenate] input 1 has shape (2, 4) but input 0 has shape (2, 3); all "
            "dimensions except axis 0 must match");
  EXPECT_EQ(Fails("concatenate", {F32({2, 3}), F32({3})}, axis0),
            "[concatenate] input 1 has rank 1 but input 0 has rank 2");
  EXPECT_EQ(Fails("concatenate", {F32({}), F32({})}, axis0),
            "[concatenate] cannot concatenate scalars");
  EXPECT_EQ(Fails("concatenate", {F32({2}), F32({2})}, axis1),
            "[concatenate] axis 1 is out of range for an array of rank 1");
  EXPECT_EQ(Fails("concatenate", {F32({2}), F32({2})}), "[concatenate] missing attribute 'axis'");
}

// ---- Softmax ---------------------------------------------------------------------

TEST(SoftmaxOpsTest, Softmax) {
  EXPECT_EQ(Infer("softmax", {I32({2, 3})}, {{"axes", Ints{1}}}), F32({2, 3}));
  EXPECT_EQ(Infer("softmax", {Of(DType::kFloat16, {2, 3})}, {{"axes", Ints{0, 1}}}),
            Of(DType::kFloat16, {2, 3}));
  EXPECT_EQ(Fails("softmax", {F32({2, 3})}, {{"axes", Ints{2}}}),
            "[softmax] axis 2 is out of range for an array of rank 2");
}

TEST(SoftmaxOpsTest, Logsumexp) {
  EXPECT_EQ(Infer("logsumexp", {F32({2, 3})}, Axes({1})), F32({2}));
  EXPECT_EQ(Infer("logsumexp", {I32({2, 3})}, Axes({1}, 1)), F32({2, 1}));
  EXPECT_EQ(Infer("logsumexp", {F32({0, 3})}, Axes({0})), F32({3}));  // -inf, not an error
  EXPECT_EQ(Fails("logsumexp", {F32({2, 3})}, Axes({0, 0})),
            "[logsumexp] axis 0 appears twice in axes");
}

// ---- Part A ----------------------------------------------------------------------

TEST(PartAOpsTest, UnaryDtypes) {
  for (const char* op : {"square", "floor", "ceil", "round", "sign"}) {
    EXPECT_EQ(Infer(op, {I32({2})}), I32({2})) << op;
    EXPECT_EQ(Infer(op, {Of(DType::kBool, {2})}), Of(DType::kBool, {2})) << op;
    EXPECT_EQ(Infer(op, {Of(DType::kBFloat16, {})}), Of(DType::kBFloat16, {})) << op;
  }
  for (const char* op : {"log1p", "expm1", "log2", "log10"}) {
    EXPECT_EQ(Infer(op, {I32({2})}), F32({2})) << op;
    EXPECT_EQ(Infer(op, {Of(DType::kFloat16, {2})}), Of(DType::kFloat16, {2})) << op;
  }
  for (const char* op : {"isnan", "isinf", "logical_not"}) {
    EXPECT_EQ(Infer(op, {F32({0, 3})}), Of(DType::kBool, {0, 3})) << op;
  }
  EXPECT_EQ(Infer("bitwise_invert", {Of(DType::kUInt8, {2})}), Of(DType::kUInt8, {2}));
  EXPECT_EQ(Fails("bitwise_invert", {Of(DType::kFloat16, {2})}),
            "[bitwise_invert] needs an integer or bool input, got float16");
}

TEST(PartAOpsTest, BinaryDtypes) {
  for (const char* op : {"not_equal", "less_equal", "greater_equal"}) {
    EXPECT_EQ(Infer(op, {F32({2, 1}), I32({3})}), Of(DType::kBool, {2, 3})) << op;
  }
  EXPECT_EQ(Infer("arctan2", {I32({2}), I32({})}), F32({2}));
  EXPECT_EQ(Infer("logaddexp", {Of(DType::kBFloat16, {2}), Of(DType::kBFloat16, {2})}),
            Of(DType::kBFloat16, {2}));
  EXPECT_EQ(Infer("floor_divide", {I32({2}), Of(DType::kInt64, {2})}), Of(DType::kInt64, {2}));
  EXPECT_EQ(Infer("remainder", {F32({2}), I32({2})}), F32({2}));
  EXPECT_EQ(Infer("bitwise_and", {Of(DType::kBool, {2}), Of(DType::kBool, {2})}),
            Of(DType::kBool, {2}));
  EXPECT_EQ(Infer("left_shift", {Of(DType::kUInt8, {2}), I32({2})}), I32({2}));
  EXPECT_EQ(Fails("bitwise_or", {F32({2}), I32({2})}),
            "[bitwise_or] needs integer or bool inputs, got float32 and int32");
  EXPECT_EQ(Fails("right_shift", {Of(DType::kBool, {2}), Of(DType::kBool, {2})}),
            "[right_shift] needs integer inputs, got bool and bool");
  EXPECT_EQ(Fails("floor_divide", {Of(DType::kBool, {2}), Of(DType::kBool, {2})}),
            "[floor_divide] needs numeric (not bool) inputs, got bool and bool");
  EXPECT_EQ(Fails("arctan2", {F32({2}), F32({3})}),
            "[arctan2] shapes (2,) and (3,) cannot be broadcast together");
}

TEST(ComplexOpsTest, ArithmeticKeepsComplexAndAbsGivesItsMagnitude) {
  const TensorType c = Of(DType::kComplex64, {2, 3});
  EXPECT_EQ(Infer("add", {c, F32({3})}), c);
  EXPECT_EQ(Infer("div", {I32({3}), c}), c);
  EXPECT_EQ(Infer("equal", {c, c}), Of(DType::kBool, {2, 3}));
  EXPECT_EQ(Infer("exp", {c}), c);
  EXPECT_EQ(Infer("abs", {c}), F32({2, 3}));
  EXPECT_EQ(Infer("sum", {c}, {{"axes", Ints{1}}, {"keepdims", int64_t{0}}}),
            Of(DType::kComplex64, {2}));
  EXPECT_EQ(Infer("astype", {c}, {{"dtype", DType::kFloat16}}), Of(DType::kFloat16, {2, 3}));
  EXPECT_EQ(Infer("real", {c}), F32({2, 3}));
  EXPECT_EQ(Infer("conjugate", {c}), c);
  EXPECT_EQ(Fails("imag", {F32({2})}), "[imag] needs a complex64 input, got float32");
}

TEST(ComplexOpsTest, OpsWithoutComplexKernelsRefuseIt) {
  const TensorType c = Of(DType::kComplex64, {2});
  EXPECT_EQ(Fails("maximum", {c, c}), "[maximum] does not support complex64");
  EXPECT_EQ(Fails("sort", {c}, {{"axis", int64_t{0}}}), "[sort] does not support complex64");
  EXPECT_EQ(Fails("matmul", {Of(DType::kComplex64, {2, 2}), F32({2, 2})}),
            "[matmul] only floating dtypes are supported, got complex64 and float32");
  EXPECT_EQ(Fails("full", {}, {{"value", 1.0}, {"shape", Ints{2}}, {"dtype", DType::kComplex64}}),
            "[full] does not support complex64");
}

TEST(ComplexOpsTest, FftShapes) {
  auto attrs = [](int64_t axis, int64_t n, int64_t inverse, int64_t real) {
    return Attrs{{"axis", axis}, {"n", n}, {"inverse", inverse}, {"real", real}};
  };
  EXPECT_EQ(Infer("fft", {Of(DType::kComplex64, {3, 8})}, attrs(1, 8, 0, 0)),
            Of(DType::kComplex64, {3, 8}));
  EXPECT_EQ(Infer("fft", {F32({7, 2})}, attrs(0, 7, 0, 1)), Of(DType::kComplex64, {4, 2}));
  EXPECT_EQ(Infer("fft", {Of(DType::kComplex64, {5})}, attrs(0, 8, 1, 1)), F32({8}));
  EXPECT_EQ(Infer("fft", {Of(DType::kComplex64, {5})}, attrs(0, 9, 1, 1)), F32({9}));
  EXPECT_EQ(Fails("fft", {F32({8})}, attrs(0, 8, 0, 0)),
            "[fft] needs a complex64 input, got float32");
  EXPECT_EQ(Fails("fft", {Of(DType::kComplex64, {6})}, attrs(0, 8, 1, 1)),
            "[fft] axis 0 has 6 elements, the transform of n = 8 needs 5");
  EXPECT_EQ(Fails("fft", {Of(DType::kComplex64, {0})}, attrs(0, 0, 0, 0)),
            "[fft] n must be at least 1, got 0");
  EXPECT_EQ(Fails("fft", {Of(DType::kComplex64, {})}, attrs(0, 1, 0, 0)),
            "[fft] axis 0 is out of range for an array of rank 0");
}

TEST(PartAOpsTest, AllAny) {
  const Attrs attrs{{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}};
  EXPECT_EQ(Infer("all", {F32({2, 0, 3})}, attrs), Of(DType::kBool, {2, 1, 3}));
  EXPECT_EQ(
      Infer("any", {I32({2, 3})}, {{"axes", std::vector<int64_t>{}}, {"keepdims", int64_t{0}}}),
      Of(DType::kBool, {2, 3}));
  EXPECT_EQ(Fails("any", {I32({2})}, attrs), "[any] axis 1 is out of range for an array of rank 1");
}

TEST(PartAOpsTest, Scans) {
  auto scan = [](int64_t axis, int64_t reverse = 0, int64_t inclusive = 1) {
    return Attrs{{"axis", axis}, {"reverse", reverse}, {"inclusive", inclusive}};
  };
  EXPECT_EQ(Infer("cumsum", {Of(DType::kBool, {2, 3})}, scan(1)), I32({2, 3}));
  EXPECT_EQ(Infer("cumprod", {Of(DType::kUInt8, {4})}, scan(0, 1, 0)), Of(DType::kUInt8, {4}));
  EXPECT_EQ(Infer("cummax", {Of(DType::kBool, {0, 3})}, scan(0)), Of(DType::kBool, {0, 3}));
  EXPECT_EQ(Infer("cummin", {Of(DType::kFloat16, {5})}, scan(0)), Of(DType::kFloat16, {5}));
  EXPECT_EQ(Infer("logcumsumexp", {Of(DType::kBFloat16, {5})}, scan(0)), Of(DType::kBFloat16, {5}));
  EXPECT_EQ(Infer("logcumsumexp", {Of(DType::kInt32, {2, 5})}, scan(1, 1, 0)), F32({2, 5}));
  EXPECT_EQ(Infer("logcumsumexp", {Of(DType::kFloat64, {3})}, scan(0)), Of(DType::kFloat64, {3}));
  EXPECT_EQ(Fails("cumsum", {F32({})}, scan(0)),
            "[cumsum] needs an array of rank 1 or more, got a scalar");
  EXPECT_EQ(Fails("cumsum", {F32({2})}, scan(1)),
            "[cumsum] axis 1 is out of range for an array of rank 1");
  EXPECT_EQ(Fails("cummax", {F32({2})}, scan(0, 2)),
            "[cummax] attribute 'reverse' must be 0 or 1, got 2");
  EXPECT_EQ(Fails("cummin", {F32({2})}, {{"axis", int64_t{0}}}),
            "[cummin] missing attribute 'reverse'");
}

TEST(QuantizedOpsTest, QuantizedMatmul) {
  auto attrs = [](int64_t bits, int64_t group_size, int64_t transpose) {
    return Attrs{{"bits", bits}, {"group_size", group_size}, {"transpose", transpose}};
  };
  const TensorType wq = Of(DType::kUInt32, {6, 12});  // 4 bits: 6 x 96, 3 groups of 32
  const TensorType s = Of(DType::kFloat16, {6, 3});
  EXPECT_EQ(Infer("quantized_matmul", {F32({2, 5, 96}), wq, s, s}, attrs(4, 32, 1)),
            F32({2, 5, 6}));
  EXPECT_EQ(Infer("quantized_matmul", {Of(DType::kFloat16, {4, 6}), wq, s, s}, attrs(4, 32, 0)),
            Of(DType::kFloat16, {4, 96}));
  // 3 bits: 12 words hold 128 elements, 4 groups of 32.
  EXPECT_EQ(Infer("quantized_matmul", {F32({128}), wq, F32({6, 4}), F32({6, 4})}, attrs(3, 32, 1)),
            F32({6}));
  EXPECT_EQ(Fails("quantized_matmul", {F32({2, 96}), wq, s, s}, attrs(7, 32, 1)),
            "[quantized_matmul] bits must be 1, 2, 3, 4, 5, 6 or 8, got 7");
  EXPECT_EQ(Fails("quantized_matmul", {F32({2, 96}), wq, s, s}, attrs(4, 48, 1)),
            "[quantized_matmul] group_size must be 32, 64 or 128, got 48");
  EXPECT_EQ(
      Fails("quantized_matmul", {F32({2, 96}), wq, s, s}, attrs(4, 64, 1)),
      "[quantized_matmul] rows of 96 elements ((6, 12) at bits=4) are not whole groups of 64");
  EXPECT_EQ(Fails("quantized_matmul", {F32({2, 96}), I32({6, 12}), s, s}, attrs(4, 32, 1)),
            "[quantized_matmul] the quantized matrix must be a uint32 matrix, got int32 (6, 12)");
  EXPECT_EQ(Fails("quantized_matmul", {F32({2, 96}), wq, s, F32({6, 3})}, attrs(4, 32, 1)),
            "[quantized_matmul] scales and biases must both be floating of shape (6, 3) and one "
            "dtype, got float16 (6, 3) and float32 (6, 3)");
  EXPECT_EQ(Fails("quantized_matmul", {F32({2, 95}), wq, s, s}, attrs(4, 32, 1)),
            "[quantized_matmul] x must be floating with a last dim of 96 (the matrix is 6 x 96, "
            "transposed), got float32 (2, 95)");
  EXPECT_EQ(Fails("quantized_matmul", {I32({2, 6}), wq, s, s}, attrs(4, 32, 0)),
            "[quantized_matmul] x must be floating with a last dim of 6 (the matrix is 6 x 96), "
            "got int32 (2, 6)");
}

TEST(QuantizedOpsTest, GatherQmm) {
  const Attrs attrs = {
      {"bits", int64_t{4}}, {"group_size", int64_t{32}}, {"transpose", int64_t{1}}};
  const TensorType wq = Of(DType::kUInt32, {8, 6, 12});  // 8 experts of 6 x 96
  const TensorType s = Of(DType::kBFloat16, {8, 6, 3});
  const TensorType idx = I32({5, 2});
  EXPECT_EQ(Infer("gather_qmm", {F32({5, 1, 1, 96}), wq, s, s, idx, idx}, attrs),
            F32({5, 2, 1, 6}));
  EXPECT_EQ(Infer("gather_qmm",
                  {Of(DType::kBFloat16, {3, 96}), Of(DType::kUInt32, {6, 12}),
                   Of(DType::kBFloat16, {6, 3}), Of(DType::kBFloat16, {6, 3}),
                   Of(DType::kUInt8, {}), Of(DType::kInt64, {})},
                  attrs),
            Of(DType::kBFloat16, {3, 6}));
  EXPECT_EQ(
      Fails("gather_qmm", {F32({5, 1, 96}), wq, Of(DType::kBFloat16, {6, 3}), s, idx, idx}, attrs),
      "[gather_qmm] scales and biases must both be floating of shape (8, 6, 3) and one "
      "dtype, got bfloat16 (6, 3) and bfloat16 (8, 6, 3)");
  EXPECT_EQ(Fails("gather_qmm", {F32({96}), wq, s, s, idx, idx}, attrs),
            "[gather_qmm] x must be floating with a last dim of 96 (the matrix is 6 x 96, "
            "transposed), got float32 (96,)");
  EXPECT_EQ(Fails("gather_qmm", {F32({5, 1, 96}), wq, s, s, idx, I32({5})}, attrs),
            "[gather_qmm] lhs_indices and rhs_indices must be integers of one shape, got int32 "
            "(5, 2) and int32 (5,)");
  EXPECT_EQ(Fails("gather_qmm", {F32({5, 1, 96}), Of(DType::kUInt32, {12}), s, s, idx, idx}, attrs),
            "[gather_qmm] the quantized matrix must be a uint32 matrix (or a batch of them), got "
            "uint32 (12,)");
}

}  // namespace
}  // namespace ferry::core
