//===- Importer.h - CogModel checkpoints to attn IR -------------*- C++ -*-===//

#ifndef ATTN_FRONTENDS_COGMODEL_IMPORTER_H
#define ATTN_FRONTENDS_COGMODEL_IMPORTER_H

#include "frontends/Config.h"
#include "frontends/Model.h"

namespace mlir::attn {

/// Imports a CogModel checkpoint directory (`config.json` with
/// "model_type": "cogmodel", `model.safetensors` with the seed's state_dict
/// names, `vocab.json`) into `prefill` and `decode` programs that mirror the
/// seed's computation op for op.
llvm::Expected<ImportedModel> importCogModel(MLIRContext &context,
                                             llvm::StringRef dir,
                                             const Config &config,
                                             const ImportOptions &options);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_COGMODEL_IMPORTER_H
