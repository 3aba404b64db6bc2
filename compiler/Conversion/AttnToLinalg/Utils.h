//===- Utils.h - helpers shared by the attn-to-linalg patterns --*- C++ -*-===//

#ifndef ATTN_COMPILER_CONVERSION_ATTNTOLINALG_UTILS_H
#define ATTN_COMPILER_CONVERSION_ATTNTOLINALG_UTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::attn {

/// A scalar constant of float type `type`.
Value floatConstant(OpBuilder &b, Location loc, Type type, double value);

/// An uninitialized tensor of `type` whose dynamic sizes are taken, axis by
/// axis, from `sizes` (static sizes of `type` win).
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  ArrayRef<OpFoldResult> sizes);

/// A tensor of `type` with every element `value`.
Value filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                   ArrayRef<OpFoldResult> sizes, double value);

/// The sizes of `v`, static where known.
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value v);

/// The identity map of rank `rank`.
AffineMap identityMap(MLIRContext *ctx, unsigned rank);

/// A map from `numDims` loops to the given loop dimensions.
AffineMap projectionMap(MLIRContext *ctx, unsigned numDims,
                        ArrayRef<unsigned> dims);

/// A `linalg.generic` computing `body(inputs...)` elementwise into a new
/// tensor of `type` shaped like `sizes`. Inputs use `inputMaps`.
Value elementwise(
    OpBuilder &b, Location loc, RankedTensorType type,
    ArrayRef<OpFoldResult> sizes, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body);

/// A `linalg.generic` replacing each element of `dest` by `body(b, loc,
/// element, inputs...)`: in place, so that it bufferizes into dest's buffer
/// without a temporary. Inputs use `inputMaps`.
Value updateElementwise(
    OpBuilder &b, Location loc, Value dest, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> body);

/// GELU's tanh approximation (GPT-2's gelu_new) of the scalar `x`:
/// 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
Value geluTanh(OpBuilder &b, Location loc, Value x);

/// A contraction over one reduction loop: the loops are the result's axes
/// with the reduced axis inserted at `reductionLoop` (default: innermost),
/// `lhs` and `rhs` are read through their maps, and the products accumulate
/// into `init`. Placing the reduction before the last result axis makes the
/// innermost loop walk contiguous memory when the operands are laid out so.
Value contract(OpBuilder &b, Location loc, Value init, Value lhs,
               AffineMap lhsMap, Value rhs, AffineMap rhsMap,
               std::optional<unsigned> reductionLoop = std::nullopt);

/// Reduces `input` along `axis` with `combine`, starting from `init`;
/// `transform(b, loc, x, indices)` maps each element before it is combined.
Value reduceAxis(
    OpBuilder &b, Location loc, Value input, unsigned axis, double init,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> transform);

/// Folds the 1-D tensor `vector` into a scalar with `combine`, from `init`,
/// in a scalar loop: no temporary tensor, so no buffer after bufferization.
Value foldVector(OpBuilder &b, Location loc, Value vector, Value init,
                 function_ref<Value(OpBuilder &, Location, Value, Value)>
                     combine);

/// Numerically stable softmax of `input` along `axis`, with every element
/// first mapped by `transform(b, loc, x, indices)` (scale, causal mask).
Value softmaxAlong(
    OpBuilder &b, Location loc, Value input, unsigned axis,
    RankedTensorType resultType,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> transform);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CONVERSION_ATTNTOLINALG_UTILS_H
