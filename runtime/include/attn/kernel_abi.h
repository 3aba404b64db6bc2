/* attn kernel ABI: how the runtime calls a compiled CPU kernel.
 *
 * Every kernel that the compiler emits into an artifact's shared object has
 * this signature. The runtime calls it from several threads at once with
 * disjoint [begin, end) ranges of the dispatch's work items; a kernel writes
 * only the part of its outputs that its range owns.
 */
#ifndef ATTN_RUNTIME_INCLUDE_ATTN_KERNEL_ABI_H
#define ATTN_RUNTIME_INCLUDE_ATTN_KERNEL_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The largest rank of a kernel operand. */
#define ATTN_MAX_RANK 4

/** Every buffer of a CUDA session (weights, KV caches, scratch, kernel
 *  workspaces) starts at a multiple of this many bytes: the CUDA kernels
 *  widen their loads of a binding whose offset into its buffer is a
 *  multiple of 16 bytes (the `attn.alignment` the planner records). */
#define ATTN_DEVICE_BUFFER_ALIGNMENT 256

/** A strided view of a buffer. `data` points at the view's first element;
 *  sizes and strides count elements; entries past the operand's rank are
 *  unused. */
typedef struct attn_memref {
  void *data;
  int64_t sizes[ATTN_MAX_RANK];
  int64_t strides[ATTN_MAX_RANK];
} attn_memref;

/** A compiled kernel. `bindings` holds the dispatch's operands in order
 *  (its output last; Dispatch.updates names operands it also writes in
 *  place); S is the number of new tokens of the step and T the
 *  number of tokens already in the KV cache. Thread-safe for disjoint
 *  ranges. */
typedef void (*attn_kernel_fn)(const attn_memref *bindings, int64_t S,
                               int64_t T, int64_t begin, int64_t end);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_RUNTIME_INCLUDE_ATTN_KERNEL_ABI_H */
