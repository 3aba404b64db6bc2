//===- Model.cpp - importer dispatch on config.json's model_type ----------===//

#include "frontends/Model.h"

#include "frontends/Config.h"
#include "frontends/cogmodel/Importer.h"
#include "frontends/gpt2/Importer.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn;

llvm::Expected<std::unique_ptr<Checkpoint>>
mlir::attn::openModelCheckpoint(llvm::StringRef dir) {
  for (StringRef name :
       {"model.safetensors", "pytorch_model.bin", "model.pt", "model.pth"}) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    if (llvm::sys::fs::exists(path))
      return openCheckpoint(path);
  }
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      "%s: no checkpoint (model.safetensors, pytorch_model.bin, model.pt or "
      "model.pth)",
      dir.str().c_str());
}

llvm::Expected<ImportedModel> mlir::attn::importModel(
    MLIRContext &context, llvm::StringRef dir, const ImportOptions &options) {
  if (!llvm::sys::fs::exists(dir))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: no such file or directory",
                                   dir.str().c_str());
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
  if (*modelType != "cogmodel" && *modelType != "gpt2")
    return config->error("unknown model_type '" + *modelType +
                         "' (supported: cogmodel, gpt2)");
  llvm::Expected<ImportedModel> model =
      *modelType == "cogmodel"
          ? importCogModel(context, dir, *config, options)
          : importGPT2(context, dir, *config, options);
  if (model)
    model->inputFiles.push_back(configPath.str().str());
  return model;
}
