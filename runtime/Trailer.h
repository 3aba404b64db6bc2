//===- Trailer.h - The seal at the end of an artifact -----------*- C++ -*-===//
//
// An artifact ends with 24 bytes that seal its FlatBuffer: a magic string,
// the FlatBuffer's size and its XXH3-64 hash (runtime/Hash.h). Every byte the
// runtime trusts is then covered: the FlatBuffer (plan, tokenizer, kernel
// images, PTX, the tensors' own hashes) by the seal, each embedded weight by
// its tensor's hash. The FlatBuffers verifier keeps a hostile artifact from
// crashing the loader; the seal keeps a damaged one from running with a
// silently changed plan (a work size, a stride, a scale). It lives after the
// weight segment because the FlatBuffer cannot hold its own hash.
//
// Integers are little-endian, as x86-64 (the only CPU the kernels run on)
// stores them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_TRAILER_H
#define ATTN_RUNTIME_TRAILER_H

#include "runtime/Hash.h"

#include <cstdint>
#include <cstring>

namespace attn::runtime {

/// The last sizeof(ArtifactTrailer) bytes of an artifact.
struct ArtifactTrailer {
  /// kArtifactTrailerMagic.
  char magic[8];
  /// Bytes of the FlatBuffer, from the start of the file.
  uint64_t flatbufferSize;
  /// XXH3-64 of those bytes.
  uint64_t flatbufferHash;
};
static_assert(sizeof(ArtifactTrailer) == 24, "the trailer has no padding");

/// ArtifactTrailer::magic.
inline constexpr char kArtifactTrailerMagic[8] = {'A', 'T', 'T', 'N',
                                                  'S', 'E', 'A', 'L'};

/// Reads the trailer of the `size`-byte file at `file` into `out`: false
/// when the file does not end with the magic or the FlatBuffer size it
/// records does not fit before the trailer.
inline bool readArtifactTrailer(const void *file, uint64_t size,
                                ArtifactTrailer &out) {
  if (size < sizeof(out))
    return false;
  std::memcpy(&out, static_cast<const char *>(file) + size - sizeof(out),
              sizeof(out));
  return std::memcmp(out.magic, kArtifactTrailerMagic, sizeof(out.magic)) ==
             0 &&
         out.flatbufferSize <= size - sizeof(out);
}

/// The trailer that seals the `size` bytes of FlatBuffer at `flatbuffer`.
inline ArtifactTrailer sealFlatBuffer(const void *flatbuffer, uint64_t size) {
  ArtifactTrailer trailer;
  std::memcpy(trailer.magic, kArtifactTrailerMagic, sizeof(trailer.magic));
  trailer.flatbufferSize = size;
  trailer.flatbufferHash = contentHash(flatbuffer, size);
  return trailer;
}

} // namespace attn::runtime

#endif // ATTN_RUNTIME_TRAILER_H
