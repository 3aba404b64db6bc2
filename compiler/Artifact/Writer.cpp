//===- Writer.cpp - the FlatBuffer artifact -------------------------------===//

#include "compiler/Artifact/Writer.h"

#include "runtime/Hash.h"
#include "runtime/Trailer.h"
#include "runtime/Transpose.h"
#include "runtime/schema/artifact_generated.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

using namespace mlir;
using namespace mlir::attn;
namespace fb = ::attn::artifact;

static constexpr uint64_t kSegmentAlignment = 64;

static uint64_t alignTo64(uint64_t n) {
  return (n + kSegmentAlignment - 1) / kSegmentAlignment * kSegmentAlignment;
}

/// f32 -> bf16 or IEEE half, rounding to nearest even (what torch's .to()
/// does), so that a reference that rounds its weights the same way computes
/// with exactly our weights.
static std::vector<uint16_t> narrowFloats(ArrayRef<float> values, bool bf16) {
  std::vector<uint16_t> out(values.size());
  for (auto [i, value] : llvm::enumerate(values)) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    if (bf16) {
      if ((bits & 0x7fffffff) > 0x7f800000) {
        out[i] = static_cast<uint16_t>((bits >> 16) | 0x40); // quiet NaN
        continue;
      }
      out[i] = static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
      continue;
    }
    uint32_t sign = (bits >> 16) & 0x8000;
    uint32_t magnitude = bits & 0x7fffffff;
    if (magnitude > 0x7f800000) { // NaN
      out[i] = static_cast<uint16_t>(sign | 0x7e00);
    } else if (magnitude >= 0x477ff000) { // rounds past 65504: infinity
      out[i] = static_cast<uint16_t>(sign | 0x7c00);
    } else if (magnitude < 0x38800000) { // below 2^-14: subnormal or zero
      // value = significand * 2^(E - 150) = k * 2^-24, k = significand >>
      // (126 - E), rounded to nearest even.
      int shift = 126 - static_cast<int>(magnitude >> 23);
      if (shift > 24) {
        out[i] = static_cast<uint16_t>(sign);
        continue;
      }
      uint32_t significand = (magnitude & 0x7fffff) | 0x800000;
      uint32_t result = significand >> shift;
      uint32_t remainder = significand & ((1u << shift) - 1);
      uint32_t halfway = 1u << (shift - 1);
      if (remainder > halfway || (remainder == halfway && (result & 1)))
        ++result;
      out[i] = static_cast<uint16_t>(sign | result);
    } else {
      uint32_t rebased = magnitude - ((127 - 15) << 23);
      uint32_t result = rebased >> 13;
      uint32_t remainder = rebased & 0x1fff;
      if (remainder > 0x1000 || (remainder == 0x1000 && (result & 1)))
        ++result;
      out[i] = static_cast<uint16_t>(sign | result);
    }
  }
  return out;
}

static fb::DType toDType(Type type) {
  if (type.isF16())
    return fb::DType_f16;
  if (type.isBF16())
    return fb::DType_bf16;
  if (type.isInteger(32))
    return fb::DType_i32;
  if (type.isInteger(64))
    return fb::DType_i64;
  return fb::DType_f32;
}

static fb::Affine toAffine(const Affine &a) { return fb::Affine(a.s, a.t, a.c); }

static fb::BufferKind toKind(BufferKind kind) {
  switch (kind) {
  case BufferKind::Weight:
    return fb::BufferKind_Weight;
  case BufferKind::Tokens:
    return fb::BufferKind_Tokens;
  case BufferKind::KVCache:
    return fb::BufferKind_KVCache;
  case BufferKind::Scratch:
    return fb::BufferKind_Scratch;
  }
  llvm_unreachable("unknown buffer kind");
}

namespace {
/// Where one weight lives in the segment or the external file.
struct PlacedTensor {
  const TensorInfo *info;
  /// The element type the plan reads it as (f32, f16 or bf16).
  Type elementType;
  uint64_t offset;
  uint64_t size;
  /// Stored with its two axes swapped.
  bool transposed;
  /// Embedded: the XXH3-64 of its bytes in the segment, once written.
  uint64_t hash = 0;
};
} // namespace

static flatbuffers::Offset<fb::Binding>
buildBinding(flatbuffers::FlatBufferBuilder &fbb, const ViewPlan &view) {
  std::vector<fb::Affine> sizes, strides;
  for (const Affine &size : view.sizes)
    sizes.push_back(toAffine(size));
  for (int64_t stride : view.strides)
    strides.push_back(toAffine(Affine::constant(stride)));
  fb::Affine offset = toAffine(view.offset);
  return fb::CreateBindingDirect(fbb, view.buffer, &offset, &sizes, &strides);
}

