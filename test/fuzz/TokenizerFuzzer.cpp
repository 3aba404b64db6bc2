//===- TokenizerFuzzer.cpp - Fuzz the tokenizers --------------------------===//
//
// Two artifacts are built once, holding only a tokenizer (no dispatches):
// GPT-2's byte-level BPE, with GPT-2's real vocabulary and merges when
// $ATTN_GPT2_BPE names a folder with encoder.json and vocab.bpe (what
// scripts/lib.sh fetches), else a small byte-level vocabulary with a few
// merges; and CogModel's word tokenizer with a small vocabulary. Each input
// is encoded as text by both, through Artifact::tokenize; when encoding
// succeeds every id is in the vocabulary and decoding the ids gives the text
// back (both tokenizers are lossless), and valid UTF-8 always encodes with
// BPE. Then the input, read as little-endian int32 ids, is decoded id by id
// through Artifact::tokenText, which must refuse ids outside the
// vocabulary. Errors must be one line.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "test/runtime/ArtifactBuilder.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace attn::runtime;
namespace fb = attn::artifact;

[[noreturn]] static void fail(const char *what) {
  std::fprintf(stderr, "fuzz target: broken promise: %s\n", what);
  std::abort();
}

/// GPT-2's bytes_to_unicode, as UTF-8 strings.
static std::vector<std::string> byteCharacters() {
  std::vector<std::string> table;
  unsigned next = 256;
  for (unsigned b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
                     (b >= 0xae && b <= 0xff);
    unsigned c = printable ? b : next++;
    std::string text;
    if (c < 0x80) {
      text += static_cast<char>(c);
    } else {
      text += static_cast<char>(0xc0 | (c >> 6));
      text += static_cast<char>(0x80 | (c & 0x3f));
    }
    table.push_back(text);
  }
  return table;
}

/// GPT-2's files from `dir`; false when they are not there.
static bool readGpt2(const std::string &dir, std::vector<std::string> &vocab,
                     std::vector<std::string> &merges) {
  auto encoder = llvm::MemoryBuffer::getFile(dir + "/encoder.json");
  auto bpe = llvm::MemoryBuffer::getFile(dir + "/vocab.bpe");
  if (!encoder || !bpe)
    return false;
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*encoder)->getBuffer());
  if (!json || !json->getAsObject())
    fail("encoder.json is not a JSON object");
  const llvm::json::Object &object = *json->getAsObject();
  vocab.assign(object.size(), "");
  for (const auto &[token, id] : object) {
    std::optional<int64_t> index = id.getAsInteger();
    if (!index || *index < 0 || *index >= (int64_t)vocab.size())
      fail("encoder.json has an id out of range");
    vocab[*index] = token.str();
  }
  llvm::SmallVector<llvm::StringRef> lines;
  (*bpe)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef line : lines)
    if (!line.starts_with("#version"))
      merges.push_back(line.rtrim("\r").str());
  return true;
}

/// A model that only has a tokenizer: its programs run no kernel and their
/// logits are a zeroed scratch buffer.
static attn::test::ArtifactSpec tokenizerOnly(fb::TokenizerKind kind,
                                              std::vector<std::string> vocab,
                                              std::vector<std::string> merges) {
  int64_t V = static_cast<int64_t>(vocab.size());
  attn::test::ArtifactSpec spec;
  spec.modelType = "tokenizer";
  spec.vocabSize = V;
  spec.contextLength = 4;
  spec.tokenizerKind = kind;
  spec.vocab = std::move(vocab);
  spec.merges = std::move(merges);
  fb::Affine s(1, 0, 0), v(0, 0, V), one(0, 0, 1), zero;
  spec.buffers = {{"tokens", fb::BufferKind_Tokens, fb::DType_i32, {s}},
                  {"logits", fb::BufferKind_Scratch, fb::DType_f32, {one, v}}};
  attn::test::BindingSpec logits{1, zero, {one, v}, {v, one}};
  spec.programs = {{"prefill", 0, 0, {}, logits}, {"decode", 1, 0, {}, logits}};
  spec.sharedObject = attn::test::testKernelsImage();
  return spec;
}

