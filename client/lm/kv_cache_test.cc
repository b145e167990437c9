// KVCache's sliding window: a windowed cached decode attends as the whole sequence does under
// the window mask, the window combines with left padding, and a Gemma 3 model decoding with
// its caches (prefilled in chunks, the sliding layers' rotating ones wrapping, the global
// ones growing past 256 positions) predicts what it computes over the whole sequence at
// once. The rotating cache: a decode past max_size is the window's attention in buffers of
// max_size, one shape step after step; its first `keep` positions stay; a trim after it
// wrapped hides what it overwrote; a batch's rows share one (left-padded, moved between
// caches) each as it is alone; and generation through it gives
// mlx-lm's tokens and log-probabilities (testdata/lm_rotating_mlx.py writes them).

#include "client/lm/kv_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/fast.h"
#include "client/io.h"
#include "client/lm/batch_generator.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;

// Query i sees key j when j <= i < j + window (mlx-lm's create_causal_mask).
Array WindowMask(int64_t length, int64_t window) {
  std::vector<bool> visible;
  for (int64_t i = 0; i < length; ++i) {
    for (int64_t j = 0; j < length; ++j) visible.push_back(j <= i && i < j + window);
  }
  return from_host(visible, {length, length});
}

TEST(KVCacheTest, AWindowedCachedDecodeIsTheWholeSequencesAttention) {
  const int64_t length = 20, window = 5;
  const Array q = random::normal({1, 4, length, 8}, float32, 0, 1, random::key(1));
  const Array k = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(2));
  const Array v = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(3));
  const Array want =
      fast::scaled_dot_product_attention(q, k, v, 0.5f, "", WindowMask(length, window));
  KVCache cache;
  // A prefill of 7 (past the window), a chunk of 3, then one position at a time.
  std::vector<int64_t> chunks = {7, 3};
  chunks.resize(12, 1);
  int64_t start = 0;
  for (int64_t n : chunks) {
    auto rows = [&](const Array& a) {
      return slice(a, {0, 0, start, 0}, {1, a.shape(1), start + n, 8});
    };
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(n, position, window);
    EXPECT_EQ(mask.shape(), (Shape{n, 256}));  // one graph per step until the cache grows
    const auto [keys, values] = cache.update_and_fetch(rows(k), rows(v), position);
    ExpectAllClose(fast::scaled_dot_product_attention(rows(q), keys, values, 0.5f, "", mask),
                   rows(want), 1e-5, 1e-5, "positions from " + std::to_string(start));
    start += n;
  }
  EXPECT_EQ(start, length);
}

TEST(KVCacheTest, TheWindowCombinesWithLeftPadding) {
  const int64_t length = 6, window = 3;
  const std::vector<int32_t> padding = {2, 0};
  KVCache cache;
  cache.set_left_padding(padding, default_device());
  const Array mask = cache.make_mask(length, cache.offset_array(default_device()), window);
  ASSERT_EQ(mask.shape(), (Shape{2, 1, length, 256}));
  const std::vector<int32_t> got = astype(mask, int32).to_vector<int32_t>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < length; ++i) {
      for (int64_t j = 0; j < 256; ++j) {
        const bool want = j <= i && i < j + window && (j >= padding[b] || j == i);
        EXPECT_EQ(got[(b * length + i) * 256 + j] != 0, want)
            << "row " << b << ", " << i << ", " << j;
      }
    }
  }
}

