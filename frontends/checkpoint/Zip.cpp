//===- Zip.cpp - reader of stored zip archives ----------------------------===//

#include "frontends/checkpoint/Zip.h"

#include "frontends/checkpoint/Messages.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CRC.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <tuple>

using namespace llvm;
using namespace mlir::attn;

// Record signatures and fixed sizes (APPNOTE.TXT 4.3).
static constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
static constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
static constexpr uint32_t kEndSignature = 0x06054b50;
static constexpr uint32_t kZip64EndSignature = 0x06064b50;
static constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
static constexpr uint32_t kDataDescriptorSignature = 0x08074b50;
static constexpr uint64_t kLocalHeaderSize = 30;
static constexpr uint64_t kCentralHeaderSize = 46;
static constexpr uint64_t kEndSize = 22;
static constexpr uint64_t kZip64EndSize = 56;
static constexpr uint64_t kZip64LocatorSize = 20;
/// The longest comment a 16-bit length allows.
static constexpr uint64_t kMaxCommentSize = 0xffff;
/// Header ID of the ZIP64 extended information extra field.
static constexpr uint16_t kZip64ExtraId = 0x0001;

// General purpose flags. Bits 1 and 2 only tune deflate and mean nothing for
// a stored entry; bit 3 moves the CRC and sizes to a data descriptor; bit 11
// says the name is UTF-8. Every other bit (encryption, patch data, masked
// headers, ...) is refused.
static constexpr uint16_t kFlagEncrypted = 0x0001;
static constexpr uint16_t kFlagDataDescriptor = 0x0008;
static constexpr uint16_t kAllowedFlags = 0x0002 | 0x0004 | 0x0008 | 0x0800;

/// A 16-bit or 32-bit field holding this value is in the ZIP64 record or
/// extra field instead.
static constexpr uint16_t kSaturated16 = 0xffff;
static constexpr uint32_t kSaturated32 = 0xffffffff;