/// Writes `spec` to a memfd (left open) and opens it.
static std::shared_ptr<const Artifact> open(const attn::test::ArtifactSpec &spec) {
  std::vector<uint8_t> bytes = attn::test::buildArtifact(spec).artifact;
  int fd = memfd_create("attn-fuzz-tokenizer", MFD_CLOEXEC);
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) != (ssize_t)bytes.size())
    fail("cannot write the artifact to a memfd");
  std::shared_ptr<const Artifact> artifact;
  Status status = Artifact::open("/proc/self/fd/" + std::to_string(fd), artifact);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.message().c_str());
    fail("the tokenizer artifact does not open");
  }
  return artifact;
}

static std::shared_ptr<const Artifact> *bpe, *words;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  std::vector<std::string> vocab, merges;
  const char *dir = std::getenv("ATTN_GPT2_BPE");
  if (!dir || !readGpt2(dir, vocab, merges)) {
    vocab = byteCharacters();
    for (const char *merge : {"Ġ t", "h e", "Ġt he", "i n", "e r", "Ġ a",
                              "o n", "r e", "Ġ s", "e d", "Ġ w", "Ġw o",
                              "l l", "Ġwo r", "Ġwor ld", "in g"}) {
      merges.push_back(merge);
      std::string merged(merge);
      merged.erase(merged.find(' '), 1);
      vocab.push_back(merged);
    }
  }
  bpe = new std::shared_ptr<const Artifact>(
      open(tokenizerOnly(fb::TokenizerKind_ByteLevelBPE, vocab, merges)));
  std::vector<std::string> wordVocab = {"<stop>", " ", "hello", "world", "é",
                                        "日本", "\xF0\x9F\x98\x80", "\t"};
  for (char c = 'a'; c <= 'z'; ++c)
    wordVocab.push_back(std::string(1, c));
  words = new std::shared_ptr<const Artifact>(
      open(tokenizerOnly(fb::TokenizerKind_Words, wordVocab, {})));
  return 0;
}

static bool isUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    char32_t c;
    size_t length = decodeUtf8(text, pos, c);
    if (length == 0)
      return false;
    pos += length;
  }
  return true;
}

static void checkOneLine(const Status &status) {
  if (status.message().find('\n') != std::string::npos)
    fail("an error is not one line");
}

/// Encodes `text`; when that works, decoding must give it back.
static void roundTrip(const Artifact &artifact, std::string_view text,
                      bool mustEncode) {
  std::vector<int32_t> tokens;
  Status status = artifact.tokenize(text, tokens);
  if (!status.ok()) {
    checkOneLine(status);
    if (mustEncode && status.message().find("PCRE2") == std::string::npos)
      fail("valid UTF-8 does not encode");
    return;
  }
  std::string decoded;
  for (int32_t token : tokens) {
    if (token < 0 || token >= artifact.vocabSize())
      fail("an id outside the vocabulary");
    std::string_view piece;
    Status decodedStatus = artifact.tokenText(token, piece);
    if (!decodedStatus.ok())
      fail("the text of an id in the vocabulary is an error");
    decoded += piece;
  }
  if (decoded != text)
    fail("decoding the ids does not give the text back");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  roundTrip(**bpe, text, isUtf8(text));
  roundTrip(**words, text, false);

  for (const std::shared_ptr<const Artifact> *artifact : {bpe, words})
    for (size_t i = 0; i + 4 <= size; i += 4) {
      int32_t id;
      std::memcpy(&id, data + i, sizeof(id));
      std::string_view piece;
      Status status = (*artifact)->tokenText(id, piece);
      if (status.ok() != (id >= 0 && id < (*artifact)->vocabSize()))
        fail("tokenText accepts an id outside the vocabulary or refuses one "
             "inside it");
      if (!status.ok())
        checkOneLine(status);
    }
  return 0;
}
