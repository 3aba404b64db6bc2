//===- Messages.cpp - how the checkpoint readers word errors --------------===//

#include "frontends/checkpoint/Messages.h"

#include "llvm/Support/raw_ostream.h"

std::string mlir::attn::quoteForMessage(llvm::StringRef s) {
  constexpr size_t kLimit = 200;
  std::string result;
  llvm::raw_string_ostream os(result);
  os << '\'';
  os.write_escaped(s.take_front(kLimit));
  if (s.size() > kLimit)
    os << "...";
  os << '\'';
  return result;
}

std::string mlir::attn::renderByteRange(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}