// Continuous batching's moves: extend right-aligns two caches (the shorter padded on the
// left), filter keeps rows and drops whole steps of padding they all share, extract gives
// a row's own positions back; RoPE then puts each row at its own count of tokens.
TEST(KVCacheTest, ExtendFilterAndExtractMoveRowsWithTheirPositions) {
  auto filled = [](int64_t length, uint64_t seed) {
    KVCache cache;
    const Array k = random::normal({1, 2, length, 4}, float32, 0, 1, random::key(seed));
    cache.update_and_fetch(k, k * 2.0f, cache.offset_array(default_device()));
    return std::make_pair(cache, k);
  };
  // Named, not bound: the lambdas below capture them (clang refuses a bound name there).
  std::pair<KVCache, Array> first = filled(5, 1), second = filled(300, 2);
  KVCache& batch = first.first;
  const KVCache& other = second.first;
  Array& short_keys = first.second;
  Array& long_keys = second.second;
  batch.extend(other);
  EXPECT_EQ(batch.rows(), 2);
  EXPECT_EQ(batch.offset(), 300);
  EXPECT_EQ(batch.capacity(), 512);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{295, 0}));
  const Array position = batch.offset_array(default_device());
  EXPECT_EQ(batch.rope_offset(position).to_vector<int32_t>(), (std::vector<int32_t>{5, 300}));
  EXPECT_EQ(batch.extract(0, 5).state()[0].to_vector<float>(), short_keys.to_vector<float>());
  EXPECT_EQ(batch.extract(1, 300).state()[1].to_vector<float>(),
            (long_keys * 2.0f).to_vector<float>());
  // The long row leaves: the short one's 295 positions of padding lose one whole step.
  batch.filter({0});
  EXPECT_EQ(batch.rows(), 1);
  EXPECT_EQ(batch.offset(), 44);
  EXPECT_EQ(batch.capacity(), 256);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{39}));
  EXPECT_EQ(batch.extract(0, 5).state()[0].to_vector<float>(), short_keys.to_vector<float>());
  EXPECT_NE(BuildError([&] { batch.extract(0, 6); }).find("row 0 does not hold 6 positions"),
            std::string::npos);
  EXPECT_NE(BuildError([&] { batch.filter({1}); }).find("row 1 is not among the 1 rows"),
            std::string::npos);
}

// Query i sees key j when j <= i, and j is among the first `keep` or less than `ring` behind
// (a rotating cache's decode, one token at a time).
Array KeepMask(int64_t length, int64_t keep, int64_t ring) {
  std::vector<bool> visible;
  for (int64_t i = 0; i < length; ++i) {
    for (int64_t j = 0; j < length; ++j) visible.push_back(j <= i && (j < keep || i - j < ring));
  }
  return from_host(visible, {length, length});
}

// Runs q, k, v (B, heads, length, 8) through `cache` in `chunks`, checking each chunk's
// attention against the rows of `want`, and each update's key count and mask shape.
void DecodeInChunks(KVCache& cache, const Array& q, const Array& k, const Array& v,
                    const Array& want, const std::vector<int64_t>& chunks,
                    std::optional<int64_t> window, int64_t ring_size) {
  int64_t start = 0;
  for (int64_t n : chunks) {
    auto rows = [&](const Array& a) {
      return slice(a, {0, 0, start, 0}, {1, a.shape(1), start + n, 8});
    };
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(n, position, window);
    const auto [keys, values] = cache.update_and_fetch(rows(k), rows(v), position);
    ASSERT_EQ(mask.shape(), (Shape{n, keys.shape(2)}));
    // One token writes the ring in place: max_size positions, whatever the position.
    if (n == 1 && start + 1 >= ring_size) {
      EXPECT_EQ(keys.shape(2), ring_size);
    }
    EXPECT_LE(cache.capacity(), ring_size);
    ExpectAllClose(fast::scaled_dot_product_attention(rows(q), keys, values, 0.5f, "", mask),
                   rows(want), 1e-5, 1e-5, "positions from " + std::to_string(start));
    start += n;
  }
}

