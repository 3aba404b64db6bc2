//===- Safetensors.cpp - Binding weights from a safetensors file ----------===//

#include "runtime/Safetensors.h"

#include <cstdio>
#include <cstring>

namespace attn::runtime {

/// The reference implementation's limit too; it bounds what a hostile header
/// can make the parser allocate.
static constexpr uint64_t kMaxHeaderSize = 100'000'000;

/// Nesting deeper than this in `__metadata__` or unknown fields is refused
/// rather than recursed into.
static constexpr int kMaxDepth = 64;

/// "[768, 2304]".
template <typename Dim>
static std::string formatShape(const std::vector<Dim> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

namespace {

/// A recursive-descent parser for the header's JSON (RFC 8259), which reads
/// the tensor entries and skips everything else. Errors are one line.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  Status parse(std::unordered_map<std::string, SafetensorsFile::Entry> &out) {
    skipSpace();
    ATTN_RETURN_IF_ERROR(expect('{'));
    if (!consume('}')) {
      do {
        std::string name;
        ATTN_RETURN_IF_ERROR(parseString(name));
        ATTN_RETURN_IF_ERROR(expect(':'));
        if (name == "__metadata__") {
          ATTN_RETURN_IF_ERROR(skipValue(1));
          continue;
        }
        SafetensorsFile::Entry entry;
        ATTN_RETURN_IF_ERROR(parseEntry(name, entry));
        if (!out.emplace(name, std::move(entry)).second)
          return makeError(StatusCode::InvalidArgument,
                           "tensor '%s' occurs more than once in the header",
                           name.c_str());
      } while (consume(','));
      ATTN_RETURN_IF_ERROR(expect('}'));
    }
    if (pos_ != text_.size())
      return syntaxError("text after the header's object");
    return Status();
  }

private:
  Status syntaxError(const char *what) const {
    return makeError(StatusCode::InvalidArgument,
                     "not a safetensors file: the header is not valid JSON "
                     "(%s at byte %zu)",
                     what, pos_);
  }

  void skipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r'))
      ++pos_;
  }

