//===- RuntimeSessionTest.cpp - Steps, generation and sampling ------------===//
//
// Runs the bigram model of ArtifactBuilder.h through real kernels: its logits
// after a token are exactly one row of its weights, so every step and every
// generated sequence is known in advance.
//
//===----------------------------------------------------------------------===//

#include "runtime/Generator.h"
#include "runtime/Sampler.h"
#include "runtime/CpuSession.h"
#include "runtime/ThreadPool.h"
#include "test/runtime/RuntimeTest.h"

#include <gmock/gmock.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

using namespace attn::runtime;
using namespace attn::test;
using ::testing::ElementsAreArray;

namespace {

constexpr int64_t V = 8;
// Token ids of the bigram vocabulary.
constexpr int32_t kStop = 0, kSpace = 1, kA = 2, kB = 3, kC = 4, kD = 5,
                  kHello = 6, kBang = 7;

/// The logits the bigram model gives after `token`, plus `counts[j]` for
/// each j (the history variant).
std::vector<float> expectedLogits(int32_t token,
                                  const std::vector<float> &counts = {}) {
  std::vector<float> logits;
  for (int32_t j = 0; j < V; ++j)
    logits.push_back(bigramLogit(token, j) + (counts.empty() ? 0 : counts[j]));
  return logits;
}

std::vector<float> toVector(const float *logits) {
  return std::vector<float>(logits, logits + V);
}

class RuntimeSessionTest : public RuntimeTest {
protected:
  std::unique_ptr<CpuSession> createSession(const ArtifactSpec &spec,
                                            unsigned threads = 2) {
    std::shared_ptr<const Artifact> artifact = open(spec);
    if (!artifact)
      return nullptr;
    std::unique_ptr<CpuSession> session;
    Status status = CpuSession::create(artifact, threads, session);
    EXPECT_TRUE(status.ok()) << status.message();
    return session;
  }

  /// The generated tokens and the stop reason of a whole generation.
  struct Generated {
    std::vector<int32_t> tokens;
    StopReason reason = StopReason::None;
  };

  Generated generate(Session &session, std::vector<int32_t> prompt,
                     const GenerateOptions &options = {}) {
    Generated result;
    std::unique_ptr<Generator> generator;
    Status status = Generator::start(session, prompt.data(), prompt.size(),
                                     options, generator);
    EXPECT_TRUE(status.ok()) << status.message();
    if (!generator)
      return result;
    while (result.reason == StopReason::None) {
      int32_t token;
      status = generator->next(token, result.reason);
      EXPECT_TRUE(status.ok()) << status.message();
      if (!status.ok())
        break;
      if (token >= 0)
        result.tokens.push_back(token);
    }
    return result;
  }

  std::string startError(Session &session, std::vector<int32_t> prompt,
                         const GenerateOptions &options = {}) {
    std::unique_ptr<Generator> generator;
    Status status = Generator::start(session, prompt.data(), prompt.size(),
                                     options, generator);
    EXPECT_FALSE(status.ok());
    return status.message();
  }
};

TEST_F(RuntimeSessionTest, PrefillLogitsAreTheLastTokensRow) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  const float *logits;
  std::vector<int32_t> prompt = {kHello, kSpace, kA};
  ASSERT_TRUE(session->run("prefill", prompt.data(), 3, 0, logits).ok());
  EXPECT_THAT(toVector(logits), ElementsAreArray(expectedLogits(kA)));
}

TEST_F(RuntimeSessionTest, DecodeStepsUseTheirOwnToken) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  const float *logits;
  for (int32_t token : {kB, kBang, kStop}) {
    ASSERT_TRUE(session->run("decode", &token, 1, 5, logits).ok());
    EXPECT_THAT(toVector(logits), ElementsAreArray(expectedLogits(token)));
  }
}

TEST_F(RuntimeSessionTest, EveryThreadCountComputesTheSameLogits) {
  std::vector<int32_t> prompt = {kHello, kSpace, kA, kB, kC, kD, kBang};
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    auto session = createSession(bigramModel(16, /*history=*/true), threads);
    ASSERT_TRUE(session);
    EXPECT_EQ(session->threads(), threads);
    const float *logits;
    ASSERT_TRUE(session->run("prefill", prompt.data(), 7, 0, logits).ok());
    std::vector<float> counts = {0, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_THAT(toVector(logits),
                ElementsAreArray(expectedLogits(kBang, counts)))
        << threads << " threads";
  }
}

