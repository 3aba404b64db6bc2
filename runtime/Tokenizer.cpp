//===- Tokenizer.cpp - Text to token ids and back -------------------------===//

#include "runtime/Tokenizer.h"

#include "runtime/BPETokenizer.h"

#include <optional>
#include <string>
#include <unordered_map>

namespace attn::runtime {

using artifact::TokenizerKind;

Tokenizer::~Tokenizer() = default;

size_t decodeUtf8(std::string_view text, size_t pos, char32_t &codePoint) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  size_t length;
  char32_t minimum;
  if (lead < 0x80) {
    codePoint = lead;
    return 1;
  }
  if ((lead & 0xe0) == 0xc0) {
    length = 2, minimum = 0x80, codePoint = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, minimum = 0x800, codePoint = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, minimum = 0x10000, codePoint = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() - pos < length)
    return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xc0) != 0x80)
      return 0;
    codePoint = (codePoint << 6) | (byte(pos + i) & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and values past Unicode are invalid.
  if (codePoint < minimum || codePoint > 0x10ffff ||
      (codePoint >= 0xd800 && codePoint <= 0xdfff))
    return 0;
  return length;
}

namespace {

/// TokenizerKind::Words (CogModel): words separated by single spaces; a word
/// in the vocabulary is one token, any other word one token per character
/// (UTF-8 code point); the space between words is the token " " when the
/// vocabulary has it.
class WordsTokenizer final : public Tokenizer {
public:
  explicit WordsTokenizer(const artifact::Tokenizer &description) {
    const auto &vocab = *description.vocab();
    strings_.reserve(vocab.size());
    for (const flatbuffers::String *string : vocab) {
      std::string_view text = string->string_view();
      // emplace keeps the first id of a string listed twice.
      ids_.emplace(text, static_cast<int32_t>(strings_.size()));
      strings_.push_back(text);
    }
    space_ = lookup(" ");
  }

  Status encode(std::string_view text,
                std::vector<int32_t> &tokens) const override {
    for (size_t start = 0;;) {
      size_t end = text.find(' ', start);
      ATTN_RETURN_IF_ERROR(
          encodeWord(text, start, end == std::string_view::npos ? text.size()
                                                                : end,
                     tokens));
      if (end == std::string_view::npos)
        return Status();
      if (space_)
        tokens.push_back(*space_);
      start = end + 1;
    }
  }

  std::string_view decode(int32_t id) const override { return strings_[id]; }

private:
  std::optional<int32_t> lookup(std::string_view text) const {
    auto it = ids_.find(text);
    if (it == ids_.end())
      return std::nullopt;
    return it->second;
  }

  /// Encodes the word text[begin, end).
  Status encodeWord(std::string_view text, size_t begin, size_t end,
                    std::vector<int32_t> &tokens) const {
    std::string_view word = text.substr(begin, end - begin);
    // Two spaces in a row make an empty word, which has no tokens.
    if (word.empty())
      return Status();
    if (std::optional<int32_t> id = lookup(word)) {
      tokens.push_back(*id);
      return Status();
    }
    for (size_t pos = begin; pos < end;) {
      char32_t codePoint;
      size_t length = decodeUtf8(text.substr(0, end), pos, codePoint);
      if (length == 0)
        return makeError(StatusCode::InvalidArgument,
                         "cannot tokenize the text: invalid UTF-8 at byte %zu",
                         pos);
      std::string_view character = text.substr(pos, length);
      std::optional<int32_t> id = lookup(character);
      if (!id) {
        // Control characters would break the one-line message; the code
        // point alone names them.
        std::string shown =
            codePoint < 0x20 || codePoint == 0x7f
                ? std::string()
                : "'" + std::string(character) + "' ";
        return makeError(StatusCode::InvalidArgument,
                         "cannot tokenize the text: character %s(U+%04X) at "
                         "byte %zu is not in the vocabulary",
                         shown.c_str(), (unsigned)codePoint, pos);
      }
      tokens.push_back(*id);
      pos += length;
    }
    return Status();
  }

  /// The token strings by id; they point into the artifact.
  std::vector<std::string_view> strings_;
  std::unordered_map<std::string_view, int32_t> ids_;
  /// The token between words, if the vocabulary has one.
  std::optional<int32_t> space_;
};

} // namespace

Status Tokenizer::create(const artifact::Tokenizer &description,
                         int64_t vocabSize, std::unique_ptr<Tokenizer> &out) {
  int64_t entries = description.vocab() ? description.vocab()->size() : 0;
  if (entries != vocabSize)
    return makeError(StatusCode::InvalidArtifact,
                     "the tokenizer has %lld vocabulary entries but the model "
                     "has %lld tokens (config.vocab_size)",
                     (long long)entries, (long long)vocabSize);
  switch (description.kind()) {
  case TokenizerKind::TokenizerKind_Words:
    out = std::make_unique<WordsTokenizer>(description);
    return Status();
  case TokenizerKind::TokenizerKind_ByteLevelBPE:
    return createByteLevelBPETokenizer(description, out);
  }
  return makeError(StatusCode::InvalidArtifact, "unknown tokenizer kind %d",
                   (int)description.kind());
}

} // namespace attn::runtime