TEST(KVCacheTest, ARotatingDecodePastMaxSizeIsTheWindowsAttention) {
  const int64_t length = 30, window = 5;
  const Array q = random::normal({1, 4, length, 8}, float32, 0, 1, random::key(1));
  const Array k = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(2));
  const Array v = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(3));
  const Array want =
      fast::scaled_dot_product_attention(q, k, v, 0.5f, "", WindowMask(length, window));
  // A prefill of 7 (past max_size), a chunk of 3, one token, a chunk of 6 into the wrapped
  // ring, then one at a time: the ring turns over several times.
  std::vector<int64_t> chunks = {7, 3, 1, 6};
  chunks.resize(chunks.size() + 13, 1);
  for (std::optional<int64_t> mask_window : {std::optional<int64_t>(), std::optional(window)}) {
    KVCache cache = KVCache::rotating(window);
    DecodeInChunks(cache, q, k, v, want, chunks, mask_window, window);
    EXPECT_EQ(cache.offset(), length);
    EXPECT_EQ(cache.state()[0].shape(), (Shape{1, 2, window, 8}));  // the memory: max_size
  }
}

TEST(KVCacheTest, ARotatingCacheKeepsItsFirstPositions) {
  const int64_t length = 20, max_size = 7, keep = 3;
  const Array q = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(4));
  const Array k = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(5));
  const Array v = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(6));
  const Array want = fast::scaled_dot_product_attention(q, k, v, 0.5f, "",
                                                        KeepMask(length, keep, max_size - keep));
  KVCache cache = KVCache::rotating(max_size, keep);
  DecodeInChunks(cache, q, k, v, want, std::vector<int64_t>(length, 1), std::nullopt, max_size);
  EXPECT_EQ(cache.state()[1].shape(), (Shape{1, 2, max_size, 8}));
}

TEST(KVCacheTest, ARotatingDecodeIsOneShapeStepAfterStep) {
  // A window of 300: the ring grows by 256 like a plain cache, then stays at 300.
  KVCache cache = KVCache::rotating(300);
  const Array kv = zeros({1, 2, 1, 4}, float32);
  std::vector<Shape> shapes;
  for (int step = 0; step < 700; ++step) {
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(1, position);
    const auto [keys, values] = cache.update_and_fetch(kv, kv, position);
    if (shapes.empty() || shapes.back() != keys.shape()) shapes.push_back(keys.shape());
    EXPECT_EQ(mask.shape(), (Shape{1, keys.shape(2)}));
  }
  EXPECT_EQ(shapes, (std::vector<Shape>{{1, 2, 256, 4}, {1, 2, 300, 4}}));
  EXPECT_EQ(cache.capacity(), 300);
}

TEST(KVCacheTest, ATrimOfAWrappedRingHidesWhatTheTrimmedPositionsOverwrote) {
  // 12 positions into a ring of 5, the last 3 trimmed (their writes overwrote 4 to 6), then 3
  // others at 9 to 11: each query sees the window's positions the ring still holds, from 7.
  const int64_t max_size = 5;
  const Array k = random::normal({1, 1, 15, 8}, float32, 0, 1, random::key(7));
  const Array v = random::normal({1, 1, 15, 8}, float32, 0, 1, random::key(8));
  const Array q = random::normal({1, 1, 15, 8}, float32, 0, 1, random::key(9));
  auto at = [](const Array& a, int64_t i) { return slice(a, {0, 0, i, 0}, {1, 1, i + 1, 8}); };
  // The sequence after the trim: positions 0 to 8, then the keys drawn for 12 to 14.
  auto kept = [](const Array& a) {
    return concatenate(
        {slice(a, {0, 0, 0, 0}, {1, 1, 9, 8}), slice(a, {0, 0, 12, 0}, {1, 1, 15, 8})}, 2);
  };
  KVCache cache = KVCache::rotating(max_size);
  for (int64_t i = 0; i < 12; ++i) {
    cache.update_and_fetch(at(k, i), at(v, i), cache.offset_array(default_device()));
  }
  EXPECT_EQ(cache.trim(3), 3);
  for (int64_t i = 9; i < 12; ++i) {
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(1, position);
    const auto [keys, values] = cache.update_and_fetch(at(k, i + 3), at(v, i + 3), position);
    std::vector<bool> visible(12, false);
    for (int64_t j = std::max<int64_t>(i - max_size + 1, 7); j <= i; ++j) visible[j] = true;
    const Array want = fast::scaled_dot_product_attention(at(q, i), kept(k), kept(v), 0.5f, "",
                                                          from_host(visible, {1, 12}));
    ExpectAllClose(fast::scaled_dot_product_attention(at(q, i), keys, values, 0.5f, "", mask), want,
                   1e-5, 1e-5, "position " + std::to_string(i));
  }
}