TEST_F(RuntimeSessionTest, TheKVCachePersistsAcrossStepsUntilReset) {
  auto session = createSession(bigramModel(16, /*history=*/true));
  ASSERT_TRUE(session);
  const float *logits;
  std::vector<int32_t> prompt = {kHello, kSpace};
  ASSERT_TRUE(session->run("prefill", prompt.data(), 2, 0, logits).ok());
  std::vector<float> counts(V, 0);
  counts[kHello] = counts[kSpace] = 1;
  EXPECT_THAT(toVector(logits),
              ElementsAreArray(expectedLogits(kSpace, counts)));

  int64_t position = 2;
  for (int32_t token : {kA, kA, kB}) {
    ASSERT_TRUE(session->run("decode", &token, 1, position++, logits).ok());
    counts[token] += 1;
    EXPECT_THAT(toVector(logits),
                ElementsAreArray(expectedLogits(token, counts)));
  }

  // After a reset the history is empty again.
  ASSERT_TRUE(session->reset().ok());
  int32_t token = kC;
  ASSERT_TRUE(session->run("prefill", &token, 1, 0, logits).ok());
  std::vector<float> fresh(V, 0);
  fresh[kC] = 1;
  EXPECT_THAT(toVector(logits), ElementsAreArray(expectedLogits(kC, fresh)));
}

TEST_F(RuntimeSessionTest, SessionsOnOneArtifactAreIndependent) {
  std::shared_ptr<const Artifact> artifact =
      open(bigramModel(16, /*history=*/true));
  ASSERT_TRUE(artifact);
  std::unique_ptr<CpuSession> first, second;
  ASSERT_TRUE(CpuSession::create(artifact, 1, first).ok());
  ASSERT_TRUE(CpuSession::create(artifact, 1, second).ok());
  // The sessions keep the artifact alive.
  artifact.reset();
  const float *logits;
  int32_t token = kA;
  ASSERT_TRUE(first->run("prefill", &token, 1, 0, logits).ok());
  token = kB;
  ASSERT_TRUE(second->run("prefill", &token, 1, 0, logits).ok());
  std::vector<float> counts(V, 0);
  counts[kB] = 1;
  EXPECT_THAT(toVector(logits), ElementsAreArray(expectedLogits(kB, counts)));
}

TEST_F(RuntimeSessionTest, RunRejectsStepsThatDoNotFit) {
  auto session = createSession(bigramModel(16));
  ASSERT_TRUE(session);
  std::string file = path("model.attn");
  const float *logits;
  std::vector<int32_t> tokens = {kA, 8};
  auto runError = [&](const char *program, int64_t S, int64_t T) {
    Status status = session->run(program, tokens.data(), S, T, logits);
    EXPECT_FALSE(status.ok());
    return status.message();
  };
  EXPECT_EQ(runError("train", 1, 0), file + ": there is no program 'train'");
  EXPECT_EQ(runError("prefill", 2, 0),
            file + ": token id 8 at index 1 is not in the vocabulary [0, 8)");
  tokens[1] = -1;
  EXPECT_EQ(runError("prefill", 2, 0),
            file + ": token id -1 at index 1 is not in the vocabulary [0, 8)");
  EXPECT_EQ(runError("decode", 2, 0),
            file + ": program 'decode' takes 1 tokens per step, not 2");
  EXPECT_EQ(runError("prefill", 0, 0),
            file + ": a step needs at least one token");
  EXPECT_EQ(runError("decode", 1, 16),
            file + ": a step of 1 tokens at position 16 does not fit in the "
                   "context of 16 tokens");
  EXPECT_EQ(runError("decode", 1, -1),
            file + ": a step of 1 tokens at position -1 does not fit in the "
                   "context of 16 tokens");
}

TEST_F(RuntimeSessionTest, GreedyGenerationFollowsTheBigramChain) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  Generated result = generate(*session, {kHello});
  EXPECT_EQ(result.tokens,
            (std::vector<int32_t>{kSpace, kA, kB, kC, kD, kStop}));
  EXPECT_EQ(result.reason, StopReason::Eos);
}