  /// Consumes `c` (and the space after it) if it is next.
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      skipSpace();
      return true;
    }
    return false;
  }

  Status expect(char c) {
    if (consume(c))
      return Status();
    char what[32];
    std::snprintf(what, sizeof(what), "'%c' expected", c);
    return syntaxError(what);
  }

  /// Appends code point `cp` to `out` as UTF-8.
  static void appendUtf8(uint32_t cp, std::string &out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  /// Reads the 4 hex digits of a \u escape.
  bool parseHex4(uint32_t &out) {
    if (text_.size() - pos_ < 4)
      return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (digit < 0)
        return false;
      out = out * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  }

  Status parseString(std::string &out) {
    if (pos_ >= text_.size() || text_[pos_] != '"')
      return syntaxError("a string expected");
    ++pos_;
    for (;;) {
      if (pos_ >= text_.size())
        return syntaxError("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"')
        break;
      if (c < 0x20)
        return syntaxError("control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= text_.size())
        return syntaxError("unterminated string");
      char escape = text_[pos_++];
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!parseHex4(cp))
          return syntaxError("bad \\u escape");
        // A high surrogate must pair with a low one; lone ones are kept
        // as U+FFFD so that names stay valid UTF-8.
        if (cp >= 0xd800 && cp < 0xdc00 && text_.substr(pos_, 2) == "\\u") {
          size_t mark = pos_;
          pos_ += 2;
          uint32_t low;
          if (parseHex4(low) && low >= 0xdc00 && low < 0xe000)
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          else
            pos_ = mark;
        }
        appendUtf8(cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp, out);
        break;
      }
      default:
        return syntaxError("bad escape in a string");
      }
    }
    skipSpace();
    return Status();
  }

  /// A JSON number; `isUnsigned` tells whether it is a non-negative integer
  /// that fits uint64 (then in `value`).
  Status parseNumber(bool &isUnsigned, uint64_t &value) {
    size_t start = pos_;
    bool negative = pos_ < text_.size() && text_[pos_] == '-';
    if (negative)
      ++pos_;
    auto digits = [&] {
      size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
        ++pos_;
      return pos_ - first;
    };
    // Errors point at the number's first character.
    auto bad = [&] {
      pos_ = start;
      return syntaxError("bad number");
    };
    size_t integerStart = pos_;
    size_t integerDigits = digits();
    if (integerDigits == 0 || (integerDigits > 1 && text_[integerStart] == '0'))
      return bad();
    isUnsigned = !negative;
    value = 0;
    for (size_t i = integerStart; isUnsigned && i < pos_; ++i)
      isUnsigned = !__builtin_mul_overflow(value, 10, &value) &&
                   !__builtin_add_overflow(
                       value, static_cast<uint64_t>(text_[i] - '0'), &value);
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      isUnsigned = false;
      if (digits() == 0)
        return bad();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      isUnsigned = false;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
        ++pos_;
      if (digits() == 0)
        return bad();
    }
    skipSpace();
    return Status();
  }

  Status skipValue(int depth) {
    if (depth > kMaxDepth)
      return syntaxError("nesting too deep");
    if (pos_ >= text_.size())
      return syntaxError("a value expected");
    char c = text_[pos_];
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      consume(c);
      if (consume(close))
        return Status();
      do {
        if (c == '{') {
          std::string key;
          ATTN_RETURN_IF_ERROR(parseString(key));
          ATTN_RETURN_IF_ERROR(expect(':'));
        }
        ATTN_RETURN_IF_ERROR(skipValue(depth + 1));
      } while (consume(','));
      return expect(close);
    }
    if (c == '"') {
      std::string ignored;
      return parseString(ignored);
    }
    for (const char *word : {"true", "false", "null"})
      if (text_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        skipSpace();
        return Status();
      }
    bool isUnsigned;
    uint64_t value;
    return parseNumber(isUnsigned, value);
  }

  /// A list of non-negative integers; `field` and `name` for the message.
  Status parseUnsignedList(const std::string &name, const char *field,
                           std::vector<uint64_t> &out) {
    Status bad = makeError(StatusCode::InvalidArgument,
                           "tensor '%s': '%s' is not a list of non-negative "
                           "integers",
                           name.c_str(), field);
    if (!consume('['))
      return bad;
    if (consume(']'))
      return Status();
    do {
      bool isUnsigned;
      uint64_t value;
      ATTN_RETURN_IF_ERROR(parseNumber(isUnsigned, value));
      if (!isUnsigned)
        return bad;
      out.push_back(value);
    } while (consume(','));
    return expect(']');
  }

  Status parseEntry(const std::string &name, SafetensorsFile::Entry &entry) {
    if (!consume('{'))
      return makeError(StatusCode::InvalidArgument,
                       "tensor '%s': its entry is not an object",
                       name.c_str());
    bool dtype = false, shape = false, offsets = false;
    if (!consume('}')) {
      do {
        std::string key;
        ATTN_RETURN_IF_ERROR(parseString(key));
        ATTN_RETURN_IF_ERROR(expect(':'));
        if (key == "dtype") {
          if (pos_ >= text_.size() || text_[pos_] != '"')
            return makeError(StatusCode::InvalidArgument,
                             "tensor '%s': 'dtype' is not a string",
                             name.c_str());
          ATTN_RETURN_IF_ERROR(parseString(entry.dtype));
          dtype = true;
        } else if (key == "shape") {
          ATTN_RETURN_IF_ERROR(parseUnsignedList(name, "shape", entry.shape));
          shape = true;
        } else if (key == "data_offsets") {
          std::vector<uint64_t> range;
          ATTN_RETURN_IF_ERROR(
              parseUnsignedList(name, "data_offsets", range));
          if (range.size() != 2 || range[0] > range[1])
            return makeError(StatusCode::InvalidArgument,
                             "tensor '%s': 'data_offsets' is not [begin, "
                             "end] with begin <= end",
                             name.c_str());
          entry.begin = range[0];
          entry.end = range[1];
          offsets = true;
        } else {
          ATTN_RETURN_IF_ERROR(skipValue(2));
        }
      } while (consume(','));
      ATTN_RETURN_IF_ERROR(expect('}'));
    }
    const char *missing = !dtype     ? "dtype"
                          : !shape   ? "shape"
                          : !offsets ? "data_offsets"
                                     : nullptr;
    if (missing)
      return makeError(StatusCode::InvalidArgument,
                       "tensor '%s': '%s' is missing", name.c_str(), missing);
    return Status();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

} // namespace

Status SafetensorsFile::open(const std::string &path,
                             std::unique_ptr<SafetensorsFile> &out) {
  Mapping file;
  ATTN_RETURN_IF_ERROR(Mapping::mapFile(path, file));
  std::unique_ptr<SafetensorsFile> parsed;
  ATTN_RETURN_IF_ERROR(parse(file.data(), file.size(), parsed));
  parsed->file_ = std::move(file);
  out = std::move(parsed);
  return Status();
}

