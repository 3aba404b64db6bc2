//===- CpuKernels.cpp - Loading an artifact's CPU kernels -----------------===//

#include "runtime/CpuKernels.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace attn::runtime {

namespace {
struct CpuFeature {
  std::string_view name;
  bool supported;
};
} // namespace

/// The features of the x86-64-v2, -v3 and -v4 levels, which kernels are
/// compiled for, by their LLVM names. __builtin_cpu_supports needs a
/// literal, hence the table.
static std::vector<CpuFeature> knownCpuFeatures() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return {
      {"sse3", (bool)__builtin_cpu_supports("sse3")},
      {"ssse3", (bool)__builtin_cpu_supports("ssse3")},
      {"sse4.1", (bool)__builtin_cpu_supports("sse4.1")},
      {"sse4.2", (bool)__builtin_cpu_supports("sse4.2")},
      {"popcnt", (bool)__builtin_cpu_supports("popcnt")},
      {"avx", (bool)__builtin_cpu_supports("avx")},
      {"avx2", (bool)__builtin_cpu_supports("avx2")},
      {"fma", (bool)__builtin_cpu_supports("fma")},
      {"f16c", (bool)__builtin_cpu_supports("f16c")},
      {"bmi", (bool)__builtin_cpu_supports("bmi")},
      {"bmi2", (bool)__builtin_cpu_supports("bmi2")},
      {"lzcnt", (bool)__builtin_cpu_supports("lzcnt")},
      {"movbe", (bool)__builtin_cpu_supports("movbe")},
      {"xsave", (bool)__builtin_cpu_supports("xsave")},
      {"avx512f", (bool)__builtin_cpu_supports("avx512f")},
      {"avx512bw", (bool)__builtin_cpu_supports("avx512bw")},
      {"avx512vl", (bool)__builtin_cpu_supports("avx512vl")},
      {"avx512dq", (bool)__builtin_cpu_supports("avx512dq")},
      {"avx512cd", (bool)__builtin_cpu_supports("avx512cd")},
  };
#else
  return {};
#endif
}

std::optional<bool> hostHasCpuFeature(std::string_view name) {
  static const std::vector<CpuFeature> known = knownCpuFeatures();
  for (const CpuFeature &feature : known)
    if (feature.name == name)
      return feature.supported;
  return std::nullopt;
}

Status checkCpuFeatures(std::string_view features,
                        std::optional<bool> (*hasFeature)(std::string_view)) {
  while (!features.empty()) {
    size_t comma = features.find(',');
    std::string_view feature = features.substr(0, comma);
    features = comma == std::string_view::npos ? std::string_view()
                                               : features.substr(comma + 1);
    if (feature.empty() || feature.front() == '-')
      continue;
    if (feature.front() == '+')
      feature.remove_prefix(1);
    if (hasFeature(feature) == false)
      return makeError(StatusCode::Unsupported,
                       "the CPU kernels need the CPU feature '%.*s', which "
                       "this CPU does not have",
                       (int)feature.size(), feature.data());
  }
  return Status();
}

Status checkTargetTriple(std::string_view targetTriple) {
#if defined(__x86_64__)
  constexpr std::string_view hostArch = "x86_64";
#elif defined(__aarch64__)
  constexpr std::string_view hostArch = "aarch64";
#else
  constexpr std::string_view hostArch = "";
#endif
  std::string_view arch = targetTriple.substr(0, targetTriple.find('-'));
  if (targetTriple.empty() || hostArch.empty() || arch == hostArch)
    return Status();
  return makeError(StatusCode::Unsupported,
                   "the CPU kernels are compiled for '%.*s', but this "
                   "machine is %.*s",
                   (int)targetTriple.size(), targetTriple.data(),
                   (int)hostArch.size(), hostArch.data());
}

KernelLibrary::~KernelLibrary() {
  if (handle_) {
    dlclose(handle_);
    // The loader knows the library by its path, /proc/self/fd/N. Were the
    // library still loaded (dlclose may keep it) and N reused by another
    // artifact's memfd, dlopen would hand back this library instead; so N
    // stays taken while the library lives.
    std::string path = "/proc/self/fd/" + std::to_string(fd_);
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {
      dlclose(handle_);
      return;
    }
  }
  if (fd_ >= 0)
    close(fd_);
}

Status KernelLibrary::load(const uint8_t *image, size_t size,
                           const std::vector<std::string_view> &names,
                           std::unique_ptr<KernelLibrary> &out) {
  static const uint8_t elfMagic[4] = {0x7f, 'E', 'L', 'F'};
  if (size < sizeof(elfMagic) ||
      std::memcmp(image, elfMagic, sizeof(elfMagic)) != 0)
    return makeError(StatusCode::InvalidArtifact,
                     "the CPU kernel shared object is not an ELF file");

  std::unique_ptr<KernelLibrary> library(new KernelLibrary());
  library->fd_ = memfd_create("attn-cpu-kernels", MFD_CLOEXEC);
  if (library->fd_ < 0)
    return makeError(StatusCode::IoError,
                     "cannot create a memfd for the CPU kernels: %s",
                     std::strerror(errno));
  for (size_t written = 0; written < size;) {
    ssize_t n = write(library->fd_, image + written, size - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return makeError(StatusCode::IoError,
                       "cannot write the CPU kernels to a memfd: %s",
                       std::strerror(errno));
    written += static_cast<size_t>(n);
  }

  std::string path = "/proc/self/fd/" + std::to_string(library->fd_);
  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a step.
  library->handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library->handle_) {
    const char *error = dlerror();
    return makeError(StatusCode::InvalidArtifact,
                     "cannot load the CPU kernel shared object: %s",
                     error ? error : "dlopen failed");
  }

  library->kernels_.reserve(names.size());
  for (std::string_view name : names) {
    std::string symbol(name);
    void *address = dlsym(library->handle_, symbol.c_str());
    if (!address)
      return makeError(StatusCode::InvalidArtifact,
                       "kernel '%s' is not exported by the CPU kernel shared "
                       "object",
                       symbol.c_str());
    library->kernels_.push_back(reinterpret_cast<attn_kernel_fn>(address));
  }
  out = std::move(library);
  return Status();
}

} // namespace attn::runtime
