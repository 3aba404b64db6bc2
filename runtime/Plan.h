//===- Plan.h - The decoded plan of an artifact -----------------*- C++ -*-===//
//
// The loader turns the artifact's buffers and programs into these plain
// structures once, after validating them; a session then runs steps from them
// without touching the FlatBuffer again.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_PLAN_H
#define ATTN_RUNTIME_PLAN_H

#include "attn/kernel_abi.h"
#include "runtime/Status.h"
#include "runtime/schema/artifact_generated.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace attn::runtime {

/// Bytes per element of `dtype`, or 0 when it is not a known DType.
size_t dtypeSize(artifact::DType dtype);

/// The name of `dtype` ("f32"), or "unknown" for a value outside the enum.
const char *dtypeName(artifact::DType dtype);

/// Computes s * S + t * T + c into `out`; false when it overflows int64.
bool evaluateAffine(const artifact::Affine &affine, int64_t S, int64_t T,
                    int64_t &out);

/// One buffer of the plan and how large a session allocates it.
struct BufferPlan {
  /// Points into the artifact's mapping.
  std::string_view name;
  artifact::BufferKind kind;
  artifact::DType dtype;
  /// Allocated elements: the tensor's for Weight, the shape evaluated at
  /// S = T = context length otherwise.
  int64_t elements = 0;
  /// Weight buffers: the tensor's data in the mapped weights.
  const std::byte *weight = nullptr;
};

/// A strided view of a buffer (a Binding), in elements.
struct ViewPlan {
  uint32_t buffer = 0;
  uint32_t rank = 0;
  artifact::Affine offset;
  std::array<artifact::Affine, ATTN_MAX_RANK> sizes;
  std::array<artifact::Affine, ATTN_MAX_RANK> strides;
};

struct DispatchPlan {
  /// Index into the artifact's kernels.
  uint32_t kernel = 0;
  /// How many work items it runs: its output's size along
  /// Dispatch.work_axis.
  artifact::Affine work;
  /// The kernel's operands; it writes the last one.
  std::vector<ViewPlan> bindings;
  /// Bindings before the last that it also writes in place (Dispatch.updates).
  std::vector<uint32_t> updates;

  /// Whether the kernel writes binding `index`.
  bool writes(size_t index) const {
    return index + 1 == bindings.size() ||
           std::find(updates.begin(), updates.end(), index) != updates.end();
  }
};

struct ProgramPlan {
  std::string_view name;
  /// 0 when S is dynamic.
  int64_t staticS = 0;
  /// Index of the Tokens buffer the step's token ids are written to.
  uint32_t tokens = 0;
  std::vector<DispatchPlan> dispatches;
  ViewPlan logits;
  /// The bindings of all dispatches together.
  size_t bindingCount = 0;
};

/// Evaluates `view` at (S, T) over a buffer of `elements` elements: fills
/// `memref`'s sizes and strides (entries past the rank are zero) and `offset`,
/// the element offset of the view's first element. Fails, with a message that
/// starts with "at S=.., T=..", when an expression overflows, a size is
/// negative, or an element of the view lies outside the buffer.
Status evaluateView(const ViewPlan &view, int64_t S, int64_t T,
                    int64_t elements, attn_memref &memref, int64_t &offset);

/// Copies the f32 elements of `view` (of rank `rank`) in row-major order to
/// `out`.
void gatherF32(const attn_memref &view, uint32_t rank, float *out);

} // namespace attn::runtime

#endif // ATTN_RUNTIME_PLAN_H