TEST_F(RuntimeSessionTest, EachStepsLogitsAreExposed) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  std::vector<int32_t> prompt = {kC};
  std::unique_ptr<Generator> generator;
  ASSERT_TRUE(
      Generator::start(*session, prompt.data(), 1, {}, generator).ok());
  EXPECT_EQ(generator->prompt(), prompt);
  EXPECT_THAT(toVector(generator->logits()),
              ElementsAreArray(expectedLogits(kC)));
  int32_t token;
  StopReason reason;
  ASSERT_TRUE(generator->next(token, reason).ok());
  EXPECT_EQ(token, kD);
  EXPECT_EQ(reason, StopReason::None);
  EXPECT_THAT(toVector(generator->logits()),
              ElementsAreArray(expectedLogits(kD)));
  ASSERT_TRUE(generator->next(token, reason).ok());
  EXPECT_EQ(token, kStop);
  EXPECT_EQ(reason, StopReason::Eos);
  // Nothing after the end.
  ASSERT_TRUE(generator->next(token, reason).ok());
  EXPECT_EQ(token, -1);
  EXPECT_EQ(reason, StopReason::Eos);
}

TEST_F(RuntimeSessionTest, GenerationStopsAtMaxNewTokens) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  GenerateOptions options;
  options.maxNewTokens = 3;
  Generated result = generate(*session, {kHello}, options);
  EXPECT_EQ(result.tokens, (std::vector<int32_t>{kSpace, kA, kB}));
  EXPECT_EQ(result.reason, StopReason::Length);
}

TEST_F(RuntimeSessionTest, ZeroNewTokensRunsThePrefillOnly) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  GenerateOptions options;
  options.maxNewTokens = 0;
  std::vector<int32_t> prompt = {kHello, kSpace};
  std::unique_ptr<Generator> generator;
  ASSERT_TRUE(
      Generator::start(*session, prompt.data(), 2, options, generator).ok());
  EXPECT_THAT(toVector(generator->logits()),
              ElementsAreArray(expectedLogits(kSpace)));
  int32_t token;
  StopReason reason;
  ASSERT_TRUE(generator->next(token, reason).ok());
  EXPECT_EQ(token, -1);
  EXPECT_EQ(reason, StopReason::Length);
}

TEST_F(RuntimeSessionTest, GenerationStopsWhenTheContextIsFull) {
  // "!" follows "!" forever; a context of 4 holds the prompt and 3 decoded
  // tokens, and the logits of the last position still give a 4th.
  auto session = createSession(bigramModel(4));
  ASSERT_TRUE(session);
  Generated result = generate(*session, {kBang});
  EXPECT_EQ(result.tokens, std::vector<int32_t>(4, kBang));
  EXPECT_EQ(result.reason, StopReason::Context);
}

TEST_F(RuntimeSessionTest, AFullContextPromptStillGeneratesOneToken) {
  auto session = createSession(bigramModel(4));
  ASSERT_TRUE(session);
  Generated result = generate(*session, {kHello, kSpace, kA, kB});
  EXPECT_EQ(result.tokens, std::vector<int32_t>{kC});
  EXPECT_EQ(result.reason, StopReason::Context);
}

TEST_F(RuntimeSessionTest, ALongPromptIsAnErrorUnlessTruncated) {
  auto session = createSession(bigramModel(4));
  ASSERT_TRUE(session);
  std::vector<int32_t> prompt = {kHello, kSpace, kA, kB, kC};
  EXPECT_EQ(startError(*session, prompt),
            path("model.attn") + ": the prompt has 5 tokens, more than the "
                                 "context length 4");
  GenerateOptions options;
  options.truncatePrompt = true;
  std::unique_ptr<Generator> generator;
  ASSERT_TRUE(
      Generator::start(*session, prompt.data(), 5, options, generator).ok());
  EXPECT_EQ(generator->prompt(), (std::vector<int32_t>{kSpace, kA, kB, kC}));
}

