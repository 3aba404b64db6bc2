//===- Zip.h - reader of stored zip archives --------------------*- C++ -*-===//
//
// `torch.save` writes a zip archive whose entries are stored, not compressed,
// so that the tensor data can be memory-mapped in place. This reader handles
// exactly that subset of the format (APPNOTE.TXT 6.3), on a mapped file:
//
//   [local file header, name, extra][data][data descriptor, if flag bit 3]
//   ...                                              (one record per entry)
//   [central directory: one header per entry]
//   [ZIP64 end of central directory record]         (optional)
//   [ZIP64 end of central directory locator]        (optional)
//   [end of central directory record][comment]
//
// Nothing of the archive is trusted until it is validated, since a bad offset
// would otherwise turn into a read outside the mapping:
//   - the end of central directory record ends the file exactly (its comment
//     included); a ZIP64 locator right before it must point at a ZIP64 record
//     between the central directory and the locator, whose values win over
//     the 32-bit ones (which must then agree or be saturated);
//   - a single disk; at most kMaxZipEntries entries; the central directory
//     holds exactly the announced number of entries and bytes;
//   - every entry is stored (method 0) and unencrypted; its compressed size
//     equals its size; its name is a relative path without `.`, `..` or
//     empty components, backslashes, NUL bytes or a drive letter, and no
//     two entries have the same name;
//   - each local header agrees with its central header (flags, method, name,
//     and CRC and sizes unless a data descriptor carries them, which must
//     then agree too); each record (header, data, descriptor) lies before the
//     central directory, and no two records overlap.
// Data CRCs are not checked when the archive is read (that would page in
// every tensor); checkCrc() checks one entry on request.
// Each failure is an llvm::Error of one line: "<file>: <what is wrong>".
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_CHECKPOINT_ZIP_H
#define ATTN_FRONTENDS_CHECKPOINT_ZIP_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::attn {

/// The most entries an archive may have. A torch.save file has one per
/// storage plus a few; this bounds the memory a hostile directory can cost.
constexpr uint64_t kMaxZipEntries = 1'000'000;

/// One validated entry of a zip archive.
struct ZipEntry {
  std::string name;
  /// The entry's bytes, pointing into the mapped file.
  llvm::ArrayRef<uint8_t> data;
  /// Where `data` starts in the file.
  uint64_t dataOffset = 0;
  /// The CRC-32 recorded in the central directory.
  uint32_t crc32 = 0;
};

/// A validated zip archive of stored entries over a mapped file, which must
/// outlive it.
class ZipArchive {
public:
  /// Validates `file` as a zip archive; `path` names it in errors.
  static llvm::Expected<ZipArchive> read(llvm::StringRef path,
                                         llvm::StringRef file);

  /// Returns the entries in central directory order.
  llvm::ArrayRef<ZipEntry> entries() const { return entryList; }

  /// Returns the entry called `name`, or nullptr if there is none.
  const ZipEntry *lookup(llvm::StringRef name) const;

  /// Checks the CRC-32 of `entry`'s data against the recorded one.
  llvm::Error checkCrc(const ZipEntry &entry) const;

private:
  std::string path;
  std::vector<ZipEntry> entryList;
  /// Name -> index into entryList.
  llvm::StringMap<size_t> index;
};

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_CHECKPOINT_ZIP_H
