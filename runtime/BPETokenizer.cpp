//===- BPETokenizer.cpp - GPT-2's byte-level BPE --------------------------===//

#include "runtime/BPETokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <climits>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>

namespace attn::runtime {
namespace {

/// GPT-2's pre-tokenization pattern, as in OpenAI's encoder.py.
constexpr const char *kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// Frees PCRE2 match data, for std::unique_ptr.
struct MatchDataDeleter {
  void operator()(pcre2_match_data *match) const {
    pcre2_match_data_free(match);
  }
};

/// Appends code point `c` to `out` as UTF-8.
void appendUtf8(char32_t c, std::string &out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

/// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest
/// for 256 + n, so that every byte has a visible, non-space character.
std::array<char32_t, 256> bytesToUnicode() {
  std::array<char32_t, 256> table{};
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b)
    printable[b] = true;
  for (int b = 0xa1; b <= 0xac; ++b)
    printable[b] = true;
  for (int b = 0xae; b <= 0xff; ++b)
    printable[b] = true;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b)
    table[b] = printable[b] ? static_cast<char32_t>(b) : next++;
  return table;
}

struct PairHash {
  size_t operator()(const std::pair<int32_t, int32_t> &p) const {
    return std::hash<uint64_t>()((uint64_t(uint32_t(p.first)) << 32) |
                                 uint32_t(p.second));
  }
};

/// Symbols are ids into `symbols_`: every byte character, every merge
/// result and every vocabulary string.
class ByteLevelBPETokenizer final : public Tokenizer {
public:
  ~ByteLevelBPETokenizer() override {
    if (code_)
      pcre2_code_free(code_);
  }

  Status init(const artifact::Tokenizer &description);

  Status encode(std::string_view text,
                std::vector<int32_t> &tokens) const override;

  std::string_view decode(int32_t id) const override { return bytes_[id]; }

private:
  int32_t intern(const std::string &symbol);
  Status encodePiece(std::string_view piece,
                     std::vector<int32_t> &tokens) const;

  pcre2_code *code_ = nullptr;
  std::array<int32_t, 256> byteSymbol_{};
  std::vector<std::string> symbols_;
  std::unordered_map<std::string, int32_t> symbolIds_;
  /// Merge (left, right) -> (rank, merged symbol).
  std::unordered_map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>,
                     PairHash>
      merges_;
  /// Symbol -> token id, -1 when the vocabulary lacks it.
  std::vector<int32_t> tokenOf_;
  /// Token id -> its bytes.
  std::vector<std::string> bytes_;
};

int32_t ByteLevelBPETokenizer::intern(const std::string &symbol) {
  auto [it, inserted] =
      symbolIds_.emplace(symbol, static_cast<int32_t>(symbols_.size()));
  if (inserted) {
    symbols_.push_back(symbol);
    tokenOf_.push_back(-1);
  }
  return it->second;
}

Status ByteLevelBPETokenizer::init(const artifact::Tokenizer &description) {
  std::array<char32_t, 256> table = bytesToUnicode();
  std::unordered_map<char32_t, unsigned char> byteOf;
  for (int b = 0; b < 256; ++b) {
    std::string c;
    appendUtf8(table[b], c);
    byteSymbol_[b] = intern(c);
    byteOf[table[b]] = static_cast<unsigned char>(b);
  }

  const auto &vocab = *description.vocab();
  bytes_.resize(vocab.size());
  for (flatbuffers::uoffset_t id = 0; id < vocab.size(); ++id) {
    std::string_view token = vocab.Get(id)->string_view();
    int32_t symbol = intern(std::string(token));
    if (tokenOf_[symbol] < 0)
      tokenOf_[symbol] = static_cast<int32_t>(id);
    // Back to bytes; a character outside the byte table stands for itself.
    std::string &bytes = bytes_[id];
    for (size_t pos = 0; pos < token.size();) {
      char32_t c;
      size_t length = decodeUtf8(token, pos, c);
      if (length == 0)
        return makeError(StatusCode::InvalidArtifact,
                         "vocabulary entry %u is not valid UTF-8", id);
      auto it = byteOf.find(c);
      if (it != byteOf.end())
        bytes += static_cast<char>(it->second);
      else
        bytes.append(token.substr(pos, length));
      pos += length;
    }
  }

  if (const auto *merges = description.merges()) {
    for (flatbuffers::uoffset_t rank = 0; rank < merges->size(); ++rank) {
      std::string_view merge = merges->Get(rank)->string_view();
      size_t space = merge.find(' ');
      if (space == std::string_view::npos || space == 0 ||
          space + 1 == merge.size())
        return makeError(StatusCode::InvalidArtifact,
                         "merge %u is not \"a b\"", rank);
      std::string left(merge.substr(0, space)), right(merge.substr(space + 1));
      int32_t l = intern(left), r = intern(right);
      int32_t merged = intern(left + right);
      // The first (lowest) rank of a pair listed twice wins.
      merges_.emplace(std::make_pair(l, r),
                      std::make_pair(static_cast<int32_t>(rank), merged));
    }
  }

  int error;
  PCRE2_SIZE offset;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern),
                        PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &error,
                        &offset, nullptr);
  if (!code_)
    return makeError(StatusCode::Unsupported,
                     "PCRE2 cannot compile GPT-2's pattern (error %d)", error);
  return Status();
}

