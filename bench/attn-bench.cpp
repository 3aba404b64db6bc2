//===- attn-bench.cpp - time an artifact's steps --------------------------===//
//
//   attn-bench ARTIFACT [--weights FILE] [--device cpu|cuda] [--threads N]
//              [--repeats R] [--prefill N]... [--decode-after P --decode N]
//   attn-bench --bandwidth [--threads N]
//
// Prints one JSON object. Prefill: the median time of a prefill of N tokens
// from an empty cache. Decode: after a P-token prefill, N decode steps; the
// median time of one step. Each measurement is repeated R times after one
// warm-up. --weights binds a safetensors checkpoint by tensor name, as
// attn-run's does; --device picks the device as attn-run's does (and the
// JSON names the one used). --bandwidth measures the memory read bandwidth of N threads
// summing a 1 GiB buffer, the floor that decode approaches.
//
// It links only the runtime, through its C API, as a user would.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double millisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "attn-bench: error: %s\n", message.c_str());
  std::exit(1);
}

void check(attn_status_t status, const char *what) {
  if (!status)
    return;
  std::string message = std::string(what) + ": " + attn_status_message(status);
  attn_status_free(status);
  die(message);
}

/// GB/s of `threads` threads summing disjoint parts of a 1 GiB buffer.
double measureBandwidth(unsigned threads, int repeats) {
  const size_t bytes = size_t(1) << 30;
  const size_t count = bytes / sizeof(float);
  std::vector<float> buffer(count, 1.0f);
  std::vector<double> rates;
  for (int r = 0; r <= repeats; ++r) {
    // Each thread stores its sum, so the reads cannot be optimized away.
    std::vector<double> sums(threads);
    auto start = Clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        size_t begin = count / threads * t;
        size_t end = t + 1 == threads ? count : count / threads * (t + 1);
        // 64 partial sums: eight independent chains of 8-wide vector adds.
        // With one chain the adds' latency, not memory, bounds the loop
        // (about 35 GB/s per core here, below what the kernels reach).
        constexpr size_t kLanes = 64;
        float partial[kLanes] = {};
        for (size_t i = begin; i + kLanes <= end; i += kLanes)
          for (size_t k = 0; k < kLanes; ++k)
            partial[k] += buffer[i + k];
        double sum = 0;
        for (float p : partial)
          sum += p;
        sums[t] = sum;
      });
    for (std::thread &t : pool)
      t.join();
    double seconds = millisSince(start) / 1000.0;
    if (sums[0] < 0)
      die("impossible sum");
    if (r > 0)
      rates.push_back(bytes / seconds / 1e9);
  }
  return median(rates);
}

} // namespace

int main(int argc, char **argv) {
  std::string artifactPath;
  std::string weightsPath;
  attn_device_t device = ATTN_DEVICE_AUTO;
  unsigned threads = 0;
  int repeats = 5;
  std::vector<int64_t> prefills;
  int64_t decodeAfter = 0, decodeSteps = 0;
  bool bandwidth = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> long long {
      if (i + 1 >= argc)
        die(arg + " needs a value");
      char *end;
      long long v = std::strtoll(argv[++i], &end, 10);
      if (*end || v < 0)
        die(arg + " needs a non-negative integer");
      return v;
    };
    if (arg == "--weights") {
      if (i + 1 >= argc)
        die(arg + " needs a value");
      weightsPath = argv[++i];
    } else if (arg == "--device") {
      std::string name = i + 1 < argc ? argv[++i] : "";
      if (name != "cpu" && name != "cuda")
        die("--device needs cpu or cuda");
      device = name == "cpu" ? ATTN_DEVICE_CPU : ATTN_DEVICE_CUDA;
    } else if (arg == "--threads")
      threads = static_cast<unsigned>(value());
    else if (arg == "--repeats")
      repeats = std::max<int>(1, static_cast<int>(value()));
    else if (arg == "--prefill")
      prefills.push_back(value());
    else if (arg == "--decode-after")
      decodeAfter = value();
    else if (arg == "--decode")
      decodeSteps = value();
    else if (arg == "--bandwidth")
      bandwidth = true;
    else if (arg == "--help") {
      std::puts("usage: attn-bench ARTIFACT [--weights FILE] [--device cpu|cuda]"
                " [--threads N] [--repeats R] [--prefill N]... "
                "[--decode-after P --decode N]\n"
                "       attn-bench --bandwidth [--threads N]\n"
                "Prints medians in milliseconds as one JSON object.");
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && artifactPath.empty())
      artifactPath = arg;
    else
      die("unknown argument '" + arg + "' (see --help)");
  }
  if (bandwidth) {
    unsigned n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    std::printf("{\"threads\": %u, \"read_gb_per_s\": %.2f}\n", n,
                measureBandwidth(n, repeats));
    return 0;
  }
  if (artifactPath.empty())
    die("no artifact (see --help)");

  attn_artifact_t *artifact = nullptr;
  attn_artifact_options_t artifactOptions;
  attn_artifact_options_initialize(&artifactOptions);
  if (!weightsPath.empty())
    artifactOptions.weights_path = weightsPath.c_str();
  check(attn_artifact_open_with_options(artifactPath.c_str(), &artifactOptions,
                                        &artifact),
        "open");
  attn_session_options_t options;
  attn_session_options_initialize(&options);
  options.threads = threads;
  options.device = device;
  attn_session_t *session = nullptr;
  check(attn_session_create(artifact, &options, &session), "session");
  attn_model_info_t info;
  attn_artifact_model_info(artifact, &info);

  // Deterministic token ids spread over the vocabulary.
  auto tokens = [&](int64_t n) {
    std::vector<int32_t> ids(n);
    for (int64_t i = 0; i < n; ++i)
      ids[i] = static_cast<int32_t>((i * 7919 + 13) % info.vocab_size);
    return ids;
  };

  std::printf("{\"artifact\": \"%s\", \"device\": \"%s\", \"threads\": %u",
              artifactPath.c_str(),
              attn_device_name(attn_session_device(session)), threads);
  const float *logits = nullptr;
  for (int64_t n : prefills) {
    std::vector<int32_t> prompt = tokens(n);
    std::vector<double> times;
    for (int r = 0; r <= repeats; ++r) {
      check(attn_session_reset(session), "reset");
      auto start = Clock::now();
      check(attn_session_run(session, "prefill", prompt.data(), n, 0, &logits),
            "prefill");
      if (r > 0)
        times.push_back(millisSince(start));
    }
    std::printf(", \"prefill_%lld_ms\": %.3f", (long long)n, median(times));
  }
  if (decodeSteps > 0) {
    std::vector<int32_t> prompt = tokens(decodeAfter + decodeSteps);
    std::vector<double> times;
    for (int r = 0; r <= repeats; ++r) {
      check(attn_session_reset(session), "reset");
      check(attn_session_run(session, "prefill", prompt.data(), decodeAfter, 0,
                             &logits),
            "prefill");
      std::vector<double> steps;
      for (int64_t s = 0; s < decodeSteps; ++s) {
        auto start = Clock::now();
        check(attn_session_run(session, "decode", &prompt[decodeAfter + s], 1,
                               decodeAfter + s, &logits),
              "decode");
        steps.push_back(millisSince(start));
      }
      if (r > 0)
        times.push_back(median(steps));
    }
    std::printf(", \"decode_%lld_after_%lld_ms_per_token\": %.3f",
                (long long)decodeSteps, (long long)decodeAfter, median(times));
  }
  std::printf("}\n");
  attn_session_free(session);
  attn_artifact_free(artifact);
  return 0;
}
