//===- Safetensors.cpp - safetensors checkpoint reader --------------------===//

#include "frontends/checkpoint/Safetensors.h"

#include "frontends/checkpoint/Messages.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>
#include <tuple>

using namespace llvm;
using namespace mlir::attn;

/// The reference implementation refuses larger headers too; it bounds the
/// memory a hostile file can make the JSON parser allocate.
static constexpr uint64_t kMaxHeaderSize = 100'000'000;

/// Size of the little-endian header size that starts the file.
static constexpr uint64_t kSizeFieldBytes = 8;

/// Renders a JSON value compactly for an error message, cut short so that a
/// hostile header cannot make the message huge.
static std::string render(const json::Value &value) {
  std::string result;
  raw_string_ostream(result) << value;
  if (result.size() > 64)
    result = result.substr(0, 60) + "...";
  return result;
}

/// Renders a shape as "[768, 2304]".
static std::string renderShape(ArrayRef<uint64_t> dims) {
  std::string result;
  raw_string_ostream os(result);
  os << '[';
  interleaveComma(dims, os);
  os << ']';
  return result;
}

/// Decodes a JSON string literal, quotes included, from the header.
static std::string decodeString(StringRef literal) {
  if (!literal.contains('\\'))
    return literal.drop_front().drop_back().str();
  // The header parsed, so each of its string literals parses on its own.
  return cantFail(json::parse(literal)).getAsString()->str();
}

namespace {
/// A key that occurs twice in one JSON object.
struct DuplicateKey {
  std::string key;
  /// The top-level key whose value holds the duplicate; empty when the
  /// duplicate is itself a top-level key.
  std::string entry;
};
} // namespace

/// Finds a key that occurs twice in one object of `text`, which must be valid
/// JSON. llvm::json keeps only the last value of a repeated key, so a file
/// naming a tensor twice would otherwise silently lose one of them.
static std::optional<DuplicateKey> findDuplicateKey(StringRef text) {
  // One key set per open object or array (arrays never get keys).
  SmallVector<StringSet<>> open;
  std::string entry;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' || c == '[') {
      open.emplace_back();
      continue;
    }
    if (c == '}' || c == ']') {
      open.pop_back();
      continue;
    }
    if (c != '"')
      continue;
    size_t end = i + 1;
    while (text[end] != '"')
      end += text[end] == '\\' ? 2 : 1;
    StringRef literal = text.slice(i, end + 1);
    i = end;
    // A string is a key iff a colon follows it.
    size_t next = text.find_first_not_of(" \t\r\n", end + 1);
    if (next == StringRef::npos || text[next] != ':')
      continue;
    std::string key = decodeString(literal);
    if (!open.back().insert(key).second)
      return DuplicateKey{key, open.size() == 1 ? std::string() : entry};
    if (open.size() == 1)
      entry = key;
  }
  return std::nullopt;
}

/// Returns the elements of `value` if it is a list of non-negative integers
/// (each fitting uint64); std::nullopt if it is missing or anything else.
static std::optional<SmallVector<uint64_t>>
getUnsignedList(const json::Value *value) {
  const json::Array *array = value ? value->getAsArray() : nullptr;
  if (!array)
    return std::nullopt;
  SmallVector<uint64_t> elements;
  for (const json::Value &element : *array) {
    std::optional<uint64_t> number = element.getAsUINT64();
    if (!number)
      return std::nullopt;
    elements.push_back(*number);
  }
  return elements;
}

namespace {
/// A validated tensor entry and its byte range in the data section.
struct Entry {
  TensorInfo info;
  uint64_t begin;
  uint64_t end;
};
} // namespace

