//===- SafetensorsFuzzer.cpp - Fuzz the safetensors reader ----------------===//
//
// The input is a whole file. SafetensorsCheckpoint::create validates it in
// memory (a heap copy of exactly its size, so that AddressSanitizer catches
// a read past the end); a checkpoint that opens must keep its promises
// (CheckpointChecks.h).
//
//===----------------------------------------------------------------------===//

#include "frontends/checkpoint/Safetensors.h"
#include "test/fuzz/CheckpointChecks.h"

using namespace mlir::attn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "fuzz.safetensors");
  llvm::StringRef file = buffer->getBuffer();
  auto checkpoint = SafetensorsCheckpoint::create(std::move(buffer));
  if (!checkpoint) {
    attn::fuzz::checkError(checkpoint.takeError(), "fuzz.safetensors");
    return 0;
  }
  attn::fuzz::checkCheckpoint(**checkpoint, file);
  // Unlike torch.save files, safetensors files never share bytes.
  uint64_t end = 0;
  for (const TensorInfo &tensor : (*checkpoint)->tensors()) {
    if (tensor.bytes.empty())
      continue;
    if (tensor.fileOffset < end)
      attn::fuzz::fail("two tensors' bytes overlap");
    end = tensor.fileOffset + tensor.bytes.size();
  }
  return 0;
}