/// The FlatBuffer for a weight segment starting at `segmentOffset`.
static flatbuffers::DetachedBuffer
buildFlatBuffer(const ImportedModel &model, const ModelPlan &plan,
                const ArtifactKernels &kernels, ArrayRef<PlacedTensor> tensors,
                uint64_t segmentOffset, uint64_t segmentSize,
                const ArtifactOptions &options, StringRef externalPath,
                uint64_t externalSize, uint64_t externalHash) {
  flatbuffers::FlatBufferBuilder fbb(1 << 20);
  // Every scalar is stored, so that the size does not depend on the
  // segment offset written into it.
  fbb.ForceDefaults(true);
  const ModelSpec &spec = model.spec;
  auto config = fb::CreateModelConfigDirect(
      fbb, spec.modelType.c_str(), spec.vocabSize, spec.contextLength,
      spec.dModel, spec.nLayers, spec.nHeads, spec.stopToken, spec.bosToken,
      spec.configJson.c_str());
  std::vector<flatbuffers::Offset<flatbuffers::String>> vocab, merges;
  for (const std::string &token : spec.tokenizer.vocab)
    vocab.push_back(fbb.CreateString(token));
  for (const std::string &merge : spec.tokenizer.merges)
    merges.push_back(fbb.CreateString(merge));
  auto tokenizer = fb::CreateTokenizerDirect(
      fbb,
      spec.tokenizer.kind == TokenizerSpec::Kind::Words
          ? fb::TokenizerKind_Words
          : fb::TokenizerKind_ByteLevelBPE,
      &vocab, &merges);

  std::vector<flatbuffers::Offset<fb::Tensor>> tensorTable;
  for (const PlacedTensor &t : tensors) {
    std::vector<int64_t> shape(t.info->shape.begin(), t.info->shape.end());
    if (t.transposed)
      std::reverse(shape.begin(), shape.end());
    tensorTable.push_back(fb::CreateTensorDirect(
        fbb, t.info->name.c_str(), toDType(t.elementType), &shape, t.offset,
        t.size, t.transposed, t.hash));
  }
  auto weights = fb::CreateWeightsDirect(
      fbb,
      options.externalWeights ? fb::WeightsLocation_External
                              : fb::WeightsLocation_Embedded,
      segmentOffset, segmentSize,
      options.externalWeights ? externalPath.str().c_str() : nullptr,
      externalSize, externalHash);

  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  int32_t nextTensor = 0;
  for (const BufferPlan &buffer : plan.buffers) {
    std::vector<fb::Affine> shape;
    for (int64_t size : buffer.shape)
      shape.push_back(toAffine(Affine::constant(size)));
    int32_t tensor = buffer.kind == BufferKind::Weight ? nextTensor++ : -1;
    buffers.push_back(fb::CreateBufferDirect(fbb, buffer.name.c_str(),
                                             toKind(buffer.kind),
                                             toDType(buffer.elementType),
                                             &shape, tensor));
  }

  std::vector<flatbuffers::Offset<fb::Program>> programs;
  for (const ProgramPlan &program : plan.programs) {
    std::vector<flatbuffers::Offset<fb::Dispatch>> dispatches;
    for (const DispatchPlan &dispatch : program.dispatches) {
      std::vector<flatbuffers::Offset<fb::Binding>> bindings;
      for (const ViewPlan &view : dispatch.bindings)
        bindings.push_back(buildBinding(fbb, view));
      std::vector<uint32_t> updates(dispatch.updates.begin(),
                                    dispatch.updates.end());
      dispatches.push_back(fb::CreateDispatchDirect(
          fbb, dispatch.kernel, &bindings, dispatch.workAxis,
          updates.empty() ? nullptr : &updates));
    }
    auto logits = buildBinding(fbb, program.logits);
    programs.push_back(fb::CreateProgramDirect(fbb, program.name.c_str(),
                                               program.staticS, program.tokens,
                                               &dispatches, logits));
  }

  std::vector<flatbuffers::Offset<flatbuffers::String>> kernelNames;
  for (const std::string &name : plan.kernelNames)
    kernelNames.push_back(fbb.CreateString(name));
  std::vector<flatbuffers::Offset<fb::CpuKernels>> cpu;
  if (!kernels.cpu.empty()) {
    auto names = fbb.CreateVector(kernelNames);
    for (const CpuVariant &variant : kernels.cpu) {
      ArrayRef<uint8_t> image(
          reinterpret_cast<const uint8_t *>(variant.sharedObject.data()),
          variant.sharedObject.size());
      cpu.push_back(fb::CreateCpuKernels(
          fbb, fbb.CreateString(variant.target.cpu),
          fbb.CreateVector(image.data(), image.size()), names,
          fbb.CreateString(variant.target.triple),
          fbb.CreateString(variant.target.features)));
    }
  }
  flatbuffers::Offset<fb::CudaKernels> cuda;
  if (const std::optional<CudaKernels> &compiled = kernels.cuda) {
    std::vector<uint32_t> blockSize, itemsPerBlock, sharedMemoryBytes, gridY;
    std::vector<uint8_t> readsStep;
    std::vector<uint64_t> workspaceBytes;
    for (const CudaKernelGeometry &geometry : compiled->geometry) {
      blockSize.push_back(geometry.blockSize);
      itemsPerBlock.push_back(geometry.itemsPerBlock);
      sharedMemoryBytes.push_back(geometry.sharedMemoryBytes);
      gridY.push_back(geometry.gridY);
      readsStep.push_back(geometry.readsStep);
      workspaceBytes.push_back(geometry.workspaceBytes);
    }
    std::vector<flatbuffers::Offset<fb::CudaModule>> modules;
    for (const CudaModuleText &module : compiled->modules)
      modules.push_back(fb::CreateCudaModuleDirect(fbb, module.arch.c_str(),
                                                   module.ptx.c_str()));
    cuda = fb::CreateCudaKernelsDirect(fbb, &kernelNames, &blockSize,
                                       &itemsPerBlock, &sharedMemoryBytes,
                                       &modules, &gridY, &readsStep,
                                       &workspaceBytes);
  }
  auto artifact = fb::CreateArtifactDirect(fbb, fb::Version_Current, config,
                                           tokenizer, &tensorTable, weights,
                                           &buffers, &programs,
                                           cpu.empty() ? nullptr : &cpu, cuda);
  fb::FinishArtifactBuffer(fbb, artifact);
  return fbb.Release();
}

