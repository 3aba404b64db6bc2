//===- Plan.h - programs as ordered kernel dispatches -----------*- C++ -*-===//
//
// The runtime executes a plan: for each program (prefill, decode) an ordered
// list of dispatches, each a kernel applied to strided views of buffers over
// a range of work items. This file turns the attn-level program functions
// into such plans and into the kernel functions that the backends compile.
//
// Every size that depends on the step is affine in S (new tokens) and T
// (tokens already cached). Buffers are allocated once at their largest size
// with constant row-major strides, so every view's strides are constants and
// only its offset and sizes vary with S and T.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_CODEGEN_PLAN_H
#define ATTN_COMPILER_CODEGEN_PLAN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>
#include <vector>

namespace mlir::attn {

/// s * S + t * T + c.
struct Affine {
  int64_t s = 0, t = 0, c = 0;

  static Affine constant(int64_t c) { return {0, 0, c}; }
  bool isConstant() const { return s == 0 && t == 0; }
  int64_t eval(int64_t S, int64_t T) const { return s * S + t * T + c; }
  /// The largest value over the steps a context of `length` tokens allows:
  /// 1 <= S, 0 <= T, S + T <= length.
  int64_t maxOver(int64_t length) const;

  Affine operator+(const Affine &o) const { return {s + o.s, t + o.t, c + o.c}; }
  Affine operator-(const Affine &o) const { return {s - o.s, t - o.t, c - o.c}; }
  Affine operator*(int64_t k) const { return {s * k, t * k, c * k}; }
  bool operator==(const Affine &o) const {
    return s == o.s && t == o.t && c == o.c;
  }
};

enum class BufferKind { Weight, Tokens, KVCache, Scratch };

struct BufferPlan {
  std::string name;
  BufferKind kind;
  Type elementType;
  /// Allocation sizes: constants for every kind.
  SmallVector<int64_t> shape;
  /// Weight only: `shape` is the checkpoint tensor's with its two axes
  /// swapped (attn.transposed), and the artifact stores it so.
  bool transposed = false;
};

/// A strided view of a buffer, in elements.
struct ViewPlan {
  unsigned buffer = 0;
  Affine offset;
  SmallVector<Affine> sizes;
  SmallVector<int64_t> strides;
};

struct DispatchPlan {
  unsigned kernel = 0;
  /// Operands in kernel order, the output last.
  SmallVector<ViewPlan> bindings;
  /// The kernel's work items are the output's indices along this axis.
  unsigned workAxis = 0;
  /// Bindings before the last that the kernel writes in place (a cached
  /// attention's KV caches).
  SmallVector<unsigned> updates;
};

struct ProgramPlan {
  std::string name;
  /// 0 when S is dynamic.
  int64_t staticS = 0;
  unsigned tokens = 0;
  std::vector<DispatchPlan> dispatches;
  ViewPlan logits;
};

struct ModelPlan {
  SmallVector<BufferPlan> buffers;
  std::vector<ProgramPlan> programs;
  /// Kernel functions, still at the attn level, each
  ///   func.func @kN(memref bindings..., %S, %T, %begin, %end: index)
  /// plus an `@kN_entry(!llvm.ptr, i64, i64, i64, i64)` wrapper with the
  /// C ABI of runtime/include/attn/kernel_abi.h.
  OwningOpRef<ModuleOp> kernels;
  SmallVector<std::string> kernelNames;
};

/// Plans the functions `prefill` and `decode` of `programs` (attn IR whose
/// first two arguments are the token ids and T) for a context of
/// `contextLength` tokens. Emits diagnostics and fails on IR it cannot plan.
FailureOr<ModelPlan> buildModelPlan(ModuleOp programs, int64_t contextLength);

/// The memref of `type` (identity or strided layout with constant strides)
/// whose data starts at the LLVM pointer `data`; `size(axis)` gives each
/// dynamic size. Built at `b`'s insertion point.
Value buildMemRefDescriptor(OpBuilder &b, Location loc, Value data,
                            MemRefType type,
                            function_ref<Value(int64_t)> size);

/// The memref of `type` for entry `index` of the attn_memref array at the
/// LLVM pointer `bindings` (kernel_abi.h), built at `b`'s insertion point:
/// the data pointer and the dynamic sizes are loaded; static sizes and the
/// strides (constants in every plan) come from `type`. Both the CPU entry
/// points and the GPU kernels read their bindings with it.
Value loadKernelBinding(OpBuilder &b, Location loc, Value bindings,
                        int64_t index, MemRefType type);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CODEGEN_PLAN_H
