//===- Plan.cpp - The decoded plan of an artifact -------------------------===//

#include "runtime/Plan.h"

#include <algorithm>

namespace attn::runtime {

using artifact::DType;

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::DType_f32:
  case DType::DType_i32:
    return 4;
  case DType::DType_f16:
  case DType::DType_bf16:
    return 2;
  case DType::DType_i64:
    return 8;
  }
  return 0;
}

const char *dtypeName(DType dtype) {
  return dtypeSize(dtype) == 0 ? "unknown" : artifact::EnumNameDType(dtype);
}

bool evaluateAffine(const artifact::Affine &affine, int64_t S, int64_t T,
                    int64_t &out) {
  int64_t s, t;
  return !__builtin_mul_overflow(affine.s(), S, &s) &&
         !__builtin_mul_overflow(affine.t(), T, &t) &&
         !__builtin_add_overflow(s, t, &out) &&
         !__builtin_add_overflow(out, affine.c(), &out);
}

Status evaluateView(const ViewPlan &view, int64_t S, int64_t T,
                    int64_t elements, attn_memref &memref, int64_t &offset) {
  auto fail = [&](const std::string &what) {
    return Status(StatusCode::InvalidArtifact,
                  formatString("at S=%lld, T=%lld, ", (long long)S,
                               (long long)T) +
                      what);
  };
  if (!evaluateAffine(view.offset, S, T, offset))
    return fail("the offset overflows");
  // The lowest and highest element the view touches.
  int64_t low = offset, high = offset;
  bool empty = false;
  for (uint32_t dim = 0; dim < ATTN_MAX_RANK; ++dim) {
    memref.sizes[dim] = 0;
    memref.strides[dim] = 0;
    if (dim >= view.rank)
      continue;
    int64_t size, stride;
    if (!evaluateAffine(view.sizes[dim], S, T, size) ||
        !evaluateAffine(view.strides[dim], S, T, stride))
      return fail(formatString("dimension %u overflows", dim));
    if (size < 0)
      return fail(formatString("size %u is negative (%lld)", dim,
                               (long long)size));
    memref.sizes[dim] = size;
    memref.strides[dim] = stride;
    if (size == 0) {
      empty = true;
      continue;
    }
    // A negative stride extends the view below its offset.
    int64_t extent;
    int64_t &bound = stride < 0 ? low : high;
    if (__builtin_mul_overflow(size - 1, stride, &extent) ||
        __builtin_add_overflow(bound, extent, &bound))
      return fail(formatString("dimension %u overflows", dim));
  }
  // An empty view reads nothing; its offset does not matter.
  if (empty) {
    offset = 0;
    return Status();
  }
  if (low < 0 || high >= elements)
    return fail(formatString(
        "the view spans elements [%lld, %lld] but the buffer has %lld",
        (long long)low, (long long)high, (long long)elements));
  return Status();
}

void gatherF32(const attn_memref &view, uint32_t rank, float *out) {
  int64_t sizes[ATTN_MAX_RANK], strides[ATTN_MAX_RANK];
  for (uint32_t d = 0; d < ATTN_MAX_RANK; ++d) {
    sizes[d] = d < rank ? view.sizes[d] : 1;
    strides[d] = d < rank ? view.strides[d] : 0;
  }
  const float *data = static_cast<const float *>(view.data);
  for (int64_t i0 = 0; i0 < sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < sizes[1]; ++i1)
      for (int64_t i2 = 0; i2 < sizes[2]; ++i2)
        for (int64_t i3 = 0; i3 < sizes[3]; ++i3)
          *out++ = data[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] +
                        i3 * strides[3]];
}

} // namespace attn::runtime
