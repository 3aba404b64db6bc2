//===- PyTorchFuzzer.cpp - Fuzz the torch.save (zip + pickle) reader ------===//
//
// The input is a whole file. PyTorchCheckpoint::create validates it in
// memory: the zip archive (Zip.h), the restricted unpickler (Pickle.h) and
// the tensors (PyTorch.h); a checkpoint that opens must keep its promises
// (CheckpointChecks.h). The legacy-format sniffing that openCheckpoint uses
// to pick the reader runs on every input too.
//
// The reader checks the CRC-32 of data.pkl, which a mutation would almost
// always break before the unpickler sees it; so the CRC fields of every
// stored entry the target finds are set to its data's before the reader
// runs (sizes and offsets stay as mutated). An input that is not a zip
// archive goes to the unpickler directly, as a data.pkl of its own.
//
//===----------------------------------------------------------------------===//

#include "frontends/checkpoint/Pickle.h"
#include "frontends/checkpoint/PyTorch.h"
#include "test/fuzz/CheckpointChecks.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CRC.h"

using namespace mlir::attn;

static uint32_t read32(const std::string &bytes, size_t at) {
  return uint32_t(uint8_t(bytes[at])) | uint32_t(uint8_t(bytes[at + 1])) << 8 |
         uint32_t(uint8_t(bytes[at + 2])) << 16 |
         uint32_t(uint8_t(bytes[at + 3])) << 24;
}
static uint16_t read16(const std::string &bytes, size_t at) {
  return uint16_t(uint8_t(bytes[at]) | uint8_t(bytes[at + 1]) << 8);
}
static void write32(std::string &bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i)
    bytes[at + i] = char(value >> (8 * i));
}

/// The CRC-32 of the stored data of the local header at `at`, or nothing
/// when the header or its data does not fit in `bytes`.
static std::optional<uint32_t> localCrc(const std::string &bytes, size_t at) {
  if (at > bytes.size() || bytes.size() - at < 30 ||
      read32(bytes, at) != 0x04034b50)
    return std::nullopt;
  uint64_t size = read32(bytes, at + 18);
  uint64_t begin = at + 30 + uint64_t(read16(bytes, at + 26)) +
                   read16(bytes, at + 28);
  if (begin > bytes.size() || size > bytes.size() - begin)
    return std::nullopt;
  return llvm::crc32(llvm::arrayRefFromStringRef(
      llvm::StringRef(bytes).substr(begin, size)));
}

/// Sets the CRC fields of the local and central headers to their data's.
static void fixCrcs(std::string &bytes) {
  for (size_t at = 0; at + 46 <= bytes.size(); ++at) {
    uint32_t signature = read32(bytes, at);
    if (signature == 0x04034b50) {
      if (std::optional<uint32_t> crc = localCrc(bytes, at))
        write32(bytes, at + 14, *crc);
    } else if (signature == 0x02014b50) {
      if (std::optional<uint32_t> crc = localCrc(bytes, read32(bytes, at + 42)))
        write32(bytes, at + 16, *crc);
    }
  }
}

/// Describes every object reachable from `root` (shared ones once).
static void walk(const pickle::Object *root) {
  llvm::DenseSet<const pickle::Object *> seen;
  std::vector<const pickle::Object *> stack = {root};
  size_t length = 0;
  while (!stack.empty()) {
    const pickle::Object *object = stack.back();
    stack.pop_back();
    if (!object)
      attn::fuzz::fail("a null object in the unpickled graph");
    if (!seen.insert(object).second)
      continue;
    length += pickle::describe(*object).size();
    for (const pickle::Object *item : object->items)
      stack.push_back(item);
  }
  (void)length;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  if (!llvm::StringRef(bytes).starts_with("PK")) {
    auto unpickled = pickle::unpickle(bytes, "fuzz.pkl: ");
    if (!unpickled)
      attn::fuzz::checkError(unpickled.takeError(), "fuzz.pkl");
    else if ((*unpickled)->root())
      walk((*unpickled)->root());
  } else {
    fixCrcs(bytes);
  }

  std::unique_ptr<llvm::MemoryBuffer> buffer =
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "fuzz.pt");
  llvm::StringRef file = buffer->getBuffer();
  (void)isLegacyTorchSave(file);
  auto checkpoint = PyTorchCheckpoint::create(std::move(buffer));
  if (!checkpoint) {
    attn::fuzz::checkError(checkpoint.takeError(), "fuzz.pt");
    return 0;
  }
  attn::fuzz::checkCheckpoint(**checkpoint, file);
  return 0;
}