TEST_F(RuntimeSessionTest, AnEmptyPromptStartsFromTheBosToken) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  EXPECT_EQ(startError(*session, {}),
            path("model.attn") + ": the prompt is empty and the model has no "
                                 "bos_token to start from");

  ArtifactSpec spec = bigramModel();
  spec.bosToken = kHello;
  auto withBos = createSession(spec);
  ASSERT_TRUE(withBos);
  std::unique_ptr<Generator> generator;
  ASSERT_TRUE(Generator::start(*withBos, nullptr, 0, {}, generator).ok());
  EXPECT_EQ(generator->prompt(), std::vector<int32_t>{kHello});
}

TEST_F(RuntimeSessionTest, PromptIdsOutsideTheVocabularyAreAnError) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  EXPECT_EQ(startError(*session, {kA, 12}),
            path("model.attn") +
                ": token id 12 at index 1 is not in the vocabulary [0, 8)");
}

TEST_F(RuntimeSessionTest, GreedyTiesGoToTheLowestId) {
  // After <stop>, "a" (2) and "c" (4) both have logit 10.
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  GenerateOptions options;
  options.maxNewTokens = 1;
  EXPECT_EQ(generate(*session, {kStop}, options).tokens,
            std::vector<int32_t>{kA});
}

TEST_F(RuntimeSessionTest, SamplingIsReproducibleWithASeed) {
  auto session = createSession(bigramModel(16));
  ASSERT_TRUE(session);
  GenerateOptions options;
  // Hot enough that every token is likely.
  options.sampling.temperature = 100;
  std::set<std::vector<int32_t>> sequences;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    options.sampling.seed = seed;
    Generated first = generate(*session, {kHello}, options);
    Generated again = generate(*session, {kHello}, options);
    EXPECT_EQ(first.tokens, again.tokens) << "seed " << seed;
    sequences.insert(first.tokens);
  }
  EXPECT_GT(sequences.size(), 1u) << "the seed changes nothing";
}

TEST_F(RuntimeSessionTest, TopKOfOneAndATinyTopPAreGreedy) {
  auto session = createSession(bigramModel(16));
  ASSERT_TRUE(session);
  std::vector<int32_t> greedy = generate(*session, {kHello}).tokens;
  GenerateOptions options;
  options.sampling.temperature = 100;
  options.sampling.seed = 3;
  options.sampling.topK = 1;
  EXPECT_EQ(generate(*session, {kHello}, options).tokens, greedy);
  options.sampling.topK = 0;
  options.sampling.topP = 0.01;
  EXPECT_EQ(generate(*session, {kHello}, options).tokens, greedy);
}

TEST_F(RuntimeSessionTest, InvalidOptionsAreRejected) {
  auto session = createSession(bigramModel());
  ASSERT_TRUE(session);
  GenerateOptions options;
  options.sampling.temperature = -1;
  EXPECT_EQ(startError(*session, {kA}, options),
            "the temperature must be a finite number >= 0, not -1");
  options = {};
  options.sampling.topP = 0;
  EXPECT_EQ(startError(*session, {kA}, options),
            "top-p must be in (0, 1] (1: off), not 0");
  options = {};
  options.sampling.topK = -2;
  EXPECT_EQ(startError(*session, {kA}, options),
            "top-k must be >= 0 (0: off), not -2");
  options = {};
  options.maxNewTokens = -1;
  EXPECT_EQ(startError(*session, {kA}, options),
            "the number of new tokens must be >= 0, not -1");
}

//===----------------------------------------------------------------------===//
// Sampler
//===----------------------------------------------------------------------===//

TEST(RuntimeSamplerTest, ArgmaxTakesTheLowestIdOfEqualMaxima) {
  std::vector<float> logits = {1, 5, NAN, 5, -3};
  EXPECT_EQ(argmax(logits.data(), logits.size()), 1);
  std::vector<float> nanFirst = {NAN, -1, -2};
  EXPECT_EQ(argmax(nanFirst.data(), nanFirst.size()), 1);
}

/// How often each id comes out of `draws` samples.
std::map<int32_t, double> frequencies(const SamplingOptions &options,
                                      const std::vector<float> &logits,
                                      int draws) {
  Sampler sampler(options, logits.size());
  std::map<int32_t, double> counts;
  for (int i = 0; i < draws; ++i)
    counts[sampler.sample(logits.data())] += 1.0 / draws;
  return counts;
}

