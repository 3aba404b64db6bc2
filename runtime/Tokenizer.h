//===- Tokenizer.h - Text to token ids and back -----------------*- C++ -*-===//
//
// One class per TokenizerKind of the schema, behind one interface: the
// artifact creates the kind it describes, and nothing else depends on which.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_TOKENIZER_H
#define ATTN_RUNTIME_TOKENIZER_H

#include "runtime/Status.h"
#include "runtime/schema/artifact_generated.h"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace attn::runtime {

/// Turns text into token ids and ids into text. Immutable once created and
/// safe to share between threads.
class Tokenizer {
public:
  virtual ~Tokenizer();

  /// Appends the tokens of `text` to `tokens`. The error describes the text
  /// that cannot be encoded; it does not name the artifact.
  virtual Status encode(std::string_view text,
                        std::vector<int32_t> &tokens) const = 0;

  /// The text (bytes, for byte-level kinds) of token `id`, which must be in
  /// [0, vocab size). Decoding a sequence concatenates these. The view lives
  /// as long as the tokenizer.
  virtual std::string_view decode(int32_t id) const = 0;

  /// Creates the tokenizer `description` describes, for a model of
  /// `vocabSize` tokens. `description`'s strings must outlive it.
  static Status create(const artifact::Tokenizer &description,
                       int64_t vocabSize, std::unique_ptr<Tokenizer> &out);
};

/// The length of the UTF-8 sequence at `text[pos]` with its code point in
/// `codePoint`, or 0 when the bytes there are not valid UTF-8.
size_t decodeUtf8(std::string_view text, size_t pos, char32_t &codePoint);

} // namespace attn::runtime

#endif // ATTN_RUNTIME_TOKENIZER_H