// Continuous batching over a rotating cache: rows prefilled together (left-padded, in
// chunks) or alone, joining a batch whose ring has wrapped, leaving it (a whole step of
// padding dropped: the ring turns) and extracted, each attend as the whole row does under
// the window, in buffers of the window.
void ExpectRotatingBatchRowsAsAlone(int64_t window) {
  SCOPED_TRACE("window " + std::to_string(window));
  const int64_t lengths[] = {40, 40, 40, 40, 300};
  std::vector<Array> q, k, v, want;
  for (int r = 0; r < 5; ++r) {
    const int64_t n = lengths[r];
    q.push_back(random::normal({1, 4, n, 8}, float32, 0, 1, random::key(10 + r)));
    k.push_back(random::normal({1, 2, n, 8}, float32, 0, 1, random::key(20 + r)));
    v.push_back(random::normal({1, 2, n, 8}, float32, 0, 1, random::key(30 + r)));
    want.push_back(
        fast::scaled_dot_product_attention(q[r], k[r], v[r], 0.5f, "", WindowMask(n, window)));
  }
  std::vector<int64_t> fed(5, 0);
  auto span = [](const Array& a, int64_t from, int64_t n) {
    return slice(a, {0, 0, from, 0}, {1, a.shape(1), from + n, a.shape(3)});
  };
  // `n` more tokens of `rows` through `cache`, right-aligned (a row given fewer, own[i],
  // padded on the left), each row's checked against its whole sequence's attention.
  auto step = [&](KVCache& cache, const std::vector<int>& rows, int64_t n,
                  std::vector<int64_t> own = {}) {
    if (own.empty()) own.assign(rows.size(), n);
    std::vector<Array> qs, ks, vs;
    for (size_t i = 0; i < rows.size(); ++i) {
      auto padded = [&](const Array& a) {
        return pad(span(a, fed[rows[i]], own[i]), {{0, 0}, {0, 0}, {n - own[i], 0}, {0, 0}});
      };
      qs.push_back(padded(q[rows[i]]));
      ks.push_back(padded(k[rows[i]]));
      vs.push_back(padded(v[rows[i]]));
    }
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(n, position, window);
    const std::pair<Array, Array> kv =
        cache.update_and_fetch(concatenate(ks, 0), concatenate(vs, 0), position);
    const Array out =
        fast::scaled_dot_product_attention(concatenate(qs, 0), kv.first, kv.second, 0.5f, "", mask);
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t b = static_cast<int64_t>(i);
      ExpectAllClose(slice(out, {b, 0, n - own[i], 0}, {b + 1, 4, n, 8}),
                     span(want[rows[i]], fed[rows[i]], own[i]), 1e-5, 1e-5,
                     "row " + std::to_string(rows[i]) + " from " + std::to_string(fed[rows[i]]));
      fed[rows[i]] += own[i];
    }
    EXPECT_LE(cache.capacity(), window);  // the memory: the window, however long the rows
  };
  // Rows 0 and 1 (9 and 11 tokens) prefilled together in chunks of 4, then decoding past
  // the window.
  KVCache batch = KVCache::rotating(window);
  batch.set_left_padding({2, 0}, default_device());
  step(batch, {0, 1}, 4, {2, 4});
  step(batch, {0, 1}, 4);
  step(batch, {0, 1}, 3);
  for (int i = 0; i < 4; ++i) step(batch, {0, 1}, 1);
  // Row 2, shorter than the batch, and row 3, longer, join it.
  KVCache two = KVCache::rotating(window), three = KVCache::rotating(window);
  step(two, {2}, 13);
  batch.extend(two);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{2, 0, 2}));
  for (int i = 0; i < 3; ++i) step(batch, {0, 1, 2}, 1);
  step(three, {3}, 20);
  batch.extend(three);
  for (int i = 0; i < 2; ++i) step(batch, {0, 1, 2, 3}, 1);
  // Row 4's 280 tokens (in chunks) put 258 columns of padding before the others.
  KVCache four = KVCache::rotating(window);
  for (int64_t n : {100, 100, 80}) step(four, {4}, n);
  batch.extend(four);
  EXPECT_EQ(batch.offset(), 280);
  for (int i = 0; i < 3; ++i) step(batch, {0, 1, 2, 3, 4}, 1);
  EXPECT_EQ(batch.state()[0].shape(), (Shape{5, 2, std::min<int64_t>(window, 512), 8}));
  // Rows 1 and 3 stay: they share 258 columns of padding, a step of 256 of them dropped.
  batch.filter({1, 3});
  EXPECT_EQ(batch.offset(), 283 - 256);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{4, 2}));
  for (int i = 0; i < 4; ++i) step(batch, {1, 3}, 1);
  step(batch, {1, 3}, 3);  // a chunk into the wrapped ring
  step(batch, {1, 3}, 1);
  // A row extracted continues alone.
  KVCache one = batch.extract(0, fed[1]);
  EXPECT_EQ(one.offset(), fed[1]);
  EXPECT_EQ(one.rows(), 1);
  step(one, {1}, 1);
  step(one, {1}, 2);
}

