//===- Safetensors.h - safetensors checkpoint reader ------------*- C++ -*-===//
//
// The safetensors format (https://github.com/huggingface/safetensors):
//
//   [8 bytes]  N, unsigned little-endian: the size of the header
//   [N bytes]  a JSON object, UTF-8, possibly padded with trailing spaces:
//                {"<name>": {"dtype": "F32", "shape": [768, 2304],
//                            "data_offsets": [begin, end]},
//                 ...,
//                 "__metadata__": {"<key>": "<value>", ...}}   (optional)
//   [rest]     the data section; [begin, end) are byte offsets into it, and
//              each tensor's data is little-endian and row-major.
//
// The file is memory-mapped rather than read: a GPT-2 checkpoint is 500 MB
// and the importer touches each tensor once, so mapping costs no copy and
// pages are loaded only when used. Since a bad header would otherwise turn
// into reads outside the file, the whole header is validated before any
// tensor is handed out:
//   - the file holds the 8-byte size, and N is at most 100 MB (the reference
//     implementation's limit) and at most what follows the size field;
//   - the header is a JSON object without duplicate keys (llvm::json would
//     silently keep the last), and `__metadata__` maps strings to strings;
//   - every other entry is an object with a known "dtype", a "shape" of
//     non-negative integers whose element and byte counts fit in int64, and
//     "data_offsets" of two integers with begin <= end <= the data section
//     size, spanning exactly the tensor's byte count;
//   - no two tensors' byte ranges overlap (zero-size tensors may share an
//     offset). Gaps between tensors and trailing bytes are accepted.
// Each failure is an llvm::Error of one line: "<file>: <what is wrong>".
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_SAFETENSORS_H
#define ATTN_FRONTENDS_CHECKPOINT_SAFETENSORS_H

#include "frontends/checkpoint/Checkpoint.h"

#include "llvm/ADT/StringMap.h"

#include <map>

namespace mlir::attn {

/// A validated safetensors file.
class SafetensorsCheckpoint : public Checkpoint {
public:
  /// Maps and validates the safetensors file at `path`.
  static llvm::Expected<std::unique_ptr<SafetensorsCheckpoint>>
  open(llvm::StringRef path);

  /// Validates `buffer` as a safetensors file and takes ownership of it. Its
  /// identifier is used as the path in errors and in path().
  static llvm::Expected<std::unique_ptr<SafetensorsCheckpoint>>
  create(std::unique_ptr<llvm::MemoryBuffer> buffer);

  llvm::ArrayRef<TensorInfo> tensors() const override { return tensorList; }
  const TensorInfo *lookup(llvm::StringRef name) const override;
  llvm::StringRef path() const override {
    return buffer->getBufferIdentifier();
  }

  /// Returns the `__metadata__` entries (empty if the file has none).
  const std::map<std::string, std::string> &metadata() const {
    return metadataMap;
  }

private:
  SafetensorsCheckpoint(std::unique_ptr<llvm::MemoryBuffer> buffer,
                        std::vector<TensorInfo> tensorList,
                        std::map<std::string, std::string> metadataMap);

  std::unique_ptr<llvm::MemoryBuffer> buffer;
  /// Sorted by data offset.
  std::vector<TensorInfo> tensorList;
  /// Name -> index into tensorList.
  llvm::StringMap<size_t> index;
  std::map<std::string, std::string> metadataMap;
};

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CHECKPOINT_SAFETENSORS_H
