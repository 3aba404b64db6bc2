//===- Messages.h - how the checkpoint readers word errors ------*- C++ -*-===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_MESSAGES_H
#define ATTN_FRONTENDS_CHECKPOINT_MESSAGES_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir::attn {

/// `s` in single quotes, escaped and cut at 200 bytes, so that an error
/// about hostile input stays one readable line.
std::string quoteForMessage(llvm::StringRef s);

/// A byte range as "[begin, end)".
std::string renderByteRange(uint64_t begin, uint64_t end);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CHECKPOINT_MESSAGES_H
