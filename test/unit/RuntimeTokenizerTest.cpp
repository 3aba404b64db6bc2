//===- RuntimeTokenizerTest.cpp - The Words tokenizer ---------------------===//

#include "runtime/Tokenizer.h"
#include "test/runtime/RuntimeTest.h"

using namespace attn::runtime;
using namespace attn::test;

namespace {

class RuntimeTokenizerTest : public RuntimeTest {
protected:
  /// Opens the bigram model with `vocab` as its vocabulary.
  void load(std::vector<std::string> vocab = kBigramVocab) {
    ArtifactSpec spec = bigramModel();
    spec.vocab = std::move(vocab);
    artifact_ = open(spec);
    ASSERT_TRUE(artifact_);
  }

  std::vector<int32_t> encode(std::string_view text) {
    std::vector<int32_t> tokens;
    Status status = artifact_->tokenize(text, tokens);
    EXPECT_TRUE(status.ok()) << status.message();
    return tokens;
  }

  std::string decode(const std::vector<int32_t> &tokens) {
    std::string text;
    for (int32_t token : tokens) {
      std::string_view piece;
      Status status = artifact_->tokenText(token, piece);
      EXPECT_TRUE(status.ok()) << status.message();
      text += piece;
    }
    return text;
  }

  std::string encodeError(std::string_view text) {
    std::vector<int32_t> tokens;
    Status status = artifact_->tokenize(text, tokens);
    EXPECT_FALSE(status.ok());
    return status.message();
  }

  std::shared_ptr<const Artifact> artifact_;
};

using Ids = std::vector<int32_t>;

TEST_F(RuntimeTokenizerTest, WholeWordsAndCharacters) {
  load();
  EXPECT_EQ(encode("hello"), (Ids{6}));
  EXPECT_EQ(encode("hello abc!"), (Ids{6, 1, 2, 3, 4, 7}));
  // A word is one token only when all of it is in the vocabulary.
  EXPECT_EQ(encode("dab"), (Ids{5, 2, 3}));
}

TEST_F(RuntimeTokenizerTest, SpacesSeparateWords) {
  load();
  EXPECT_EQ(encode(""), Ids{});
  EXPECT_EQ(encode(" "), (Ids{1}));
  // Two spaces in a row make an empty word between them.
  EXPECT_EQ(encode("a  b"), (Ids{2, 1, 1, 3}));
  EXPECT_EQ(encode(" hello "), (Ids{1, 6, 1}));
}

TEST_F(RuntimeTokenizerTest, DecodingConcatenatesAndRoundTrips) {
  load();
  for (std::string text : {"hello abc", "a  b", " hello !", "", "dcba"})
    EXPECT_EQ(decode(encode(text)), text);
  EXPECT_EQ(decode({0, 6}), "<stop>hello");
}

TEST_F(RuntimeTokenizerTest, WithoutASpaceTokenWordsAreJoined) {
  std::vector<std::string> vocab = kBigramVocab;
  vocab[1] = "_";
  load(vocab);
  EXPECT_EQ(encode("a b hello"), (Ids{2, 3, 6}));
}

TEST_F(RuntimeTokenizerTest, CharactersAreUtf8CodePoints) {
  std::vector<std::string> vocab = kBigramVocab;
  vocab[7] = "\xc3\xa9"; // é
  load(vocab);
  EXPECT_EQ(encode("a\xc3\xa9 \xc3\xa9"), (Ids{2, 7, 1, 7}));
  EXPECT_EQ(decode({2, 7}), "a\xc3\xa9");
}

TEST_F(RuntimeTokenizerTest, UnknownCharactersAreNamed) {
  load();
  std::string file = path("model.attn");
  EXPECT_EQ(encodeError("hello x"),
            file + ": cannot tokenize the text: character 'x' (U+0078) at "
                   "byte 6 is not in the vocabulary");
  EXPECT_EQ(encodeError("a\xc3\xa9"),
            file + ": cannot tokenize the text: character '\xc3\xa9' "
                   "(U+00E9) at byte 1 is not in the vocabulary");
  // Control characters are named by their code point only.
  EXPECT_EQ(encodeError("a\nb"),
            file + ": cannot tokenize the text: character (U+000A) at byte "
                   "1 is not in the vocabulary");
  EXPECT_EQ(encodeError("ab\xff"),
            file + ": cannot tokenize the text: invalid UTF-8 at byte 2");
  // An overlong encoding of "a" is not "a".
  EXPECT_EQ(encodeError("\xc1\xa1"),
            file + ": cannot tokenize the text: invalid UTF-8 at byte 0");
}

TEST_F(RuntimeTokenizerTest, TokenTextNeedsAnIdInTheVocabulary) {
  load();
  std::string_view text;
  Status status = artifact_->tokenText(8, text);
  EXPECT_EQ(status.message(),
            path("model.attn") +
                ": token id 8 is not in the vocabulary [0, 8)");
  EXPECT_EQ(status.code(), StatusCode::InvalidArgument);
}

TEST(RuntimeUtf8Test, DecodesEveryLength) {
  char32_t codePoint;
  EXPECT_EQ(decodeUtf8("A", 0, codePoint), 1u);
  EXPECT_EQ(codePoint, U'A');
  EXPECT_EQ(decodeUtf8("\xc3\xa9", 0, codePoint), 2u);
  EXPECT_EQ(codePoint, U'\u00e9');
  EXPECT_EQ(decodeUtf8("\xe2\x82\xac", 0, codePoint), 3u);
  EXPECT_EQ(codePoint, U'\u20ac');
  EXPECT_EQ(decodeUtf8("\xf0\x9f\x98\x80", 0, codePoint), 4u);
  EXPECT_EQ(codePoint, U'\U0001F600');
  // Truncated, a lone continuation byte, a surrogate.
  EXPECT_EQ(decodeUtf8("\xe2\x82", 0, codePoint), 0u);
  EXPECT_EQ(decodeUtf8("\x82", 0, codePoint), 0u);
  EXPECT_EQ(decodeUtf8("\xed\xa0\x80", 0, codePoint), 0u);
}

} // namespace
