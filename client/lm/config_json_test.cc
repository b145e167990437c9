// config.json as transformers writes it through Python's json: Infinity, -Infinity and NaN
// (outside strings) read, strings left as they are, and a Mamba-2 config whose
// time_step_limit holds Infinity loads as ModelArgs.

#include "client/lm/config_json.h"

#include <limits>

#include "client/lm/model_args.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

TEST(ConfigJson, PythonsNonFiniteNumbersAreRead) {
  const nlohmann::json j = parse_config_json(
      R"({"limit": [0.0, Infinity], "low": -Infinity, "x": NaN, "s": "Infinity \"NaN\""})");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["limit"][1].get<double>(), std::numeric_limits<double>::max());
  EXPECT_EQ(static_cast<float>(j["limit"][1].get<double>()),
            std::numeric_limits<float>::infinity());
  EXPECT_EQ(j["low"].get<double>(), -std::numeric_limits<double>::max());
  EXPECT_TRUE(j["x"].is_null());
  EXPECT_EQ(j["s"], "Infinity \"NaN\"");
  EXPECT_TRUE(parse_config_json("{\"a\": Inf}").is_discarded());
}

TEST(ConfigJson, AMamba2ConfigWithAnInfiniteTimeStepLimitLoads) {
  const ModelArgs args = ModelArgs::from_json(R"({"model_type": "mamba2", "vocab_size": 96,
      "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
      "layer_norm_epsilon": 1e-5, "num_heads": 4, "head_dim": 16, "state_size": 16,
      "n_groups": 1, "conv_kernel": 4, "use_bias": false, "use_conv_bias": true,
      "time_step_limit": [0.0, Infinity], "time_step_rank": 8, "residual_in_fp32": true,
      "tie_word_embeddings": true, "expand": 2})");
  EXPECT_EQ(args.model_type, "mamba2");
}

}  // namespace
}  // namespace ferry::lm
