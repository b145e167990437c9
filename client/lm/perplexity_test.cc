// mlx_lm.perplexity here: eval_ppl's perplexity and standard error of the tiny llama and its
// 4-bit twin on the same rows (testdata/perplexity_mlx.py); rows cut from token sequences
// as load_data cuts them; bad input refused by name.

#include "client/lm/perplexity.h"

#include "client/ferry.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;
using ::testing::HasSubstr;

TEST(Perplexity, ItIsMlxLmsEvalPpl) {
  const auto fixture = load_safetensors(TestData("perplexity_mlx.safetensors")).first;
  for (const std::string name : {"llama", "llama_4bit"}) {
    std::unique_ptr<Model> model = load_model(TestData(name));
    const Perplexity got = perplexity(*model, fixture.at("data"), /*batch_size=*/2);
    const double want = Array(fixture.at(name + ".ppl")).item<float>();
    const double want_error = Array(fixture.at(name + ".standard_error")).item<float>();
    EXPECT_NEAR(got.perplexity, want, 1e-5 * want) << name;
    EXPECT_NEAR(got.standard_error, want_error, 1e-4 * want_error) << name;
    EXPECT_EQ(got.tokens, 5 * 16) << name;
  }
}

TEST(Perplexity, RowsAreTheSequencesConcatenatedAndCut) {
  const std::vector<std::vector<int32_t>> sequences = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9}};
  Array rows = perplexity_rows(sequences, 4, -1, /*seed=*/0);
  EXPECT_EQ(rows.shape(), (Shape{2, 4}));  // 9 tokens: two rows, the rest dropped
  std::vector<int32_t> tokens = rows.to_vector<int32_t>();
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens.size(), 8u);
  EXPECT_EQ(perplexity_rows(sequences, 2, 3, 0).shape(), (Shape{3, 2}));  // num_samples rows
  // The same seed, the same order.
  EXPECT_TRUE(
      array_equal(perplexity_rows(sequences, 3, -1, 7), perplexity_rows(sequences, 3, -1, 7))
          .item<bool>());
}

TEST(Perplexity, BadInputIsRefusedByName) {
  std::unique_ptr<Model> model = load_model(TestData("llama"));
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message([&] { perplexity(*model, zeros({3}, int32)); }),
              HasSubstr("data must be (N, L) token rows with L >= 2"));
  EXPECT_THAT(message([] {
                perplexity_rows({{1, 2}}, 4, -1, 0);
              }),
              HasSubstr("the data holds 2 tokens, fewer than one row of 4"));
}

}  // namespace
}  // namespace ferry::lm
