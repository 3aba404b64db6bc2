//===- Config.h - reading a model's config.json -----------------*- C++ -*-===//

#ifndef ATTN_FRONTENDS_CONFIG_H
#define ATTN_FRONTENDS_CONFIG_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// A parsed JSON object with typed getters whose errors name the file and
/// the key: "gpt2/config.json: 'n_head' must be a positive integer".
class Config {
public:
  /// Reads and parses `path`, which must hold a JSON object.
  static llvm::Expected<Config> read(llvm::StringRef path);

  llvm::StringRef path() const { return filePath; }
  llvm::StringRef text() const { return rawText; }
  const llvm::json::Object &object() const { return root; }

  /// A required integer >= `min`.
  llvm::Expected<int64_t> getInt(llvm::StringRef key, int64_t min = 1) const;
  /// An optional integer >= `min`; `fallback` when absent.
  llvm::Expected<int64_t> getInt(llvm::StringRef key, int64_t min,
                                 int64_t fallback) const;
  /// An optional number; `fallback` when absent.
  llvm::Expected<double> getNumber(llvm::StringRef key, double fallback) const;
  /// An optional number > 0 and finite (an epsilon); `fallback` when absent.
  /// Checked here, where the error can name the file and the key, rather
  /// than by the op verifiers, which can name neither.
  llvm::Expected<double> getPositiveNumber(llvm::StringRef key,
                                           double fallback) const;
  /// A required string.
  llvm::Expected<std::string> getString(llvm::StringRef key) const;

  /// An error about this file: "<path>: <message>".
  llvm::Error error(const llvm::Twine &message) const;

private:
  std::string filePath;
  std::string rawText;
  llvm::json::Object root;
};

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CONFIG_H
