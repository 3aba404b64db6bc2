//===- PyTorch.h - torch.save checkpoint reader -----------------*- C++ -*-===//
//
// `torch.save(state_dict, f)` (PyTorch >= 1.6, what `pytorch_model.bin` is)
// writes a zip archive of stored entries under one folder, `<archive>/`:
//
//   <archive>/data.pkl      the pickled object: here a dict of name -> tensor,
//                           each tensor a view (offset, size, stride) of a
//                           storage named by a key
//   <archive>/data/<key>    each storage's raw little-endian elements
//   <archive>/version       the format version
//   <archive>/byteorder     "little" or "big" (newer PyTorch only)
//   <archive>/.data/...     serialization id (newer PyTorch only)
//
// Loading it with Python runs the pickle, i.e. arbitrary code. This reader
// never does: the archive is validated by Zip.h, data.pkl is run by the
// restricted unpickler of Pickle.h, and then:
//   - the entries are all under one folder; the archive is not TorchScript
//     (no constants.pkl or code/); the CRC-32 of every entry but the storages
//     (data.pkl included) is checked; byteorder, if present, is "little";
//   - the unpickled object is a dict of tensors, or a dict with such a dict
//     under "state_dict" or "model" (the usual training checkpoint wrappers;
//     the other entries are unpickled but not used);
//   - its keys are distinct strings and its values tensors;
//   - each tensor's storage `data/<key>` is an entry of exactly its element
//     count times the element size (the dtype comes from the storage type);
//     the tensor's element count fits int64, it is row-major contiguous (the
//     strides match the shape, ignoring dimensions of size 1, as
//     torch.Tensor.is_contiguous does), and [storage_offset, storage_offset +
//     numel) lies within its storage.
// Several tensors may share a storage (tied weights such as GPT-2's wte and
// lm_head, or views): unlike a safetensors file, their bytes may overlap.
// Tensors are listed in ascending order of their position in the file.
// Each failure is an llvm::Error of one line: "<file>: <what is wrong>".
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_PYTORCH_H
#define ATTN_FRONTENDS_CHECKPOINT_PYTORCH_H

#include "frontends/checkpoint/Checkpoint.h"

#include "llvm/ADT/StringMap.h"

namespace mlir::attn {

/// A validated torch.save zip archive holding a state_dict.
class PyTorchCheckpoint : public Checkpoint {
public:
  /// Maps and validates the torch.save file at `path`.
  static llvm::Expected<std::unique_ptr<PyTorchCheckpoint>>
  open(llvm::StringRef path);

  /// Validates `buffer` as a torch.save file and takes ownership of it. Its
  /// identifier is used as the path in errors and in path().
  static llvm::Expected<std::unique_ptr<PyTorchCheckpoint>>
  create(std::unique_ptr<llvm::MemoryBuffer> buffer);

  llvm::ArrayRef<TensorInfo> tensors() const override { return tensorList; }
  const TensorInfo *lookup(llvm::StringRef name) const override;
  llvm::StringRef path() const override {
    return buffer->getBufferIdentifier();
  }

private:
  PyTorchCheckpoint(std::unique_ptr<llvm::MemoryBuffer> buffer,
                    std::vector<TensorInfo> tensorList);

  std::unique_ptr<llvm::MemoryBuffer> buffer;
  /// Sorted by file offset.
  std::vector<TensorInfo> tensorList;
  /// Name -> index into tensorList.
  llvm::StringMap<size_t> index;
};

/// Returns whether `contents` starts like a file of the legacy torch.save
/// format (PyTorch < 1.6): a pickle whose first object is torch's magic
/// number.
bool isLegacyTorchSave(llvm::StringRef contents);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CHECKPOINT_PYTORCH_H
