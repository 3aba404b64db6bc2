//===- ProgramBuilder.h - pieces shared by the importers --------*- C++ -*-===//
//
// Every importer builds the same two programs, `prefill` (S new tokens) and
// `decode` (S = 1):
//
//   func.func @prefill(%tokens: tensor<?xi32>, %T: index,
//                      <weights {attn.weight = name}>...,
//                      <KV caches {attn.kv_cache = "layers.N.k|v"}>...)
//       -> (tensor<1x<vocab>xf32>, <updated KV caches>...)
//
// and the same causal attention with a KV cache, written as the seed writes
// it (scores, scale, causal mask, softmax, weighted sum).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_FRONTENDS_PROGRAMBUILDER_H
#define ATTN_FRONTENDS_PROGRAMBUILDER_H

#include "frontends/Model.h"
#include "frontends/checkpoint/Checkpoint.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::attn {

/// One checkpoint tensor a program reads, with the shape the config implies.
struct WeightSpec {
  std::string name;
  SmallVector<int64_t> shape;
  /// Read by matmuls or embeddings, so storable in a narrower float type.
  bool matrix = false;
};

/// Checks that `checkpoint` holds every weight with its shape and a float
/// dtype the compiler converts (F32, F16, BF16). With
/// `options.externalWeights`, also that the file is safetensors and every
/// weight F32: the runtime reads external weights in place, so the artifact
/// writer would refuse anything else, but only after the whole compile.
/// Errors name the file and the tensor.
llvm::Error checkWeights(const Checkpoint &checkpoint,
                         ArrayRef<WeightSpec> weights,
                         const ImportOptions &options);

/// A program function under construction; the builder points into its body.
struct Program {
  func::FuncOp func;
  /// Token ids [S] (i32), T (tokens already cached), S, and T + S.
  Value tokens, past, numNew, length;
  llvm::StringMap<Value> weights;
  /// Per layer: the K cache, then the V cache.
  SmallVector<Value> caches;

  Value weight(StringRef name) const { return weights.lookup(name); }
};

/// Creates the function `name` with the signature above; caches are
/// [heads, context, head_dim] f32 per layer, logits [1, vocab]. Matrix
/// weights get the element type `matrixType` asks for, the rest f32.
Program createProgram(OpBuilder &b, StringRef name, int64_t staticS,
                      ArrayRef<WeightSpec> weights, int64_t numLayers,
                      int64_t heads, int64_t context, int64_t headDim,
                      int64_t vocab, ImportOptions::MatrixType matrixType);

/// Returns the logits and the updated caches from `program`.
void finishProgram(OpBuilder &b, Program &program, Value logits,
                   ValueRange newCaches);

/// Causal attention of `q`, `k`, `v` ([S, heads * headDim] each) against
/// the layer's KV caches: writes the new K/V rows at T, attends to the
/// T + S cached rows, and returns the merged [S, heads * headDim] output.
/// `scale` 1 emits no attn.scale (CogModel has none).
Value buildCausalAttention(OpBuilder &b, Location loc, Program &program,
                           int64_t layer, Value q, Value k, Value v,
                           int64_t heads, double scale, double fill,
                           SmallVectorImpl<Value> &newCaches);

/// Row S - 1 of `hidden` ([S, D]) as [1, D]: only the last position's
/// logits are needed to generate.
Value lastRow(OpBuilder &b, Location loc, Program &program, Value hidden);

/// The rows [T, T + S) of a position table `table` ([positions, ..., D],
/// unit axes between) as [S, D].
Value positionRows(OpBuilder &b, Location loc, Program &program, Value table);

/// Builds the module of an import: `build(b, name, staticS)` is called for
/// "prefill" (S dynamic) and "decode" (S = 1) with the builder at the end of
/// the module. Fails, naming `dir`, if the result does not verify.
llvm::Expected<OwningOpRef<ModuleOp>> buildPrograms(
    MLIRContext &context, llvm::StringRef dir,
    llvm::function_ref<void(OpBuilder &, StringRef, int64_t)> build);

/// "[768, 2304]".
std::string shapeString(ArrayRef<int64_t> shape);

} // namespace mlir::attn

#endif // ATTN_FRONTENDS_PROGRAMBUILDER_H
