//===- Checkpoint.h - format-independent view of a weights file -*- C++ -*-===//
//
// The importers read weights through this interface only, so that a model
// stored as safetensors or as a PyTorch `torch.save` file imports the same
// way. A checkpoint owns the (memory-mapped) file; every TensorInfo
// points into it and lives as long as the Checkpoint.
//
// This library links libLLVM.so only, never MLIR: tools that just inspect
// weights stay small, and the namespace is shared with the rest of attn.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_CHECKPOINT_H
#define ATTN_FRONTENDS_CHECKPOINT_CHECKPOINT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// Element type of a stored tensor. The set is what the supported models
/// need; a file using another type is rejected when opened.
enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

/// Returns the size in bytes of one element of `dtype`.
size_t getDTypeSize(DType dtype);

/// Returns the safetensors spelling of `dtype` ("F32", "BF16", "BOOL", ...).
llvm::StringRef getDTypeName(DType dtype);

/// Parses the safetensors spelling of a dtype; std::nullopt if unknown.
std::optional<DType> parseDType(llvm::StringRef name);

/// One tensor of a checkpoint.
struct TensorInfo {
  /// The name in the checkpoint, e.g. "h.0.attn.c_attn.weight".
  std::string name;
  DType dtype;
  /// Dimensions, outermost first; empty for a scalar.
  llvm::SmallVector<int64_t> shape;
  /// The little-endian row-major data, pointing into the mapped file. Its
  /// size is getNumElements() * getDTypeSize(dtype); it is not necessarily
  /// aligned to the element size, so read it with memcpy or
  /// llvm::support::endian.
  llvm::ArrayRef<uint8_t> bytes;
  /// Where `bytes` start in the file, so that an artifact can reference the
  /// checkpoint's data in place.
  uint64_t fileOffset = 0;

  /// Returns the product of the dimensions (1 for a scalar).
  int64_t getNumElements() const;
};

/// A checkpoint file opened for reading. Implementations validate the whole
/// file when they are created, so a Checkpoint that exists is consistent: its
/// tensors have distinct names and data inside the file. In a safetensors
/// file no two tensors' data overlap; in a torch.save file tensors may share
/// a storage (tied weights), so their bytes may be the same or overlap.
class Checkpoint {
public:
  virtual ~Checkpoint();

  /// Returns every tensor, in ascending order of their position in the file.
  virtual llvm::ArrayRef<TensorInfo> tensors() const = 0;

  /// Returns the tensor called `name`, or nullptr if there is none.
  virtual const TensorInfo *lookup(llvm::StringRef name) const = 0;

  /// Returns the path the checkpoint was opened from.
  virtual llvm::StringRef path() const = 0;
};

/// Maps `path` read-only (the OS pages weights in on demand, so opening a
/// large checkpoint costs no copy). The error names the file.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
mapCheckpointFile(llvm::StringRef path);

/// Opens the checkpoint at `path`, choosing the reader from the file's
/// content rather than its name: a zip archive is read as a torch.save file
/// (PyTorch.h, which never executes the pickle), a legacy (PyTorch < 1.6)
/// torch.save file and a Git LFS pointer are refused, and anything else is
/// read as safetensors; a file not named `*.safetensors` that is no
/// safetensors file either is reported as "not a torch.save zip archive".
/// Every error is one line that starts with `path`.
llvm::Expected<std::unique_ptr<Checkpoint>>
openCheckpoint(llvm::StringRef path);

/// Returns the elements of an F32, F16 or BF16 tensor as floats. Half and
/// bfloat16 values convert exactly (both are subsets of float), including
/// subnormals, infinities and NaN payloads.
llvm::Expected<std::vector<float>> readAsF32(const TensorInfo &tensor);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CHECKPOINT_CHECKPOINT_H