// A window of 6 wraps everywhere; one of 300 grows the batch's ring from 256 to 300, and the
// filter moves its rows' columns to other slots before it wrapped.
TEST(KVCacheTest, ARotatingBatchsRowsAttendAsEachDoesAlone) {
  ExpectRotatingBatchRowsAsAlone(6);
  ExpectRotatingBatchRowsAsAlone(300);
}

TEST(KVCacheTest, BatchingRefusesWhatCannotShareARing) {
  const Array kv = zeros({1, 2, 3, 4}, float32);
  auto filled = [&](KVCache cache) {
    cache.update_and_fetch(kv, kv, cache.offset_array(default_device()));
    return cache;
  };
  KVCache rotating = filled(KVCache::rotating(8)), plain = filled(KVCache());
  KVCache keeping = filled(KVCache::rotating(8, 2));
  EXPECT_NE(BuildError([&] { rotating.extend(plain); }).find("extend takes caches of one kind"),
            std::string::npos);
  EXPECT_NE(BuildError([&] { plain.extend(rotating); }).find("got max_size 0 and 8"),
            std::string::npos);
  EXPECT_NE(BuildError([&] {
              rotating.extend(filled(KVCache::rotating(9)));
            }).find("got max_size 8 and 9"),
            std::string::npos);
  for (const std::string& error :
       {BuildError([&] { keeping.extend(rotating); }), BuildError([&] { keeping.filter({0}); }),
        BuildError([&] { keeping.extract(0, 3); }), BuildError([&] {
          KVCache::rotating(8, 2).set_left_padding({0, 1}, default_device());
        })}) {
    EXPECT_NE(error.find("not one (max_size 8) keeping 2"), std::string::npos) << error;
  }
  // A trim after the ring wrapped hides slots the other rows would see.
  KVCache wrapped = KVCache::rotating(4);
  for (int i = 0; i < 3; ++i) {
    wrapped.update_and_fetch(kv, kv, wrapped.offset_array(default_device()));
  }
  wrapped.trim(2);
  EXPECT_NE(BuildError([&] { rotating.extend(wrapped); }).find("trimmed after it wrapped"),
            std::string::npos);
  // A wrapped ring no longer holds a beginning's window.
  EXPECT_NE(BuildError([&] {
              filled(filled(rotating)).extract(0, 3);
            }).find("first 3 positions are no longer in the rotating cache"),
            std::string::npos);
  EXPECT_EQ(filled(filled(rotating)).extract(0, 9).offset(), 9);
  KVCache head64;
  const Array kv64 = zeros({1, 2, 3, 64}, float32);
  head64.update_and_fetch(kv64, kv64, head64.offset_array(default_device()));
  EXPECT_NE(BuildError([&] { head64.to_quantized().filter({0}); }).find("not a quantized one"),
            std::string::npos);
  EXPECT_NE(BuildError([] { KVCache::rotating(4, 4); }).find("got max_size 4 and keep 4"),
            std::string::npos);
}