Status SafetensorsFile::parse(const std::byte *bytes, size_t size,
                              std::unique_ptr<SafetensorsFile> &out) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  // A repository cloned without git-lfs has small text pointers in place of
  // its weights, whose first bytes read as an absurd header size.
  constexpr std::string_view lfsPointer = "version https://git-lfs";
  if (size >= lfsPointer.size() &&
      std::memcmp(bytes, lfsPointer.data(), lfsPointer.size()) == 0)
    return makeError(StatusCode::InvalidArgument,
                     "a Git LFS pointer, not the weights (run git lfs pull)");
  if (size < 8)
    return makeError(StatusCode::InvalidArgument,
                     "not a safetensors file: it has %zu bytes, fewer than "
                     "the 8-byte header size",
                     size);
  uint64_t headerSize = 0;
  for (size_t i = 0; i < 8; ++i)
    headerSize |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  if (headerSize > kMaxHeaderSize)
    return makeError(StatusCode::InvalidArgument,
                     "not a safetensors file: the header size %llu exceeds "
                     "the limit of %llu bytes",
                     (unsigned long long)headerSize,
                     (unsigned long long)kMaxHeaderSize);
  if (headerSize > size - 8)
    return makeError(StatusCode::InvalidArgument,
                     "the header size %llu exceeds the %zu bytes after the "
                     "size field (truncated file?)",
                     (unsigned long long)headerSize, size - 8);
  std::string_view header(reinterpret_cast<const char *>(bytes) + 8,
                          headerSize);
  // Tensor names in messages come from the file.
  ATTN_RETURN_IF_ERROR(escapeControlCharacters(
      HeaderParser(header).parse(file->entries_)));
  file->data_ = bytes + 8 + headerSize;
  file->dataSize_ = size - 8 - headerSize;
  out = std::move(file);
  return Status();
}

const SafetensorsFile::Entry *SafetensorsFile::find(std::string_view name) const {
  auto it = entries_.find(std::string(name));
  return it == entries_.end() ? nullptr : &it->second;
}

/// The format's name of `dtype`.
static const char *safetensorsDTypeName(artifact::DType dtype) {
  switch (dtype) {
  case artifact::DType_f32:
    return "F32";
  case artifact::DType_f16:
    return "F16";
  case artifact::DType_bf16:
    return "BF16";
  case artifact::DType_i32:
    return "I32";
  case artifact::DType_i64:
    return "I64";
  }
  return "unknown";
}

Status SafetensorsFile::bind(std::string_view name, artifact::DType type,
                             const std::vector<int64_t> &shape,
                             const std::byte *&data) const {
  // The name and the file's dtype string may hold control characters.
  return escapeControlCharacters(bindUnescaped(name, type, shape, data));
}

Status SafetensorsFile::bindUnescaped(std::string_view name,
                                      artifact::DType type,
                                      const std::vector<int64_t> &shape,
                                      const std::byte *&data) const {
  const char *dtype = safetensorsDTypeName(type);
  size_t elementSize = dtypeSize(type);
  std::string label = "tensor '" + std::string(name) + "'";
  const Entry *entry = find(name);
  if (!entry)
    return makeError(StatusCode::InvalidArgument,
                     "%s is missing (the artifact needs %s %s)",
                     label.c_str(), dtype, formatShape(shape).c_str());
  if (entry->dtype != dtype)
    return makeError(StatusCode::InvalidArgument,
                     "%s is %s, expected %s", label.c_str(),
                     entry->dtype.c_str(), dtype);
  bool same = entry->shape.size() == shape.size();
  for (size_t i = 0; same && i < shape.size(); ++i)
    same = entry->shape[i] == static_cast<uint64_t>(shape[i]);
  if (!same)
    return makeError(StatusCode::InvalidArgument,
                     "%s has shape %s, expected %s", label.c_str(),
                     formatShape(entry->shape).c_str(),
                     formatShape(shape).c_str());
  // The caller checked that this product does not overflow.
  uint64_t bytes = elementSize;
  for (int64_t dim : shape)
    bytes *= static_cast<uint64_t>(dim);
  if (entry->end - entry->begin != bytes)
    return makeError(StatusCode::InvalidArgument,
                     "%s: data_offsets [%llu, %llu) hold %llu bytes, but %s "
                     "%s needs %llu",
                     label.c_str(), (unsigned long long)entry->begin,
                     (unsigned long long)entry->end,
                     (unsigned long long)(entry->end - entry->begin), dtype,
                     formatShape(shape).c_str(), (unsigned long long)bytes);
  if (entry->end > dataSize_)
    return makeError(StatusCode::InvalidArgument,
                     "%s: data_offsets [%llu, %llu) end beyond the data "
                     "section of %zu bytes (truncated file?)",
                     label.c_str(), (unsigned long long)entry->begin,
                     (unsigned long long)entry->end, dataSize_);
  data = data_ + entry->begin;
  // Kernels load whole elements; the format only promises byte offsets.
  if (reinterpret_cast<uintptr_t>(data) % elementSize != 0)
    return makeError(StatusCode::InvalidArgument,
                     "%s: its data is not aligned to its %zu-byte elements",
                     label.c_str(), elementSize);
  return Status();
}

} // namespace attn::runtime