/// Calls `use` with the bytes of `t` as the segment stores them, converted
/// to the plan's element type and transposed when the plan reads it so,
/// without another copy of the tensor.
static llvm::Error packTensor(const PlacedTensor &t,
                              llvm::function_ref<void(StringRef)> use) {
  llvm::Expected<std::vector<float>> values = readAsF32(*t.info);
  if (!values)
    return values.takeError();
  if (t.transposed) {
    std::vector<float> swapped(values->size());
    ::attn::transposeMatrix(values->data(), t.info->shape[0], t.info->shape[1],
                            swapped.data());
    *values = std::move(swapped);
  }
  if (t.elementType.isF32()) {
    use(StringRef(reinterpret_cast<const char *>(values->data()), t.size));
    return llvm::Error::success();
  }
  std::vector<uint16_t> narrow = narrowFloats(*values, t.elementType.isBF16());
  use(StringRef(reinterpret_cast<const char *>(narrow.data()), t.size));
  return llvm::Error::success();
}

/// Copies the finished artifact `from` into the device or pipe `to`.
static llvm::Error
copyInto(StringRef from, StringRef to,
         llvm::function_ref<llvm::Error(const Twine &)> error) {
  auto contents = llvm::MemoryBuffer::getFile(from, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
  if (!contents)
    return error("cannot read back the artifact: " +
                 contents.getError().message());
  std::error_code ec;
  llvm::raw_fd_ostream os(to, ec, llvm::sys::fs::CD_OpenExisting);
  if (ec)
    return error("cannot open the output: " + ec.message());
  os << (*contents)->getBuffer();
  os.close();
  if (os.has_error()) {
    std::string message = os.error().message();
    os.clear_error();
    return error("cannot write: " + message);
  }
  return llvm::Error::success();
}

llvm::Error mlir::attn::writeArtifact(StringRef path,
                                      const ImportedModel &model,
                                      const ModelPlan &plan,
                                      const ArtifactKernels &kernels,
                                      const ArtifactOptions &options) {
  auto error = [&](const Twine &what) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": " + what);
  };
  const Checkpoint &checkpoint = *model.checkpoint;

  // Tensor table: the plan's weight buffers in order, packed into the
  // segment, or where they already are in an external safetensors file
  // (offsets relative to its data section).
  std::vector<PlacedTensor> tensors;
  uint64_t segmentSize = 0;
  std::string externalPath;
  uint64_t externalSize = 0, externalHash = 0, dataStart = 0;
  if (options.externalWeights) {
    // The runtime reads external weights as safetensors.
    if (!checkpoint.path().ends_with(".safetensors"))
      return error("--weights=external needs a safetensors checkpoint, not " +
                   checkpoint.path() + "; embed the weights instead");
    auto file = llvm::MemoryBuffer::getFile(checkpoint.path(), false, false);
    if (!file)
      return error("cannot read " + checkpoint.path() + ": " +
                   file.getError().message());
    ArrayRef<uint8_t> bytes(
        reinterpret_cast<const uint8_t *>((*file)->getBufferStart()),
        (*file)->getBufferSize());
    if (bytes.size() < 8)
      return error(checkpoint.path() + " is not a safetensors file");
    uint64_t headerSize = 0;
    for (int i = 0; i < 8; ++i)
      headerSize |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    dataStart = 8 + headerSize;
    SmallString<256> absolute(checkpoint.path());
    llvm::sys::fs::make_absolute(absolute);
    externalPath = std::string(absolute);
    externalSize = bytes.size();
    externalHash = ::attn::runtime::contentHash(bytes.data(), bytes.size());
  }
  for (const BufferPlan &buffer : plan.buffers) {
    if (buffer.kind != BufferKind::Weight)
      continue;
    const TensorInfo *info = checkpoint.lookup(buffer.name);
    if (!info)
      return error("the plan binds '" + buffer.name +
                   "', which the checkpoint lacks");
    uint64_t size = info->getNumElements() *
                    (buffer.elementType.getIntOrFloatBitWidth() / 8);
    if (buffer.transposed &&
        (info->shape.size() != 2 || buffer.shape.size() != 2 ||
         info->shape[0] != buffer.shape[1] || info->shape[1] != buffer.shape[0]))
      return error("'" + info->name + "' in " + checkpoint.path() +
                   " is not the transpose of the plan's weight");
    if (options.externalWeights) {
      // The runtime reads them from the file: in place, or transposed into
      // memory of its own when it binds them.
      if (info->dtype != DType::F32 || !buffer.elementType.isF32())
        return error("external weights are read as F32; '" + info->name +
                     "' in " + checkpoint.path() + " is " +
                     getDTypeName(info->dtype) +
                     (buffer.elementType.isF32() ? ""
                                                 : " and is to be narrowed"));
      tensors.push_back({info, buffer.elementType,
                         info->fileOffset - dataStart, size,
                         buffer.transposed});
      continue;
    }
    segmentSize = alignTo64(segmentSize);
    tensors.push_back(
        {info, buffer.elementType, segmentSize, size, buffer.transposed});
    segmentSize += size;
  }

  // The FlatBuffer's size fixes where the segment starts; it does not depend
  // on the values written into it (every scalar is stored), so the final
  // one, with the tensors' hashes, goes where this one's zeros went.
  flatbuffers::DetachedBuffer probe =
      buildFlatBuffer(model, plan, kernels, tensors, 0, segmentSize, options,
                      externalPath, externalSize, externalHash);
  uint64_t segmentOffset = alignTo64(probe.size());

  // Written to a temporary renamed over the output at the end, so that a
  // failed compile leaves the old artifact whole. A device or a pipe
  // (/dev/null, a FIFO) gets the finished file copied in: a rename would
  // replace it.
  llvm::sys::fs::file_status status;
  bool inPlace = !llvm::sys::fs::status(path, status) &&
                 llvm::sys::fs::exists(status) &&
                 !llvm::sys::fs::is_regular_file(status);
  SmallString<256> temporary;
  int fd;
  if (std::error_code ec =
          inPlace ? llvm::sys::fs::createTemporaryFile("attnc-artifact", "attn",
                                                       fd, temporary)
                  : llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%", fd,
                                                    temporary))
    return error("cannot create the output: " + ec.message());
  llvm::FileRemover removeTemporary(temporary);
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    auto fail = [&](llvm::Error err) {
      os.close();
      os.clear_error();
      return err;
    };
    os.write_zeros(segmentOffset);
    if (!options.externalWeights) {
      uint64_t written = 0;
      for (PlacedTensor &t : tensors) {
        os.write_zeros(t.offset - written);
        if (llvm::Error err = packTensor(t, [&](StringRef bytes) {
              t.hash = ::attn::runtime::contentHash(bytes.data(), bytes.size());
              os << bytes;
            }))
          return fail(std::move(err));
        written = t.offset + t.size;
        if (options.progress)
          options.progress(written, segmentSize);
      }
    }
    flatbuffers::DetachedBuffer flat =
        buildFlatBuffer(model, plan, kernels, tensors, segmentOffset,
                        segmentSize, options, externalPath, externalSize,
                        externalHash);
    if (flat.size() != probe.size())
      return fail(error("internal error: the artifact header changed size"));
    // The seal goes last: after the segment, or after the padding when the
    // weights are external.
    ::attn::runtime::ArtifactTrailer trailer =
        ::attn::runtime::sealFlatBuffer(flat.data(), flat.size());
    os.write(reinterpret_cast<const char *>(&trailer), sizeof(trailer));
    os.seek(0);
    os.write(reinterpret_cast<const char *>(flat.data()), flat.size());
    os.close();
    if (os.has_error()) {
      std::string message = os.error().message();
      os.clear_error();
      return error("cannot write: " + message);
    }
  }
  if (inPlace)
    return copyInto(temporary, path, error);
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path))
    return error("cannot write: " + ec.message());
  removeTemporary.releaseFile();
  return llvm::Error::success();
}
