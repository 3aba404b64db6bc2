//===- Hash.cpp - The checksum of artifact contents -----------------------===//

#include "runtime/Hash.h"

// xxHash compiled into this file (its header-only mode): the runtime and the
// tools copied to a GPU machine depend on no libxxhash there.
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t attn::runtime::contentHash(const void *data, size_t size) {
  return XXH3_64bits(data, size);
}