Status ByteLevelBPETokenizer::encodePiece(std::string_view piece,
                                          std::vector<int32_t> &tokens) const {
  // Each round merges every occurrence of the lowest-ranked adjacent pair,
  // left to right and without overlap, until no pair has a rank (OpenAI's
  // algorithm). The symbols are a linked list (a merge keeps its left node)
  // and a min-heap of (rank, left node) finds each round's pairs, so a piece
  // of n bytes costs O(n log n) rather than a rescan of the word per round:
  // a prompt that is one long run of letters must not take hours.
  if (piece.size() > static_cast<size_t>(INT32_MAX))
    return makeError(StatusCode::InvalidArgument,
                     "a piece of the text is %zu bytes long, more than %d",
                     piece.size(), INT32_MAX);
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<int32_t> symbol(n), prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    symbol[i] = byteSymbol_[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // The merge of node `left` with its successor, or null. A merged-away
  // node has symbol -1.
  auto mergeAt = [&](int32_t left) -> const std::pair<int32_t, int32_t> * {
    if (left < 0 || symbol[left] < 0 || next[left] < 0)
      return nullptr;
    auto it = merges_.find({symbol[left], symbol[next[left]]});
    return it == merges_.end() ? nullptr : &it->second;
  };
  using Entry = std::pair<int32_t, int32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  auto push = [&](int32_t left) {
    if (const auto *merge = mergeAt(left))
      heap.push({merge->first, left});
  };
  for (int32_t i = 0; i + 1 < n; ++i)
    push(i);
  std::vector<int32_t> round, merged;
  while (!heap.empty()) {
    // One pair has this rank; its entries come out leftmost first. Stale
    // entries (a node merged away or changed since) are skipped.
    int32_t rank = heap.top().first;
    round.clear();
    while (!heap.empty() && heap.top().first == rank) {
      round.push_back(heap.top().second);
      heap.pop();
    }
    merged.clear();
    for (int32_t left : round) {
      const auto *merge = mergeAt(left);
      if (!merge || merge->first != rank)
        continue;
      int32_t right = next[left];
      symbol[left] = merge->second;
      symbol[right] = -1;
      next[left] = next[right];
      if (next[right] >= 0)
        prev[next[right]] = left;
      merged.push_back(left);
    }
    // A merge never makes a pair of its own rank, so the new pairs wait for
    // the next rounds.
    for (int32_t left : merged) {
      push(prev[left]);
      push(left);
    }
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
    int32_t token = tokenOf_[symbol[i]];
    if (token < 0)
      return makeError(StatusCode::InvalidArgument,
                       "the piece '%s' of the text has no token in the "
                       "vocabulary",
                       symbols_[symbol[i]].c_str());
    tokens.push_back(token);
  }
  return Status();
}

Status ByteLevelBPETokenizer::encode(std::string_view text,
                                     std::vector<int32_t> &tokens) const {
  for (size_t pos = 0; pos < text.size();) {
    char32_t c;
    size_t length = decodeUtf8(text, pos, c);
    if (length == 0)
      return makeError(StatusCode::InvalidArgument,
                       "the text is not valid UTF-8 at byte %zu", pos);
    pos += length;
  }
  // Owned by a unique_ptr: encodePiece and the vector of tokens may throw
  // std::bad_alloc, which the C API turns into an error, and the match data
  // must not leak then.
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create_from_pattern(code_, nullptr));
  if (!match)
    return makeError(StatusCode::ResourceExhausted,
                     "cannot allocate PCRE2 match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  Status status;
  for (PCRE2_SIZE start = 0; start < text.size();) {
    int rc = pcre2_match(code_, subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                         match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0) {
      status = makeError(StatusCode::InvalidArgument,
                         "pre-tokenizing the text failed (PCRE2 error %d)", rc);
      break;
    }
    PCRE2_SIZE *range = pcre2_get_ovector_pointer(match.get());
    if (range[1] == range[0]) {
      // The pattern cannot match empty text, but never loop on it.
      ++start;
      continue;
    }
    status = encodePiece(text.substr(range[0], range[1] - range[0]), tokens);
    if (!status.ok())
      break;
    start = range[1];
  }
  return status;
}

} // namespace

Status createByteLevelBPETokenizer(const artifact::Tokenizer &description,
                                   std::unique_ptr<Tokenizer> &out) {
  auto tokenizer = std::make_unique<ByteLevelBPETokenizer>();
  if (Status status = tokenizer->init(description); !status.ok())
    return status;
  out = std::move(tokenizer);
  return Status();
}

} // namespace attn::runtime
