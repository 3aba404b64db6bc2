//===- Model.h - what an importer hands to the compiler ---------*- C++ -*-===//

#ifndef ATTN_FRONTENDS_MODEL_H
#define ATTN_FRONTENDS_MODEL_H

#include "frontends/checkpoint/Checkpoint.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::attn {

struct TokenizerSpec {
  enum class Kind { Words, ByteLevelBPE };
  Kind kind = Kind::Words;
  /// Token strings by id.
  std::vector<std::string> vocab;
  /// BPE merges by rank (ByteLevelBPE only).
  std::vector<std::string> merges;
};

/// The model-level facts the artifact records.
struct ModelSpec {
  std::string modelType;
  int64_t vocabSize = 0;
  int64_t contextLength = 0;
  int64_t dModel = 0;
  int64_t nLayers = 0;
  int64_t nHeads = 0;
  int64_t stopToken = 0;
  int64_t bosToken = -1;
  std::string configJson;
  TokenizerSpec tokenizer;
};

/// A model imported from a checkpoint directory: the `prefill` and `decode`
/// programs in attn IR, and the checkpoint their `attn.weight` arguments name.
struct ImportedModel {
  ModelSpec spec;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<Checkpoint> checkpoint;
  /// Every file the import read (config.json, the checkpoint, the tokenizer
  /// files), so that attnc can refuse to write its output over one of them.
  std::vector<std::string> inputFiles;
};

/// Options every importer honours.
struct ImportOptions {
  /// Caps the context (and so the KV cache and scratch sizes); 0 keeps the
  /// model's own.
  int64_t contextLength = 0;
  /// How the matrices that matmuls and embeddings read are stored; the
  /// computation stays f32. f16/bf16 halve the bytes a decode step reads.
  enum class MatrixType { F32, F16, BF16 };
  MatrixType matrixType = MatrixType::F32;
  /// The artifact will reference the checkpoint's tensors in place
  /// (`attnc --weights=external`), which the runtime reads only as F32
  /// safetensors: the importer refuses anything else before it builds IR.
  bool externalWeights = false;
};

/// Opens the weights of a model directory: `model.safetensors`, else a
/// PyTorch `torch.save` file (`pytorch_model.bin`, `model.pt`, `model.pth`).
llvm::Expected<std::unique_ptr<Checkpoint>>
openModelCheckpoint(llvm::StringRef dir);

/// Reads `dir/config.json`, picks the importer by its `model_type`, and
/// imports the model. Errors name the file and what is wrong.
llvm::Expected<ImportedModel> importModel(MLIRContext &context,
                                          llvm::StringRef dir,
                                          const ImportOptions &options);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_MODEL_H