TEST(KVCacheTest, MakePromptCacheIsMlxLms) {
  std::unique_ptr<Model> gemma = make_model(ModelArgs::from_json(R"({
    "model_type": "gemma3_text", "hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "vocab_size": 50, "sliding_window": 6, "sliding_window_pattern": 2,
    "query_pre_attn_scalar": 8})"));
  std::unique_ptr<Model> llama = make_model(ModelArgs::from_json(R"({
    "model_type": "llama", "hidden_size": 16, "num_hidden_layers": 2, "intermediate_size": 32,
    "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 50,
    "rms_norm_eps": 1e-5})"));
  auto sizes = [](const std::vector<KVCache>& cache) {
    std::vector<std::pair<int64_t, int64_t>> out;  // (max_size or 0, keep)
    for (const KVCache& c : cache) out.emplace_back(c.max_size().value_or(0), c.keep());
    return out;
  };
  using Sizes = std::vector<std::pair<int64_t, int64_t>>;
  // Gemma 3's make_cache: the window for the sliding layers (max_kv_size unused, as mlx-lm).
  EXPECT_EQ(sizes(make_prompt_cache(*gemma)), (Sizes{{6, 0}, {0, 0}, {6, 0}, {0, 0}}));
  EXPECT_EQ(sizes(make_prompt_cache(*gemma, 100)), (Sizes{{6, 0}, {0, 0}, {6, 0}, {0, 0}}));
  EXPECT_EQ(sizes(make_prompt_cache(*llama)), (Sizes{{0, 0}, {0, 0}}));
  EXPECT_EQ(sizes(make_prompt_cache(*llama, 32)), (Sizes{{32, 4}, {32, 4}}));
  EXPECT_NE(BuildError([&] { make_prompt_cache(*llama, 4); }).find("max_kv_size must exceed"),
            std::string::npos);
  // Batching takes make_prompt_cache()'s caches, layer by layer.
  BatchGenerator batch(*gemma);
  BatchSequence sequence;
  sequence.prompt = {1, 2};
  sequence.cache = make_prompt_cache(*gemma);
  batch.insert(sequence);
  sequence.cache = gemma->make_cache();
  EXPECT_NE(BuildError([&] { batch.insert(std::move(sequence)); })
                .find("the cache's layer 0 is plain; a batch takes make_prompt_cache()'s, "
                      "rotating (max_size 6) there"),
            std::string::npos);
}

