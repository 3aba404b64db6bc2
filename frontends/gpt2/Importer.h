//===- Importer.h - Hugging Face GPT-2 checkpoints to attn IR ---*- C++ -*-===//

#ifndef ATTN_FRONTENDS_GPT2_IMPORTER_H
#define ATTN_FRONTENDS_GPT2_IMPORTER_H

#include "frontends/Config.h"
#include "frontends/Model.h"

namespace mlir::attn {

/// Imports a Hugging Face GPT-2 directory (`config.json`,
/// `model.safetensors` or `pytorch_model.bin`, `vocab.json` + `merges.txt`
/// or `encoder.json` + `vocab.bpe`) with the semantics of
/// `GPT2LMHeadModel`. Config settings that would make a different model
/// (`scale_attn_by_inverse_layer_idx`, `reorder_and_upcast_attn`, another
/// `activation_function`, cross-attention) are errors.
llvm::Expected<ImportedModel> importGPT2(MLIRContext &context,
                                         llvm::StringRef dir,
                                         const Config &config,
                                         const ImportOptions &options);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_GPT2_IMPORTER_H
