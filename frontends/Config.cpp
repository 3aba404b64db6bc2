//===- Config.cpp - reading a model's config.json -------------------------===//

#include "frontends/Config.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir::attn;

llvm::Expected<Config> Config::read(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "%s: %s",
                                   path.str().c_str(),
                                   buffer.getError().message().c_str());
  Config config;
  config.filePath = path.str();
  config.rawText = (*buffer)->getBuffer().str();
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(config.rawText);
  if (!value)
    return config.error("not valid JSON: " + llvm::toString(value.takeError()));
  llvm::json::Object *object = value->getAsObject();
  if (!object)
    return config.error("must hold a JSON object");
  config.root = std::move(*object);
  return config;
}

llvm::Error Config::error(const llvm::Twine &message) const {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 filePath + ": " + message);
}

llvm::Expected<int64_t> Config::getInt(llvm::StringRef key, int64_t min) const {
  if (!root.get(key))
    return error("missing '" + key + "'");
  return getInt(key, min, /*fallback=*/0);
}

llvm::Expected<int64_t> Config::getInt(llvm::StringRef key, int64_t min,
                                       int64_t fallback) const {
  const llvm::json::Value *value = root.get(key);
  if (!value || value->kind() == llvm::json::Value::Null)
    return fallback;
  std::optional<int64_t> v = value->getAsInteger();
  if (!v || *v < min)
    return error("'" + key + "' must be an integer >= " + llvm::Twine(min));
  return *v;
}

llvm::Expected<double> Config::getNumber(llvm::StringRef key,
                                         double fallback) const {
  const llvm::json::Value *value = root.get(key);
  if (!value || value->kind() == llvm::json::Value::Null)
    return fallback;
  std::optional<double> v = value->getAsNumber();
  if (!v)
    return error("'" + key + "' must be a number");
  return *v;
}

llvm::Expected<double> Config::getPositiveNumber(llvm::StringRef key,
                                                 double fallback) const {
  llvm::Expected<double> v = getNumber(key, fallback);
  if (!v)
    return v.takeError();
  // JSON has no infinity, but llvm::json reads 1e400 as one.
  if (!(*v > 0) || !std::isfinite(*v)) {
    std::string got;
    llvm::raw_string_ostream os(got);
    os << *root.get(key);
    return error("'" + key + "' must be positive and finite, got " + got);
  }
  return *v;
}

llvm::Expected<std::string> Config::getString(llvm::StringRef key) const {
  const llvm::json::Value *value = root.get(key);
  if (!value)
    return error("missing '" + key + "'");
  std::optional<llvm::StringRef> v = value->getAsString();
  if (!v)
    return error("'" + key + "' must be a string");
  return v->str();
}