TEST(KVCacheTest, AGemma3CachedDecodeIsTheWholeSequencesPrediction) {
  random::seed(4);
  std::unique_ptr<Model> model = make_model(ModelArgs::from_json(R"({
    "model_type": "gemma3_text", "hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "vocab_size": 50, "sliding_window": 6, "sliding_window_pattern": 2,
    "query_pre_attn_scalar": 8})"));
  // 250 prompt tokens in chunks of 100, then 12 steps: the cache grows from 256 to 512.
  const std::vector<int32_t> prompt =
      astype(random::randint(0, 50, {250}, int32, random::key(9)), int32).to_vector<int32_t>();
  GenerateOptions options;
  options.max_tokens = 12;
  options.prefill_step_size = 100;
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> sequence = prompt;
  std::vector<Array> logprobs;
  while (std::optional<GenerationStep> step = generator.next()) {
    sequence.push_back(step->token);
    logprobs.push_back(step->logprobs);
  }
  ASSERT_EQ(logprobs.size(), 12u);
  const int64_t n = static_cast<int64_t>(sequence.size()) - 1;
  const Array logits =
      (*model)(from_host(std::vector<int32_t>(sequence.begin(), sequence.end() - 1), {1, n}));
  for (int64_t i = 0; i < 12; ++i) {
    const Array row = reshape(slice(logits, {0, 249 + i, 0}, {1, 250 + i, 50}), {50});
    ExpectAllClose(logprobs[static_cast<size_t>(i)], row - logsumexp(row), 1e-4, 1e-5,
                   "step " + std::to_string(i));
  }
}

// mlx-lm's generate_step through its rotating caches (max_kv_size for qwen2, Gemma 3's own
// for its sliding layers), prompts longer than them, prefilled in chunks or whole.
class RotatingMlxTest : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(RotatingMlxTest, GenerationThroughRotatingCachesIsMlxLms) {
  const auto& [name, directory] = GetParam();
  std::unordered_map<std::string, Array> arrays =
      load_safetensors(TestData("lm_rotating_mlx.safetensors")).first;
  std::unique_ptr<Model> model = load_model(TestData(directory));
  const std::vector<int32_t> prompt = arrays.at(name + ".prompt").to_vector<int32_t>();
  const std::vector<int32_t> want = arrays.at(name + ".greedy").to_vector<int32_t>();
  const std::vector<int32_t> settings = arrays.at(name + ".options").to_vector<int32_t>();
  const Array want_logprobs = arrays.at(name + ".logprobs");
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  options.prefill_step_size = settings[1];
  if (settings[0] > 0) options.max_kv_size = settings[0];
  // The caches handed in, to see their sizes after.
  std::vector<KVCache> cache = make_prompt_cache(*model, options.max_kv_size);
  options.prompt_cache = &cache;
  std::vector<int32_t> got;
  double largest = 0;
  {
    TokenGenerator generator(*model, prompt, options);
    while (std::optional<GenerationStep> step = generator.next()) {
      const int64_t i = static_cast<int64_t>(got.size());
      const Array row =
          reshape(slice(want_logprobs, {i, 0}, {i + 1, want_logprobs.shape(1)}), {-1});
      ExpectAllClose(step->logprobs, row, 2e-4, 2e-4, name + " step " + std::to_string(i));
      largest = std::max<double>(largest, max(abs(step->logprobs - row)).item<float>());
      got.push_back(step->token);
    }
  }
  EXPECT_EQ(got, want);
  std::printf("%s: %zu tokens, largest log-probability difference from mlx-lm %.3g\n", name.c_str(),
              got.size(), largest);
  // The memory: each rotating layer's buffers hold its max_size positions, no more.
  int rotating = 0;
  for (const KVCache& layer : cache) {
    if (!layer.max_size()) continue;
    ++rotating;
    EXPECT_EQ(layer.state()[0].shape(2), *layer.max_size()) << name;
  }
  EXPECT_EQ(rotating, settings[0] > 0 ? model->args().num_hidden_layers : 5) << name;
}

INSTANTIATE_TEST_SUITE_P(Cases, RotatingMlxTest,
                         ::testing::Values(std::make_pair("qwen2_kv16_chunk12", "qwen2"),
                                           std::make_pair("qwen2_kv16", "qwen2"),
                                           std::make_pair("gemma3_text_chunk6", "gemma3_text")),
                         [](const auto& info) { return info.param.first; });

}  // namespace
}  // namespace ferry::lm
