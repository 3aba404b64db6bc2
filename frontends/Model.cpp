//===- Model.cpp - importer dispatch on config.json's model_type ----------===//

#include "frontends/Model.h"

#include "frontends/Config.h"
#include "frontends/cogmodel/Importer.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn;

llvm::Expected<ImportedModel> mlir::attn::importModel(
    MLIRContext &context, llvm::StringRef dir, const ImportOptions &options) {
  if (!llvm::sys::fs::is_directory(dir))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: not a model directory",
                                   dir.str().c_str());
  SmallString<256> configPath(dir);
  llvm::sys::path::append(configPath, "config.json");
  llvm::Expected<Config> config = Config::read(configPath);
  if (!config)
    return config.takeError();
  llvm::Expected<std::string> modelType = config->getString("model_type");
  if (!modelType)
    return modelType.takeError();
  if (*modelType == "cogmodel")
    return importCogModel(context, dir, *config, options);
  return config->error("unknown model_type '" + *modelType +
                       "' (supported: cogmodel)");
}