TEST(RuntimeSamplerTest, SamplesInProportionToTheSoftmax) {
  // Probabilities 0.1, 0.2, 0.3, 0.4.
  std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f),
                               std::log(4.f)};
  SamplingOptions options;
  options.temperature = 1;
  auto counts = frequencies(options, logits, 40000);
  for (int32_t id = 0; id < 4; ++id)
    EXPECT_NEAR(counts[id], 0.1 * (id + 1), 0.01) << "id " << id;
}

TEST(RuntimeSamplerTest, TemperatureSharpensTheDistribution) {
  std::vector<float> logits = {0, std::log(2.f)};
  SamplingOptions options;
  options.temperature = 0.5; // probabilities 1:4
  auto counts = frequencies(options, logits, 40000);
  EXPECT_NEAR(counts[1], 0.8, 0.01);
}

TEST(RuntimeSamplerTest, TopKKeepsTheKMostLikely) {
  std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f),
                               std::log(4.f)};
  SamplingOptions options;
  options.temperature = 1;
  options.topK = 2;
  auto counts = frequencies(options, logits, 20000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[3], 4.0 / 7, 0.015);
  EXPECT_NEAR(counts[2], 3.0 / 7, 0.015);
}

TEST(RuntimeSamplerTest, TopPKeepsTheSmallestSetThatReachesP) {
  std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f),
                               std::log(4.f)};
  SamplingOptions options;
  options.temperature = 1;
  options.topP = 0.5; // 0.4 < 0.5 <= 0.4 + 0.3
  auto counts = frequencies(options, logits, 20000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[3], 4.0 / 7, 0.015);
  options.topP = 0.35; // 0.4 alone reaches it
  EXPECT_EQ(frequencies(options, logits, 100).size(), 1u);
}

TEST(RuntimeSamplerTest, InfiniteLogitsFallBackToTheBest) {
  std::vector<float> logits = {-INFINITY, INFINITY, 3, INFINITY};
  SamplingOptions options;
  options.temperature = 1;
  EXPECT_EQ(Sampler(options, 4).sample(logits.data()), 1);
  std::vector<float> none = {-INFINITY, NAN};
  EXPECT_EQ(Sampler(options, 2).sample(none.data()), 0);
}

//===----------------------------------------------------------------------===//
// ThreadPool
//===----------------------------------------------------------------------===//

TEST(RuntimeThreadPoolTest, CoversEveryItemExactlyOnce) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t work : {0, 1, 2, 7, 100, 1000}) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(work));
      // Many loops in a row: the barrier between them must hold.
      constexpr int kLoops = 50;
      for (int loop = 0; loop < kLoops; ++loop)
        pool.parallelFor(work, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i)
            seen[i].fetch_add(1);
        });
      for (int64_t i = 0; i < work; ++i)
        ASSERT_EQ(seen[i].load(), kLoops)
            << "item " << i << " of " << work << ", " << threads << " threads";
    }
  }
}

TEST(RuntimeThreadPoolTest, ChunksHoldAQuarterOfAThreadsShare) {
  ThreadPool pool(4);
  std::mutex mutex;
  std::vector<int64_t> sizes;
  pool.parallelFor(1000, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    sizes.push_back(end - begin);
  });
  // 1000 / (4 * 4) = 62 items per chunk; the last one holds the rest.
  int64_t total = 0;
  for (int64_t size : sizes) {
    EXPECT_LE(size, 62);
    total += size;
  }
  EXPECT_EQ(total, 1000);
  EXPECT_EQ(sizes.size(), 17u);
}

TEST(RuntimeThreadPoolTest, OneThreadRunsOnTheCaller) {
  ThreadPool pool(1);
  std::thread::id caller = std::this_thread::get_id();
  std::set<std::thread::id> ids;
  pool.parallelFor(100, [&](int64_t, int64_t) {
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids, std::set<std::thread::id>{caller});
}

TEST(RuntimeThreadPoolTest, WritesAreVisibleAfterTheLoop) {
  ThreadPool pool(4);
  std::vector<int64_t> values(4096);
  for (int round = 1; round <= 20; ++round) {
    pool.parallelFor(4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        values[i] = i * round;
    });
    for (int64_t i = 0; i < 4096; ++i)
      ASSERT_EQ(values[i], i * round);
  }
}

} // namespace
