//===- Mapping.h - mmap'ed files and zeroed memory --------------*- C++ -*-===//
//
// The runtime keeps artifacts, external weights and session buffers in memory
// mappings: files are read in place (weights are not copied, except the
// external tensors the artifact reads transposed), and anonymous
// mappings come zeroed, page aligned, and fail cleanly when a corrupt artifact
// asks for an absurd size.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_MAPPING_H
#define ATTN_RUNTIME_MAPPING_H

#include "runtime/Status.h"

#include <cstddef>
#include <string>

namespace attn::runtime {

/// An owned memory mapping; unmapped on destruction.
class Mapping {
public:
  Mapping() = default;
  Mapping(Mapping &&other) noexcept;
  Mapping &operator=(Mapping &&other) noexcept;
  Mapping(const Mapping &) = delete;
  Mapping &operator=(const Mapping &) = delete;
  ~Mapping();

  /// Maps the whole file at `path` read-only; an empty file gives an empty
  /// mapping. Error messages do not name the file; the caller adds it.
  static Status mapFile(const std::string &path, Mapping &out);

  /// Maps `size` zeroed, page-aligned, writable bytes (at least one page, so
  /// that even an empty buffer has an address).
  static Status allocateZeroed(size_t size, Mapping &out);

  /// Zeroes a mapping made by allocateZeroed, returning its pages to the
  /// system (they read as zero again).
  void zero();

  std::byte *data() const { return data_; }
  size_t size() const { return size_; }

private:
  std::byte *data_ = nullptr;
  size_t size_ = 0;
  /// The mapped length, which can exceed size_ (allocateZeroed rounds up).
  size_t length_ = 0;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_MAPPING_H
