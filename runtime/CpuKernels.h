//===- CpuKernels.h - Loading an artifact's CPU kernels ---------*- C++ -*-===//
//
// The compiler emits the CPU kernels of a model as one x86-64 ELF shared
// object inside the artifact. The runtime loads it straight from memory (a
// memfd, dlopen'ed through /proc/self/fd) so nothing is written to disk, and
// resolves every kernel the plan names.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CPUKERNELS_H
#define ATTN_RUNTIME_CPUKERNELS_H

#include "attn/kernel_abi.h"
#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace attn::runtime {

/// Whether the running CPU has the feature LLVM calls `name` ("avx2"), or
/// nullopt for a name this runtime does not know.
std::optional<bool> hostHasCpuFeature(std::string_view name);

/// Checks a comma-separated LLVM feature list ("+avx2,+fma,-avx512f") with
/// `hasFeature`. Features prefixed with '-' and unknown names are ignored.
/// The error names the first missing feature.
Status checkCpuFeatures(std::string_view features,
                        std::optional<bool> (*hasFeature)(std::string_view) =
                            hostHasCpuFeature);

/// Checks that code for `targetTriple` ("x86_64-unknown-linux-gnu") runs on
/// this machine's architecture; an empty triple is accepted.
Status checkTargetTriple(std::string_view targetTriple);

/// A loaded kernel shared object and its resolved kernels. Immutable after
/// loading and safe to share between threads.
class KernelLibrary {
public:
  KernelLibrary(const KernelLibrary &) = delete;
  KernelLibrary &operator=(const KernelLibrary &) = delete;
  ~KernelLibrary();

  /// Loads the ELF image `image` and resolves `names` in order. Error
  /// messages do not name the artifact; the caller adds it.
  static Status load(const uint8_t *image, size_t size,
                     const std::vector<std::string_view> &names,
                     std::unique_ptr<KernelLibrary> &out);

  attn_kernel_fn kernel(uint32_t index) const { return kernels_[index]; }

private:
  KernelLibrary() = default;

  void *handle_ = nullptr;
  /// The memfd behind handle_; see the destructor for why it stays open.
  int fd_ = -1;
  std::vector<attn_kernel_fn> kernels_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_CPUKERNELS_H