/// Returns whether [offset, offset + size) lies within [0, limit).
static bool fits(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

static uint16_t read16(StringRef file, uint64_t offset) {
  return support::endian::read16le(file.data() + offset);
}
static uint32_t read32(StringRef file, uint64_t offset) {
  return support::endian::read32le(file.data() + offset);
}
static uint64_t read64(StringRef file, uint64_t offset) {
  return support::endian::read64le(file.data() + offset);
}

/// Says why `name` is not a safe relative path inside the archive, or
/// std::nullopt if it is. A trailing slash (a directory entry) is allowed.
static std::optional<StringRef> checkName(StringRef name) {
  if (name.empty())
    return StringRef("an empty name");
  if (name.contains('\0'))
    return StringRef("a NUL byte");
  if (name.contains('\\'))
    return StringRef("a backslash");
  if (name.starts_with("/"))
    return StringRef("an absolute path");
  if (name.size() >= 2 && isAlpha(name[0]) && name[1] == ':')
    return StringRef("a drive letter");
  StringRef rest = name.ends_with("/") ? name.drop_back() : name;
  SmallVector<StringRef> components;
  rest.split(components, '/');
  for (StringRef component : components) {
    if (component == "..")
      return StringRef("a '..' component");
    if (component == ".")
      return StringRef("a '.' component");
    if (component.empty())
      return StringRef("an empty component");
  }
  return std::nullopt;
}

/// Returns the data of the extra field block `id` in `extra`, std::nullopt if
/// there is none, or an error if the blocks do not tile `extra` exactly.
static Expected<std::optional<StringRef>> findExtra(StringRef extra,
                                                    uint16_t id) {
  std::optional<StringRef> found;
  while (!extra.empty()) {
    if (extra.size() < 4)
      return createStringError("extra field ends in a truncated block");
    uint16_t blockId = read16(extra, 0);
    uint16_t size = read16(extra, 2);
    if (size > extra.size() - 4)
      return createStringError("extra field block 0x" + utohexstr(blockId) +
                               " of " + Twine(size) +
                               " bytes overruns the extra field");
    if (blockId == id) {
      if (found)
        return createStringError("extra field block 0x" + utohexstr(id) +
                                 " occurs more than once");
      found = extra.substr(4, size);
    }
    extra = extra.drop_front(4 + size);
  }
  return found;
}

namespace {
/// The sizes and offset of an entry, with ZIP64 values substituted.
struct Sizes {
  uint64_t compressed;
  uint64_t uncompressed;
  uint64_t offset;
  uint32_t disk;
  /// Whether a ZIP64 extra field supplied any of them.
  bool zip64;
};
} // namespace

/// Replaces the saturated fields of `sizes` by the values of the ZIP64 extra
/// block in `extra`, in the order the format prescribes (size, compressed
/// size, offset, disk). `hasOffset` is false for a local header, which has
/// neither offset nor disk.
static Error applyZip64(StringRef extra, Sizes &sizes, bool hasOffset) {
  Expected<std::optional<StringRef>> block = findExtra(extra, kZip64ExtraId);
  if (!block)
    return block.takeError();
  if (!*block)
    return Error::success();
  sizes.zip64 = true;
  StringRef data = **block;
  auto take64 = [&](uint64_t &field) -> Error {
    if (data.size() < 8)
      return createStringError("ZIP64 extra field is too short");
    field = read64(data, 0);
    data = data.drop_front(8);
    return Error::success();
  };
  if (sizes.uncompressed == kSaturated32)
    if (Error error = take64(sizes.uncompressed))
      return error;
  if (sizes.compressed == kSaturated32)
    if (Error error = take64(sizes.compressed))
      return error;
  if (hasOffset && sizes.offset == kSaturated32)
    if (Error error = take64(sizes.offset))
      return error;
  if (hasOffset && sizes.disk == kSaturated16) {
    if (data.size() < 4)
      return createStringError("ZIP64 extra field is too short");
    sizes.disk = read32(data, 0);
  }
  return Error::success();
}

namespace {
/// The validated bounds of one entry's record, for the overlap check.
struct Record {
  uint64_t begin;
  uint64_t end;
  size_t entry;
};
} // namespace

Expected<ZipArchive> ZipArchive::read(StringRef path, StringRef file) {
  auto fail = [&](const Twine &message) {
    return createStringError(path + ": " + message);
  };
  uint64_t fileSize = file.size();

  // The end of central directory record is the last thing in the file but
  // for its comment, whose length it gives.
  if (fileSize < kEndSize)
    return fail("not a zip archive: " + Twine(fileSize) +
                " bytes, fewer than an end of central directory record");
  std::optional<uint64_t> end;
  uint64_t lowest = fileSize - kEndSize > kMaxCommentSize
                        ? fileSize - kEndSize - kMaxCommentSize
                        : 0;
  for (uint64_t at = fileSize - kEndSize;; --at) {
    if (read32(file, at) == kEndSignature &&
        at + kEndSize + read16(file, at + 20) == fileSize) {
      end = at;
      break;
    }
    if (at == lowest)
      break;
  }
  if (!end)
    return fail("not a zip archive: no end of central directory record "
                "(truncated file?)");

  uint64_t disk = read16(file, *end + 4);
  uint64_t directoryDisk = read16(file, *end + 6);
  uint64_t entriesOnDisk = read16(file, *end + 8);
  uint64_t entryCount = read16(file, *end + 10);
  uint64_t directorySize = read32(file, *end + 12);
  uint64_t directoryOffset = read32(file, *end + 16);
  // Where the central directory must end: the ZIP64 record or the end record.
  uint64_t directoryLimit = *end;

  if (*end >= kZip64LocatorSize &&
      read32(file, *end - kZip64LocatorSize) == kZip64LocatorSignature) {
    uint64_t locator = *end - kZip64LocatorSize;
    uint32_t recordDisk = read32(file, locator + 4);
    uint64_t record = read64(file, locator + 8);
    uint32_t diskCount = read32(file, locator + 16);
    if (recordDisk != 0 || diskCount > 1)
      return fail("multi-disk zip archives are not supported");
    if (!fits(record, kZip64EndSize, locator) ||
        read32(file, record) != kZip64EndSignature)
      return fail("ZIP64 locator points at offset " + Twine(record) +
                  ", where there is no ZIP64 end of central directory record");
    uint64_t recordSize = read64(file, record + 4);
    if (recordSize < kZip64EndSize - 12 || recordSize > fileSize ||
        !fits(record, recordSize + 12, locator))
      return fail("ZIP64 end of central directory record claims " +
                  Twine(recordSize) +
                  " bytes, which do not fit before its "
                  "locator");
    uint64_t disk64 = read32(file, record + 16);
    uint64_t directoryDisk64 = read32(file, record + 20);
    uint64_t entriesOnDisk64 = read64(file, record + 24);
    uint64_t entryCount64 = read64(file, record + 32);
    uint64_t directorySize64 = read64(file, record + 40);
    uint64_t directoryOffset64 = read64(file, record + 48);
    // The 32-bit record either repeats a value or is saturated.
    auto agrees = [](uint64_t narrow, uint64_t wide, uint64_t saturated) {
      return narrow == wide || narrow == saturated;
    };
    if (!agrees(disk, disk64, kSaturated16) ||
        !agrees(directoryDisk, directoryDisk64, kSaturated16) ||
        !agrees(entriesOnDisk, entriesOnDisk64, kSaturated16) ||
        !agrees(entryCount, entryCount64, kSaturated16) ||
        !agrees(directorySize, directorySize64, kSaturated32) ||
        !agrees(directoryOffset, directoryOffset64, kSaturated32))
      return fail("the end of central directory record and its ZIP64 "
                  "record disagree");
    disk = disk64;
    directoryDisk = directoryDisk64;
    entriesOnDisk = entriesOnDisk64;
    entryCount = entryCount64;
    directorySize = directorySize64;
    directoryOffset = directoryOffset64;
    directoryLimit = record;
  }

  if (disk != 0 || directoryDisk != 0 || entriesOnDisk != entryCount)
    return fail("multi-disk zip archives are not supported");
  if (entryCount > kMaxZipEntries)
    return fail("the archive has " + Twine(entryCount) +
                " entries, more than the limit of " + Twine(kMaxZipEntries));
  if (!fits(directoryOffset, directorySize, directoryLimit))
    return fail("central directory " +
                renderByteRange(directoryOffset, directoryOffset + directorySize) +
                " extends beyond its end at offset " + Twine(directoryLimit) +
                " (truncated file?)");
  if (entryCount * kCentralHeaderSize > directorySize)
    return fail("central directory of " + Twine(directorySize) +
                " bytes is too small for " + Twine(entryCount) + " entries");

  ZipArchive archive;
  archive.path = path.str();
  archive.entryList.reserve(entryCount);
  std::vector<Record> records;
  records.reserve(entryCount);
  uint64_t at = directoryOffset;
  uint64_t directoryEnd = directoryOffset + directorySize;
  for (uint64_t i = 0; i < entryCount; ++i) {
    if (!fits(at, kCentralHeaderSize, directoryEnd) ||
        read32(file, at) != kCentralHeaderSignature)
      return fail("central directory entry " + Twine(i) + " at offset " +
                  Twine(at) + " is not a central directory header");
    uint16_t flags = read16(file, at + 8);
    uint16_t method = read16(file, at + 10);
    uint32_t crc = read32(file, at + 16);
    Sizes sizes{read32(file, at + 20), read32(file, at + 24),
                read32(file, at + 42), read16(file, at + 34), false};
    uint64_t nameSize = read16(file, at + 28);
    uint64_t extraSize = read16(file, at + 30);
    uint64_t commentSize = read16(file, at + 32);
    uint64_t headerSize =
        kCentralHeaderSize + nameSize + extraSize + commentSize;
    if (!fits(at, headerSize, directoryEnd))
      return fail("central directory entry " + Twine(i) + " at offset " +
                  Twine(at) + " extends beyond the central directory");
    StringRef name = file.substr(at + kCentralHeaderSize, nameSize);
    StringRef extra =
        file.substr(at + kCentralHeaderSize + nameSize, extraSize);
    at += headerSize;

    std::string entry = "zip entry " + quoteForMessage(name);
    if (std::optional<StringRef> reason = checkName(name))
      return fail(entry + " is not a safe relative path (it has " + *reason +
                  ")");
    if (!archive.index.try_emplace(name, archive.entryList.size()).second)
      return fail(entry + " occurs more than once");
    if (flags & kFlagEncrypted)
      return fail(entry + " is encrypted");
    if (flags & ~kAllowedFlags)
      return fail(entry + " uses unsupported flags 0x" + utohexstr(flags));
    if (method != 0)
      return fail(entry + " is compressed (method " + Twine(method) +
                  "); re-save it with torch.save, which stores entries "
                  "uncompressed");
    if (Error error = applyZip64(extra, sizes, /*hasOffset=*/true))
      return fail(entry + ": " + toString(std::move(error)));
    if (sizes.disk != 0)
      return fail("multi-disk zip archives are not supported");
    if (sizes.compressed != sizes.uncompressed)
      return fail(entry + " is stored but claims " + Twine(sizes.compressed) +
                  " compressed bytes for " + Twine(sizes.uncompressed) +
                  " bytes of data");

    // The local header repeats the central one.
    uint64_t local = sizes.offset;
    if (!fits(local, kLocalHeaderSize, directoryOffset) ||
        read32(file, local) != kLocalHeaderSignature)
      return fail(entry + ": no local header at offset " + Twine(local) +
                  " (entries end at the central directory, offset " +
                  Twine(directoryOffset) + ")");
    uint16_t localFlags = read16(file, local + 6);
    uint16_t localMethod = read16(file, local + 8);
    uint32_t localCrc = read32(file, local + 14);
    Sizes localSizes{read32(file, local + 18), read32(file, local + 22), 0, 0,
                     false};
    uint64_t localNameSize = read16(file, local + 26);
    uint64_t localExtraSize = read16(file, local + 28);
    uint64_t dataBegin =
        local + kLocalHeaderSize + localNameSize + localExtraSize;
    if (!fits(local, kLocalHeaderSize + localNameSize + localExtraSize,
              directoryOffset))
      return fail(entry + ": local header at offset " + Twine(local) +
                  " extends into the central directory");
    if (localFlags != flags || localMethod != method)
      return fail(entry + ": local header (flags 0x" + utohexstr(localFlags) +
                  ", method " + Twine(localMethod) +
                  ") disagrees with the central directory (flags 0x" +
                  utohexstr(flags) + ", method " + Twine(method) + ")");
    StringRef localName = file.substr(local + kLocalHeaderSize, localNameSize);
    if (localName != name)
      return fail(entry + ": local header names it " + quoteForMessage(localName));
    StringRef localExtra =
        file.substr(local + kLocalHeaderSize + localNameSize, localExtraSize);
    if (Error error = applyZip64(localExtra, localSizes, /*hasOffset=*/false))
      return fail(entry + ": local header: " + toString(std::move(error)));
    // With a data descriptor, the local header may leave the values zero.
    bool descriptor = flags & kFlagDataDescriptor;
    auto matches = [&](uint64_t localValue, uint64_t centralValue) {
      return localValue == centralValue || (descriptor && localValue == 0);
    };
    if (!matches(localCrc, crc) ||
        !matches(localSizes.compressed, sizes.compressed) ||
        !matches(localSizes.uncompressed, sizes.uncompressed))
      return fail(entry + ": local header (CRC 0x" + utohexstr(localCrc) +
                  ", " + Twine(localSizes.uncompressed) +
                  " bytes) disagrees with the central directory (CRC 0x" +
                  utohexstr(crc) + ", " + Twine(sizes.uncompressed) +
                  " bytes)");

    if (!fits(dataBegin, sizes.compressed, directoryOffset))
      return fail(entry + ": data " +
                  renderByteRange(dataBegin, dataBegin + sizes.compressed) +
                  " extends beyond the entries, which end at offset " +
                  Twine(directoryOffset) + " (truncated file?)");
    uint64_t recordEnd = dataBegin + sizes.compressed;

    if (descriptor) {
      // [signature] CRC, compressed size, size: 32-bit sizes, or 64-bit ones
      // when the local header has a ZIP64 field. Try the other width too,
      // since writers disagree on the rule.
      uint64_t descriptorAt = recordEnd;
      if (fits(descriptorAt, 4, directoryOffset) &&
          read32(file, descriptorAt) == kDataDescriptorSignature)
        descriptorAt += 4;
      std::optional<uint64_t> descriptorEnd;
      for (bool wide : {localSizes.zip64, !localSizes.zip64}) {
        uint64_t width = wide ? 8 : 4;
        if (!fits(descriptorAt, 4 + 2 * width, directoryOffset) ||
            read32(file, descriptorAt) != crc)
          continue;
        uint64_t compressed = wide ? read64(file, descriptorAt + 4)
                                   : read32(file, descriptorAt + 4);
        uint64_t uncompressed = wide ? read64(file, descriptorAt + 12)
                                     : read32(file, descriptorAt + 8);
        if (compressed == sizes.compressed &&
            uncompressed == sizes.uncompressed) {
          descriptorEnd = descriptorAt + 4 + 2 * width;
          break;
        }
      }
      if (!descriptorEnd)
        return fail(entry + ": the data descriptor at offset " +
                    Twine(recordEnd) +
                    " disagrees with the central directory or is missing");
      recordEnd = *descriptorEnd;
    }

    records.push_back({local, recordEnd, archive.entryList.size()});
    ZipEntry zipEntry;
    zipEntry.name = name.str();
    zipEntry.data = ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(file.data()) + dataBegin,
        sizes.compressed);
    zipEntry.dataOffset = dataBegin;
    zipEntry.crc32 = crc;
    archive.entryList.push_back(std::move(zipEntry));
  }
  if (at != directoryEnd)
    return fail("central directory has " + Twine(directoryEnd - at) +
                " bytes after its " + Twine(entryCount) + " entries");

  // Sorted by start, a record overlaps another iff it starts before the end
  // of the previous one (every record has a header, so none is empty).
  sort(records, [](const Record &a, const Record &b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  for (size_t i = 1; i < records.size(); ++i) {
    const Record &previous = records[i - 1], &record = records[i];
    if (record.begin < previous.end)
      return fail("zip entries " +
                  quoteForMessage(archive.entryList[previous.entry].name) + " " +
                  renderByteRange(previous.begin, previous.end) + " and " +
                  quoteForMessage(archive.entryList[record.entry].name) + " " +
                  renderByteRange(record.begin, record.end) + " overlap");
  }
  return std::move(archive);
}

const ZipEntry *ZipArchive::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &entryList[it->second];
}

Error ZipArchive::checkCrc(const ZipEntry &entry) const {
  uint32_t actual = llvm::crc32(entry.data);
  if (actual == entry.crc32)
    return Error::success();
  std::string message;
  raw_string_ostream os(message);
  os << path << ": zip entry " << quoteForMessage(entry.name) << " has CRC-32 "
     << format_hex(actual, 10) << " but the central directory records "
     << format_hex(entry.crc32, 10) << " (corrupt file?)";
  return createStringError(message);
}
