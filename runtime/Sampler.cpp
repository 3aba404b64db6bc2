//===- Sampler.cpp - Choosing the next token from logits ------------------===//

#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace attn::runtime {

Status validateSamplingOptions(const SamplingOptions &options) {
  if (!(options.temperature >= 0) || std::isinf(options.temperature))
    return makeError(StatusCode::InvalidArgument,
                     "the temperature must be a finite number >= 0, not %g",
                     options.temperature);
  if (options.topK < 0)
    return makeError(StatusCode::InvalidArgument,
                     "top-k must be >= 0 (0: off), not %lld",
                     (long long)options.topK);
  if (!(options.topP > 0 && options.topP <= 1))
    return makeError(StatusCode::InvalidArgument,
                     "top-p must be in (0, 1] (1: off), not %g", options.topP);
  return Status();
}

/// A logit as an ordering key: NaN sorts below everything, so that the
/// comparisons below are a strict weak order.
static float key(float logit) {
  return std::isnan(logit) ? -std::numeric_limits<float>::infinity() : logit;
}

int32_t argmax(const float *logits, size_t count) {
  size_t best = 0;
  for (size_t i = 1; i < count; ++i)
    if (key(logits[i]) > key(logits[best]))
      best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplingOptions &options, size_t vocabSize)
    : options_(options), random_(options.seed), candidates_(vocabSize),
      weights_(vocabSize) {}

int32_t Sampler::sample(const float *logits) {
  size_t count = candidates_.size();
  if (options_.temperature == 0)
    return argmax(logits, count);

  // Most likely first; equal logits by id, as in greedy decoding.
  auto moreLikely = [&](int32_t a, int32_t b) {
    return key(logits[a]) > key(logits[b]) ||
           (key(logits[a]) == key(logits[b]) && a < b);
  };
  std::iota(candidates_.begin(), candidates_.end(), 0);
  auto first = candidates_.begin();
  if (options_.topK > 0 && static_cast<size_t>(options_.topK) < count) {
    count = static_cast<size_t>(options_.topK);
    std::partial_sort(first, first + count, candidates_.end(), moreLikely);
  } else if (options_.topP < 1) {
    std::sort(first, first + count, moreLikely);
  } else {
    std::iter_swap(first, first + argmax(logits, count));
  }
  // candidates_[0] is now the most likely token. Without a finite logit
  // there is no distribution to draw from; it is the only sensible answer.
  float best = key(logits[candidates_[0]]);
  if (!std::isfinite(best))
    return candidates_[0];

  double total = 0;
  for (size_t i = 0; i < count; ++i) {
    weights_[i] =
        std::exp((double(key(logits[candidates_[i]])) - best) /
                 options_.temperature);
    total += weights_[i];
  }
  if (options_.topP < 1) {
    // The candidates are sorted: keep the shortest prefix that reaches p.
    double kept = 0;
    size_t i = 0;
    while (i < count && kept < options_.topP * total)
      kept += weights_[i++];
    count = std::max<size_t>(i, 1);
    total = kept;
  }

  // 53 random bits make a double in [0, 1) the same way on every standard
  // library, unlike std::uniform_real_distribution.
  double target = double(random_() >> 11) * 0x1.0p-53 * total;
  for (size_t i = 0; i < count; ++i) {
    if (target < weights_[i])
      return candidates_[i];
    target -= weights_[i];
  }
  return candidates_[count - 1];
}

} // namespace attn::runtime
