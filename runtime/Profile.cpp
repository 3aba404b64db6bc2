//===- Profile.cpp - Time per kernel, when a session profiles -------------===//

#include "runtime/Profile.h"

#include <algorithm>
#include <cstdio>

namespace attn::runtime {

Profile::Profile(const Artifact &artifact)
    : kernels_(artifact.kernelCount()),
      entries_(artifact.programs().size() * artifact.kernelCount()),
      steps_(artifact.programs().size(), 0) {}

void Profile::addKernel(size_t program, uint32_t kernel, double seconds) {
  Entry &entry = entries_[program * kernels_ + kernel];
  ++entry.calls;
  entry.seconds += seconds;
}

std::string Profile::format(const Artifact &artifact,
                            const char *device) const {
  std::string out;
  char line[256];
  const std::vector<ProgramPlan> &programs = artifact.programs();
  for (size_t p = 0; p < programs.size(); ++p) {
    if (steps_[p] == 0)
      continue;
    std::vector<uint32_t> order;
    double total = 0;
    for (uint32_t k = 0; k < kernels_; ++k) {
      const Entry &entry = entries_[p * kernels_ + k];
      if (entry.calls == 0)
        continue;
      order.push_back(k);
      total += entry.seconds;
    }
    // By total time, then by kernel index: the same table for equal times.
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      double ta = entries_[p * kernels_ + a].seconds;
      double tb = entries_[p * kernels_ + b].seconds;
      return ta != tb ? ta > tb : a < b;
    });
    std::string_view name = programs[p].name;
    snprintf(line, sizeof(line),
             "profile: %s, program '%.*s': %llu steps, %.3f ms in kernels "
             "(%.3f ms per step)\n",
             device, (int)name.size(), name.data(),
             (unsigned long long)steps_[p], total * 1e3,
             total * 1e3 / double(steps_[p]));
    out += line;
    snprintf(line, sizeof(line), "  %-28s %8s %12s %10s %7s\n", "kernel",
             "calls", "total ms", "mean us", "share");
    out += line;
    for (uint32_t k : order) {
      const Entry &entry = entries_[p * kernels_ + k];
      std::string_view name = artifact.kernelName(k);
      snprintf(line, sizeof(line), "  %-28.*s %8llu %12.3f %10.2f %6.1f%%\n",
               (int)std::min<size_t>(name.size(), 28), name.data(),
               (unsigned long long)entry.calls, entry.seconds * 1e3,
               entry.seconds * 1e6 / double(entry.calls),
               total > 0 ? 100.0 * entry.seconds / total : 0.0);
      out += line;
    }
  }
  return out;
}

} // namespace attn::runtime
