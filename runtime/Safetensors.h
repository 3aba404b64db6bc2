//===- Safetensors.h - Binding weights from a safetensors file --*- C++ -*-===//
//
// `attn-run --weights FILE` binds another checkpoint to an artifact at run
// time, tensor by tensor, by name. The compiler's reader
// (frontends/checkpoint) is built on llvm::json, which the runtime may not
// link, so the runtime reads the format itself. It needs less: the file is
// mapped read-only and the runtime only looks tensors up, so this reader
// checks the header's syntax, its size against the file and duplicate
// names; a tensor's dtype, shape and byte range are checked when the artifact
// asks for it (lookup()), against what the artifact needs.
//
// The format: an 8-byte little-endian header size N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [768, 2304],
//               "data_offsets": [begin, end]}, ...,
//    "__metadata__": {...}}                                  (optional)
// then the data section that [begin, end) count from.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SAFETENSORS_H
#define ATTN_RUNTIME_SAFETENSORS_H

#include "runtime/Mapping.h"
#include "runtime/Plan.h"
#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace attn::runtime {

/// A mapped safetensors file whose header has been parsed. Immutable, so it
/// may be shared between threads.
class SafetensorsFile {
public:
  /// One header entry, as the file states it (not yet checked against the
  /// data section).
  struct Entry {
    /// "F32", "BF16", ...: the format's names.
    std::string dtype;
    std::vector<uint64_t> shape;
    uint64_t begin = 0;
    uint64_t end = 0;
  };

  /// Maps the file at `path` and parses its header. Messages do not name
  /// the file; the caller adds it.
  static Status open(const std::string &path,
                     std::unique_ptr<SafetensorsFile> &out);

  /// Parses a safetensors image already in memory; `bytes` must outlive
  /// the result (open() keeps its mapping inside). For the fuzzer.
  static Status parse(const std::byte *bytes, size_t size,
                      std::unique_ptr<SafetensorsFile> &out);
  /// Every entry, by name.
  const std::unordered_map<std::string, Entry> &entries() const {
    return entries_;
  }
  /// The bytes after the header, which data_offsets count from.
  const std::byte *dataSection() const { return data_; }
  size_t dataSectionSize() const { return dataSize_; }

  /// The entry called `name`, or null.
  const Entry *find(std::string_view name) const;

  /// The data of tensor `name`, after checking that it exists, is `dtype`
  /// of `shape` (whose byte count the caller has checked fits in uint64) and
  /// lies inside the data section. The message of a failure names the
  /// tensor and what was expected and found.
  Status bind(std::string_view name, artifact::DType dtype,
              const std::vector<int64_t> &shape,
              const std::byte *&data) const;

private:
  SafetensorsFile() = default;
  Status bindUnescaped(std::string_view name, artifact::DType dtype,
                       const std::vector<int64_t> &shape,
                       const std::byte *&data) const;

  Mapping file_;
  const std::byte *data_ = nullptr;
  size_t dataSize_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_SAFETENSORS_H