/// Validates the header entry `value` of tensor `name` against a data section
/// of `data.size()` bytes.
static Expected<Entry> parseEntry(StringRef path, uint64_t dataStart,
                                  StringRef name,
                                  const json::Value &value,
                                  ArrayRef<uint8_t> data) {
  std::string prefix = (path + ": tensor " + quoteForMessage(name) + ": ").str();
  auto fail = [&](const Twine &message) {
    return createStringError(prefix + message);
  };
  // Reports that `field` of the entry is missing or is not `expected`.
  auto badField = [&](StringRef field, const json::Value *found,
                      const Twine &expected) {
    if (!found)
      return fail("'" + field + "' is missing");
    return fail("'" + field + "' is " + render(*found) + ", not " + expected);
  };

  const json::Object *object = value.getAsObject();
  if (!object)
    return fail("entry is " + render(value) + ", not an object");

  const json::Value *dtypeValue = object->get("dtype");
  std::optional<StringRef> dtypeName =
      dtypeValue ? dtypeValue->getAsString() : std::nullopt;
  if (!dtypeName)
    return badField("dtype", dtypeValue, "a string");
  std::optional<DType> dtype = parseDType(*dtypeName);
  if (!dtype)
    return fail("unknown dtype " + quoteForMessage(*dtypeName));

  // Dimensions are read as uint64 so that one beyond int64 is reported as an
  // overflow rather than as a malformed shape.
  const json::Value *shapeValue = object->get("shape");
  std::optional<SmallVector<uint64_t>> dims = getUnsignedList(shapeValue);
  if (!dims)
    return badField("shape", shapeValue, "a list of non-negative integers");

  // The importer indexes tensors with int64, so counts must fit in it.
  int64_t numElements = 1;
  SmallVector<int64_t> shape;
  for (uint64_t dim : *dims) {
    if (dim > uint64_t(std::numeric_limits<int64_t>::max()) ||
        MulOverflow(numElements, int64_t(dim), numElements))
      return fail("element count of shape " + renderShape(*dims) +
                  " overflows int64");
    shape.push_back(int64_t(dim));
  }
  int64_t numBytes;
  if (MulOverflow(numElements, int64_t(getDTypeSize(*dtype)), numBytes))
    return fail("byte count of shape " + renderShape(*dims) + " of " +
                getDTypeName(*dtype) + " overflows int64");

  const json::Value *offsetsValue = object->get("data_offsets");
  std::optional<SmallVector<uint64_t>> offsets = getUnsignedList(offsetsValue);
  if (!offsets || offsets->size() != 2)
    return badField("data_offsets", offsetsValue,
                    "a list of two non-negative integers");
  uint64_t begin = (*offsets)[0], end = (*offsets)[1];
  std::string range = renderByteRange(begin, end);
  if (begin > end)
    return fail("data_offsets " + range + " have begin > end");
  if (end - begin != uint64_t(numBytes))
    return fail("data_offsets " + range + " hold " + Twine(end - begin) +
                " bytes but shape " + renderShape(*dims) + " of " +
                getDTypeName(*dtype) + " needs " + Twine(numBytes));
  if (end > data.size())
    return fail("data_offsets " + range + " end beyond the data section of " +
                Twine(data.size()) + " bytes (truncated file?)");

  TensorInfo info{name.str(), *dtype, std::move(shape),
                  data.slice(begin, end - begin), dataStart + begin};
  return Entry{std::move(info), begin, end};
}

/// Validates `__metadata__`, an object mapping strings to strings.
static Expected<std::map<std::string, std::string>>
parseMetadata(StringRef path, const json::Value &value) {
  const json::Object *object = value.getAsObject();
  if (!object)
    return createStringError(path + ": __metadata__ is " + render(value) +
                             ", not an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto &[key, item] : *object) {
    std::optional<StringRef> text = item.getAsString();
    if (!text)
      return createStringError(path + ": __metadata__ value of " + quoteForMessage(key) +
                               " is " + render(item) + ", not a string");
    metadata.emplace(key.str(), text->str());
  }
  return metadata;
}

SafetensorsCheckpoint::SafetensorsCheckpoint(
    std::unique_ptr<MemoryBuffer> buffer, std::vector<TensorInfo> tensorList,
    std::map<std::string, std::string> metadataMap)
    : buffer(std::move(buffer)), tensorList(std::move(tensorList)),
      metadataMap(std::move(metadataMap)) {
  for (auto [i, tensor] : enumerate(this->tensorList))
    index[tensor.name] = i;
}

