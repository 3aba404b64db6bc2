//===- Transpose.h - blocked matrix transpose -------------------*- C++ -*-===//
//
// The one transpose both sides of the artifact use: the compiler when it
// packs [in, out] linear weights as [out, in] into the weight segment, the
// runtime when it binds them from an external safetensors file. Header-only
// and dependency-free, so that the compiler can include it without linking
// the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_TRANSPOSE_H
#define ATTN_RUNTIME_TRANSPOSE_H

#include <algorithm>
#include <cstdint>

namespace attn {

/// Writes the [cols, rows] row-major transpose of the [rows, cols] row-major
/// `src` to `dst` (which must not overlap it). Blocks of 64 x 64 keep the
/// cache lines of both sides in use. Thread-safe for distinct `dst`.
template <typename T>
void transposeMatrix(const T *src, int64_t rows, int64_t cols, T *dst) {
  constexpr int64_t kBlock = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          dst[c * rows + r] = src[r * cols + c];
}

} // namespace attn

#endif // ATTN_RUNTIME_TRANSPOSE_H
