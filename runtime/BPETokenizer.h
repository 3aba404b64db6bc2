//===- BPETokenizer.h - GPT-2's byte-level BPE ------------------*- C++ -*-===//
//
// Text is split with GPT-2's pre-tokenization pattern (contractions, letters,
// numbers, other symbols, whitespace runs; Unicode categories from PCRE2), the
// bytes of each piece are mapped to printable characters (bytes_to_unicode),
// merged by rank with the merges table, and looked up in the vocabulary.
// Decoding maps each token back to its bytes, so it is exact for any byte
// sequence; a character split across tokens is whole once all of its bytes
// are emitted. Like OpenAI's encoder (and the npm gpt-3-encoder),
// "<|endoftext|>" inside text is not special: it is encoded as text.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_BPETOKENIZER_H
#define ATTN_RUNTIME_BPETOKENIZER_H

#include "runtime/Tokenizer.h"

namespace attn::runtime {

/// Creates the byte-level BPE tokenizer of `description` (vocab by id and
/// merges by rank).
Status createByteLevelBPETokenizer(const artifact::Tokenizer &description,
                                   std::unique_ptr<Tokenizer> &out);

} // namespace attn::runtime

#endif // ATTN_RUNTIME_BPETOKENIZER_H
