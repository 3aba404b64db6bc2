//===- Checkpoint.cpp - format dispatch and dtype helpers -----------------===//

#include "frontends/checkpoint/Checkpoint.h"

#include "frontends/checkpoint/PyTorch.h"
#include "frontends/checkpoint/Safetensors.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Endian.h"

using namespace llvm;
using namespace mlir::attn;

size_t mlir::attn::getDTypeSize(DType dtype) {
  switch (dtype) {
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
  case DType::I16:
    return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  llvm_unreachable("unknown DType");
}

StringRef mlir::attn::getDTypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::F64:
    return "F64";
  case DType::I64:
    return "I64";
  case DType::I32:
    return "I32";
  case DType::I16:
    return "I16";
  case DType::I8:
    return "I8";
  case DType::U8:
    return "U8";
  case DType::Bool:
    return "BOOL";
  }
  llvm_unreachable("unknown DType");
}

std::optional<DType> mlir::attn::parseDType(StringRef name) {
  return StringSwitch<std::optional<DType>>(name)
      .Case("F32", DType::F32)
      .Case("F16", DType::F16)
      .Case("BF16", DType::BF16)
      .Case("F64", DType::F64)
      .Case("I64", DType::I64)
      .Case("I32", DType::I32)
      .Case("I16", DType::I16)
      .Case("I8", DType::I8)
      .Case("U8", DType::U8)
      .Case("BOOL", DType::Bool)
      .Default(std::nullopt);
}

int64_t TensorInfo::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

Checkpoint::~Checkpoint() = default;

Expected<std::unique_ptr<MemoryBuffer>>
mlir::attn::mapCheckpointFile(StringRef path) {
  // Without a null terminator and with IsVolatile=false, MemoryBuffer mmaps
  // the file (it copies only files smaller than a few pages).
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false,
                            /*IsVolatile=*/false);
  if (!buffer)
    return createStringError(
        buffer.getError(),
        path + ": cannot open: " + buffer.getError().message());
  return std::move(*buffer);
}

namespace {
/// The checkpoint formats, told apart by content. To add a reader, add its
/// format here, recognize it in detectFormat and create it in openCheckpoint.
enum class Format { Safetensors, PyTorchZip, PyTorchLegacy, GitLfsPointer };
} // namespace

static Format detectFormat(StringRef contents) {
  // torch.save has written zip archives since PyTorch 1.6.
  if (contents.starts_with("PK\x03\x04"))
    return Format::PyTorchZip;
  // Before, it wrote pickles back to back, the first one a magic number.
  if (isLegacyTorchSave(contents))
    return Format::PyTorchLegacy;
  // A repository cloned without git-lfs has small text files in place of
  // the weights; any reader would report a puzzling format error instead.
  if (contents.starts_with("version https://git-lfs"))
    return Format::GitLfsPointer;
  // Safetensors has no magic number; its reader says why a file is not one.
  return Format::Safetensors;
}

Expected<std::unique_ptr<Checkpoint>>
mlir::attn::openCheckpoint(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = mapCheckpointFile(path);
  if (!buffer)
    return buffer.takeError();
  switch (detectFormat((*buffer)->getBuffer())) {
  case Format::Safetensors: {
    if (path.ends_with(".safetensors"))
      return SafetensorsCheckpoint::create(std::move(*buffer));
    // Another name (pytorch_model.bin, model.pt) promises a torch.save file:
    // a safetensors file renamed so still opens, but the safetensors
    // reader's complaint about anything else would mislead.
    Expected<std::unique_ptr<Checkpoint>> checkpoint =
        SafetensorsCheckpoint::create(std::move(*buffer));
    if (checkpoint)
      return checkpoint;
    consumeError(checkpoint.takeError());
    return createStringError(path + ": not a torch.save zip archive");
  }
  case Format::PyTorchZip:
    return PyTorchCheckpoint::create(std::move(*buffer));
  case Format::PyTorchLegacy:
    return createStringError(
        path + ": legacy torch.save format is not supported; re-save with "
               "torch >= 1.6");
  case Format::GitLfsPointer:
    return createStringError(
        path + ": a Git LFS pointer, not the weights (run git lfs pull)");
  }
  llvm_unreachable("unknown checkpoint format");
}

/// Widens an IEEE binary16 value. Every half is exactly a float, so this is
/// bit manipulation rather than rounding.
static float halfToFloat(uint16_t half) {
  uint32_t sign = uint32_t(half & 0x8000) << 16;
  uint32_t exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ff;
  if (exponent == 0x1f) // Infinity or NaN; the NaN payload is kept.
    return bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0) // Normal: rebias the exponent from 15 to 127.
    return bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float, which has the range
  // to represent it as a normal number.
  float magnitude = float(mantissa) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

Expected<std::vector<float>> mlir::attn::readAsF32(const TensorInfo &tensor) {
  int64_t count = tensor.getNumElements();
  if (tensor.dtype != DType::F32 && tensor.dtype != DType::F16 &&
      tensor.dtype != DType::BF16)
    return createStringError("tensor '" + tensor.name + "' is " +
                             getDTypeName(tensor.dtype) +
                             ", not F32, F16 or BF16");
  size_t elementSize = getDTypeSize(tensor.dtype);
  if (tensor.bytes.size() != uint64_t(count) * elementSize)
    return createStringError("tensor '" + tensor.name + "' holds " +
                             Twine(tensor.bytes.size()) + " bytes but " +
                             Twine(count) + " elements of " +
                             getDTypeName(tensor.dtype) + " need " +
                             Twine(uint64_t(count) * elementSize));

  std::vector<float> values(count);
  const uint8_t *data = tensor.bytes.data();
  switch (tensor.dtype) {
  case DType::F32:
    for (int64_t i = 0; i < count; ++i)
      values[i] = bit_cast<float>(support::endian::read32le(data + 4 * i));
    break;
  case DType::F16:
    for (int64_t i = 0; i < count; ++i)
      values[i] = halfToFloat(support::endian::read16le(data + 2 * i));
    break;
  case DType::BF16:
    // bfloat16 is the upper half of a float.
    for (int64_t i = 0; i < count; ++i)
      values[i] = bit_cast<float>(
          uint32_t(support::endian::read16le(data + 2 * i)) << 16);
    break;
  default:
    llvm_unreachable("dtype checked above");
  }
  return values;
}
