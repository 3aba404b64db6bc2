//===- RuntimeSafetensorsFuzzer.cpp - Fuzz the runtime's safetensors reader ===//
//
// The input is a whole file, parsed by the runtime's own reader (attn-run
// --weights) from a heap copy of exactly its size, so that AddressSanitizer
// catches a read past the end. Every entry is then bound as the artifact
// would bind it, with the entry's own dtype and shape: a bind that succeeds
// must hand out bytes inside the data section, aligned to the element.
//
//===----------------------------------------------------------------------===//

#include "runtime/Safetensors.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

using namespace attn::runtime;

namespace {

[[noreturn]] void fail(const char *what) {
  std::fprintf(stderr, "broken promise: %s\n", what);
  std::abort();
}

/// The artifact's dtype for the format's name, or false for one the runtime
/// does not bind.
bool toDType(const std::string &name, attn::artifact::DType &out) {
  if (name == "F32")
    out = attn::artifact::DType_f32;
  else if (name == "F16")
    out = attn::artifact::DType_f16;
  else if (name == "BF16")
    out = attn::artifact::DType_bf16;
  else if (name == "I32")
    out = attn::artifact::DType_i32;
  else if (name == "I64")
    out = attn::artifact::DType_i64;
  else
    return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<std::byte[]> copy(new std::byte[size]);
  if (size)
    std::memcpy(copy.get(), data, size);
  std::unique_ptr<SafetensorsFile> file;
  Status status = SafetensorsFile::parse(copy.get(), size, file);
  if (!status.ok()) {
    if (status.message().empty() ||
        status.message().find('\n') != std::string::npos)
      fail("an error is not one line");
    return 0;
  }
  for (const auto &[name, entry] : file->entries()) {
    attn::artifact::DType dtype;
    if (!toDType(entry.dtype, dtype))
      continue;
    // The artifact's shapes are int64 whose byte count fits in uint64.
    std::vector<int64_t> shape;
    unsigned __int128 bytes = dtypeSize(dtype);
    bool fits = true;
    for (uint64_t dim : entry.shape) {
      // bytes <= 2^64 and dim < 2^63 keep the product inside 128 bits.
      fits = fits && dim <= uint64_t(std::numeric_limits<int64_t>::max());
      if (fits) {
        bytes *= dim;
        fits = bytes <= std::numeric_limits<uint64_t>::max();
      }
      shape.push_back(static_cast<int64_t>(dim));
    }
    if (!fits)
      continue;
    const std::byte *bound = nullptr;
    if (!file->bind(name, dtype, shape, bound).ok())
      continue;
    const std::byte *begin = file->dataSection();
    const std::byte *end = begin + file->dataSectionSize();
    if (bound < begin || bound + static_cast<uint64_t>(bytes) > end)
      fail("a bound tensor lies outside the data section");
    if (reinterpret_cast<uintptr_t>(bound) % dtypeSize(dtype) != 0)
      fail("a bound tensor is misaligned");
  }
  return 0;
}
