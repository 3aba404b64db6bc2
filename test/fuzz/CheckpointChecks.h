//===- CheckpointChecks.h - What every opened checkpoint promises --------===//
//
// Shared by the checkpoint fuzz targets: an error is one line naming the
// file, and a checkpoint that opens keeps the promises of Checkpoint.h (each
// tensor's bytes inside the file and of its shape's size, names that look
// up to themselves), which the importers rely on without checking. Every
// tensor's data is read, so that AddressSanitizer sees a read past the
// input. A broken promise aborts.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_FUZZ_CHECKPOINTCHECKS_H
#define ATTN_TEST_FUZZ_CHECKPOINTCHECKS_H

#include "frontends/checkpoint/Checkpoint.h"

#include <cstdio>
#include <cstdlib>

namespace attn::fuzz {

[[noreturn]] inline void fail(const char *what) {
  std::fprintf(stderr, "fuzz target: broken promise: %s\n", what);
  std::abort();
}

/// Checks the error of a failed open: one line that starts with `name`.
inline void checkError(llvm::Error error, llvm::StringRef name) {
  std::string message = llvm::toString(std::move(error));
  if (message.empty() || message.find('\n') != std::string::npos)
    fail("an error is not one line");
  if (!llvm::StringRef(message).starts_with(name))
    fail("an error does not start with the file's name");
}

/// Checks an opened checkpoint against the bytes it was created from.
inline void checkCheckpoint(const mlir::attn::Checkpoint &checkpoint,
                            llvm::StringRef file) {
  const uint8_t *begin = reinterpret_cast<const uint8_t *>(file.begin());
  const uint8_t *end = reinterpret_cast<const uint8_t *>(file.end());
  volatile float sink = 0;
  uint64_t lastOffset = 0;
  for (const mlir::attn::TensorInfo &tensor : checkpoint.tensors()) {
    if (checkpoint.lookup(tensor.name) != &tensor)
      fail("a tensor's name does not look it up");
    int64_t elements = 1;
    for (int64_t dim : tensor.shape) {
      if (dim < 0)
        fail("a negative dimension");
      if (__builtin_mul_overflow(elements, dim, &elements))
        fail("an element count that overflows");
    }
    if (elements != tensor.getNumElements())
      fail("getNumElements is not the product of the shape");
    uint64_t bytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(elements),
                               mlir::attn::getDTypeSize(tensor.dtype),
                               &bytes) ||
        bytes != tensor.bytes.size())
      fail("a tensor's byte count is not its shape's");
    if (!tensor.bytes.empty() &&
        (tensor.bytes.data() < begin || tensor.bytes.data() > end ||
         tensor.bytes.size() > static_cast<size_t>(end - tensor.bytes.data())))
      fail("a tensor's bytes lie outside the file");
    if (!tensor.bytes.empty() &&
        tensor.fileOffset != static_cast<uint64_t>(tensor.bytes.data() - begin))
      fail("a tensor's fileOffset is not where its bytes are");
    if (tensor.fileOffset < lastOffset)
      fail("tensors are not in ascending order of their position");
    lastOffset = tensor.fileOffset;
    uint8_t sum = 0;
    for (uint8_t byte : tensor.bytes)
      sum += byte;
    sink = sink + sum;
    llvm::Expected<std::vector<float>> values = mlir::attn::readAsF32(tensor);
    if (!values) {
      llvm::consumeError(values.takeError());
      continue;
    }
    if (values->size() != static_cast<size_t>(elements))
      fail("readAsF32 returned another element count");
    for (float value : *values)
      sink = sink + value;
  }
  (void)sink;
}

} // namespace attn::fuzz

#endif // ATTN_TEST_FUZZ_CHECKPOINTCHECKS_H
