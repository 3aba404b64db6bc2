//===- Sampler.h - Choosing the next token from logits ----------*- C++ -*-===//
//
// Greedy at temperature 0; otherwise temperature, then top-k, then top-p (the
// order of Hugging Face's generate), drawn from a seeded mt19937_64 so that a
// run with the same seed produces the same tokens.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SAMPLER_H
#define ATTN_RUNTIME_SAMPLER_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace attn::runtime {

struct SamplingOptions {
  /// 0: greedy.
  double temperature = 0;
  /// Keep the k most likely tokens; 0: all.
  int64_t topK = 0;
  /// Keep the fewest most likely tokens whose probability reaches p; 1: all.
  double topP = 1;
  uint64_t seed = 0;
};

/// Checks the ranges: temperature >= 0 and finite, top-k >= 0,
/// top-p in (0, 1].
Status validateSamplingOptions(const SamplingOptions &options);

/// The index of the largest of `count` logits; the lowest index among equal
/// ones, as torch.argmax. NaN counts as smaller than any number.
int32_t argmax(const float *logits, size_t count);

/// Samples token ids from logits. Holds its scratch memory, so sampling
/// allocates nothing.
class Sampler {
public:
  /// `options` must be valid (see validateSamplingOptions).
  Sampler(const SamplingOptions &options, size_t vocabSize);

  /// Chooses a token from `logits` (vocabSize of them).
  int32_t sample(const float *logits);

private:
  SamplingOptions options_;
  std::mt19937_64 random_;
  /// Candidate token ids.
  std::vector<int32_t> candidates_;
  /// Their unnormalized probabilities.
  std::vector<double> weights_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_SAMPLER_H