Expected<std::unique_ptr<SafetensorsCheckpoint>>
SafetensorsCheckpoint::open(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = mapCheckpointFile(path);
  if (!buffer)
    return buffer.takeError();
  return create(std::move(*buffer));
}

Expected<std::unique_ptr<SafetensorsCheckpoint>>
SafetensorsCheckpoint::create(std::unique_ptr<MemoryBuffer> buffer) {
  StringRef path = buffer->getBufferIdentifier();
  StringRef file = buffer->getBuffer();
  auto fail = [&](const Twine &message) {
    return createStringError(path + ": " + message);
  };

  if (file.size() < kSizeFieldBytes)
    return fail("file has " + Twine(file.size()) +
                " bytes, fewer than the 8-byte header size");
  uint64_t headerSize = support::endian::read64le(file.data());
  uint64_t afterSizeField = file.size() - kSizeFieldBytes;
  if (headerSize > kMaxHeaderSize)
    return fail("header size " + Twine(headerSize) + " exceeds the limit of " +
                Twine(kMaxHeaderSize) + " bytes");
  if (headerSize > afterSizeField)
    return fail("header size " + Twine(headerSize) + " exceeds the " +
                Twine(afterSizeField) +
                " bytes after the size field (truncated file?)");

  StringRef headerText = file.substr(kSizeFieldBytes, headerSize);
  Expected<json::Value> header = json::parse(headerText);
  if (!header)
    return fail("header is not valid JSON: " + toString(header.takeError()));
  const json::Object *root = header->getAsObject();
  if (!root)
    return fail("header is not a JSON object");
  if (std::optional<DuplicateKey> duplicate = findDuplicateKey(headerText)) {
    if (duplicate->entry.empty())
      return fail("tensor name " + quoteForMessage(duplicate->key) +
                  " occurs more than once");
    std::string where = duplicate->entry == "__metadata__"
                            ? duplicate->entry
                            : "tensor " + quoteForMessage(duplicate->entry);
    return fail(where + ": key " + quoteForMessage(duplicate->key) +
                " occurs more than once");
  }

  StringRef dataText = file.substr(kSizeFieldBytes + headerSize);
  ArrayRef<uint8_t> data(dataText.bytes_begin(), dataText.size());

  // Validate in name order, so that a file with several problems always
  // reports the same one (json::Object iterates in hash order).
  SmallVector<StringRef> names;
  for (const auto &item : *root)
    names.push_back(item.first);
  sort(names);

  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;
  for (StringRef name : names) {
    const json::Value &value = *root->get(name);
    if (name == "__metadata__") {
      Expected<std::map<std::string, std::string>> parsed =
          parseMetadata(path, value);
      if (!parsed)
        return parsed.takeError();
      metadata = std::move(*parsed);
      continue;
    }
    Expected<Entry> entry =
        parseEntry(path, kSizeFieldBytes + headerSize, name, value, data);
    if (!entry)
      return entry.takeError();
    entries.push_back(std::move(*entry));
  }

  sort(entries, [](const Entry &a, const Entry &b) {
    return std::tie(a.begin, a.end, a.info.name) <
           std::tie(b.begin, b.end, b.info.name);
  });
  // Sorted by begin, a non-empty range overlaps an earlier one iff it starts
  // before the end of the previous non-empty range.
  const Entry *previous = nullptr;
  for (const Entry &entry : entries) {
    if (entry.begin == entry.end)
      continue;
    if (previous && entry.begin < previous->end)
      return fail("tensors " + quoteForMessage(previous->info.name) + " " +
                  renderByteRange(previous->begin, previous->end) + " and " +
                  quoteForMessage(entry.info.name) + " " +
                  renderByteRange(entry.begin, entry.end) + " overlap");
    previous = &entry;
  }

  std::vector<TensorInfo> tensors;
  tensors.reserve(entries.size());
  for (Entry &entry : entries)
    tensors.push_back(std::move(entry.info));
  return std::unique_ptr<SafetensorsCheckpoint>(new SafetensorsCheckpoint(
      std::move(buffer), std::move(tensors), std::move(metadata)));
}

const TensorInfo *SafetensorsCheckpoint::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensorList[it->second];
}
