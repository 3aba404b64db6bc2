/*===- TestKernels.c - Hand-written kernels for the runtime's tests -------===*
 *
 * What the compiler will emit, written by hand so that the runtime's tests
 * run a real shared object through the kernel ABI (attn/kernel_abi.h). Each
 * kernel reads its operands through their sizes and strides and writes only
 * the part of its output that its [begin, end) range owns.
 *
 *===----------------------------------------------------------------------===*/

#include "attn/kernel_abi.h"

/* The element at (i, j) of a rank-2 f32 view. */
#define AT(view, type, i, j)                                                   \
  (((type *)(view).data)[(i) * (view).strides[0] + (j) * (view).strides[1]])

/* out[i, :] = table[tokens[i], :]. b: tokens i32 [S], table f32 [V, D],
 * out f32 [S, D]. Work items: rows of out. */
void attn_test_embedding(const attn_memref *b, int64_t S, int64_t T,
                         int64_t begin, int64_t end) {
  const int32_t *tokens = (const int32_t *)b[0].data;
  for (int64_t i = begin; i < end; ++i) {
    int64_t token = tokens[i * b[0].strides[0]];
    for (int64_t d = 0; d < b[2].sizes[1]; ++d)
      AT(b[2], float, i, d) = AT(b[1], const float, token, d);
  }
}

/* out[0, n] = sum_k x[0, k] * w[k, n]. b: x f32 [1, K], w f32 [K, N],
 * out f32 [1, N]. Work items: columns of out. */
void attn_test_matvec(const attn_memref *b, int64_t S, int64_t T,
                      int64_t begin, int64_t end) {
  for (int64_t n = begin; n < end; ++n) {
    float sum = 0;
    for (int64_t k = 0; k < b[0].sizes[1]; ++k)
      sum += AT(b[0], const float, 0, k) * AT(b[1], const float, k, n);
    AT(b[2], float, 0, n) = sum;
  }
}

/* dst[r, :] = src[r, :]. b: src f32 [R, C], dst f32 [R, C]. Work items:
 * rows. */
void attn_test_copy_rows(const attn_memref *b, int64_t S, int64_t T,
                         int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r)
    for (int64_t c = 0; c < b[0].sizes[1]; ++c)
      AT(b[1], float, r, c) = AT(b[0], const float, r, c);
}

/* cache[r, :] = src[r, :] in place, and echo[r, :] = src[r, :]. b: src f32
 * [R, C], cache f32 [R, C] (a Dispatch update), echo f32 [R, C] (the
 * output). Work items: rows. */
void attn_test_append_rows(const attn_memref *b, int64_t S, int64_t T,
                           int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r)
    for (int64_t c = 0; c < b[0].sizes[1]; ++c) {
      AT(b[1], float, r, c) = AT(b[0], const float, r, c);
      AT(b[2], float, r, c) = AT(b[0], const float, r, c);
    }
}

/* dst[0, c] += sum_r src[r, c]. b: src f32 [R, C], dst f32 [1, C]. Work
 * items: columns. */
void attn_test_add_row_sums(const attn_memref *b, int64_t S, int64_t T,
                            int64_t begin, int64_t end) {
  for (int64_t c = begin; c < end; ++c)
    for (int64_t r = 0; r < b[0].sizes[0]; ++r)
      AT(b[1], float, 0, c) += AT(b[0], const float, r, c);
}
