//===- Utils.cpp - helpers shared by the attn-to-linalg patterns ----------===//

#include "compiler/Conversion/AttnToLinalg/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::floatConstant(OpBuilder &b, Location loc, Type type,
                                double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value mlir::attn::emptyTensor(OpBuilder &b, Location loc,
                              RankedTensorType type,
                              ArrayRef<OpFoldResult> sizes) {
  assert(sizes.size() == static_cast<size_t>(type.getRank()) &&
         "one size per axis");
  SmallVector<Value> dynamic;
  for (auto [axis, size] : llvm::enumerate(sizes))
    if (type.isDynamicDim(axis))
      dynamic.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
  return tensor::EmptyOp::create(b, loc, type, dynamic);
}

Value mlir::attn::filledTensor(OpBuilder &b, Location loc,
                               RankedTensorType type,
                               ArrayRef<OpFoldResult> sizes, double value) {
  Value empty = emptyTensor(b, loc, type, sizes);
  Value scalar = floatConstant(b, loc, type.getElementType(), value);
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

SmallVector<OpFoldResult> mlir::attn::sizesOf(OpBuilder &b, Location loc,
                                              Value v) {
  return tensor::getMixedSizes(b, loc, v);
}

AffineMap mlir::attn::identityMap(MLIRContext *ctx, unsigned rank) {
  return AffineMap::getMultiDimIdentityMap(rank, ctx);
}

AffineMap mlir::attn::projectionMap(MLIRContext *ctx, unsigned numDims,
                                    ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

/// The loop indices of the innermost linalg op being built.
static SmallVector<Value> loopIndices(OpBuilder &b, Location loc,
                                      unsigned rank) {
  SmallVector<Value> indices;
  for (unsigned d = 0; d < rank; ++d)
    indices.push_back(linalg::IndexOp::create(b, loc, d));
  return indices;
}

/// A parallel `linalg.generic` over `init`'s elements computing
/// `body(inputs..., init element)`.
static Value mapInto(OpBuilder &b, Location loc, Value init, ValueRange inputs,
                     ArrayRef<AffineMap> inputMaps,
                     function_ref<Value(OpBuilder &, Location, ValueRange)>
                         body) {
  auto type = cast<RankedTensorType>(init.getType());
  unsigned rank = type.getRank();
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(identityMap(b.getContext(), rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
      });
  return generic.getResult(0);
}

Value mlir::attn::elementwise(
    OpBuilder &b, Location loc, RankedTensorType type,
    ArrayRef<OpFoldResult> sizes, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  return mapInto(b, loc, emptyTensor(b, loc, type, sizes), inputs, inputMaps,
                 [&](OpBuilder &nb, Location nloc, ValueRange args) {
                   return body(nb, nloc, args.drop_back());
                 });
}

Value mlir::attn::updateElementwise(
    OpBuilder &b, Location loc, Value dest, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> body) {
  return mapInto(b, loc, dest, inputs, inputMaps,
                 [&](OpBuilder &nb, Location nloc, ValueRange args) {
                   return body(nb, nloc, args.back(), args.drop_back());
                 });
}

Value mlir::attn::geluTanh(OpBuilder &b, Location loc, Value x) {
  Type type = x.getType();
  auto constant = [&](double v) { return floatConstant(b, loc, type, v); };
  Value x3 =
      arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
  Value inner = arith::MulFOp::create(
      b, loc, constant(std::sqrt(2.0 / M_PI)),
      arith::AddFOp::create(
          b, loc, x, arith::MulFOp::create(b, loc, constant(0.044715), x3)));
  Value t = math::TanhOp::create(b, loc, inner);
  Value halfX = arith::MulFOp::create(b, loc, constant(0.5), x);
  return arith::MulFOp::create(b, loc, halfX,
                               arith::AddFOp::create(b, loc, constant(1.0), t));
}

Value mlir::attn::contract(OpBuilder &b, Location loc, Value init, Value lhs,
                           AffineMap lhsMap, Value rhs, AffineMap rhsMap,
                           std::optional<unsigned> reductionLoop) {
  auto type = cast<RankedTensorType>(init.getType());
  unsigned rank = type.getRank();
  unsigned reduction = reductionLoop.value_or(rank);
  SmallVector<utils::IteratorType> iterators(rank + 1,
                                             utils::IteratorType::parallel);
  iterators[reduction] = utils::IteratorType::reduction;
  SmallVector<unsigned> resultDims;
  for (unsigned d = 0; d <= rank; ++d)
    if (d != reduction)
      resultDims.push_back(d);
  SmallVector<AffineMap> maps = {
      lhsMap, rhsMap, projectionMap(b.getContext(), rank + 1, resultDims)};
  // Reassociation lets LLVM vectorize the sums and contract the products
  // into FMAs; the result moves by a few ulps, like any BLAS.
  auto fastMath = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{lhs, rhs}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        // Weights stored narrower (f16, bf16) are widened as they are read.
        Type accType = args[2].getType();
        auto widen = [&](Value v) -> Value {
          return v.getType() == accType
                     ? v
                     : arith::ExtFOp::create(nb, nloc, accType, v).getResult();
        };
        Value product = arith::MulFOp::create(nb, nloc, widen(args[0]),
                                              widen(args[1]), fastMath);
        Value sum = arith::AddFOp::create(nb, nloc, args[2], product, fastMath);
        linalg::YieldOp::create(nb, nloc, sum);
      });
  return generic.getResult(0);
}

/// The loop dimensions of a rank-`rank` nest other than `axis`.
static SmallVector<unsigned> allBut(unsigned rank, unsigned axis) {
  SmallVector<unsigned> dims;
  for (unsigned d = 0; d < rank; ++d)
    if (d != axis)
      dims.push_back(d);
  return dims;
}

/// Iterators of a nest that reduces along `axis`.
static SmallVector<utils::IteratorType> reductionIterators(unsigned rank,
                                                           unsigned axis) {
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[axis] = utils::IteratorType::reduction;
  return iterators;
}

Value mlir::attn::reduceAxis(
    OpBuilder &b, Location loc, Value input, unsigned axis, double init,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> transform) {
  auto inputType = cast<RankedTensorType>(input.getType());
  unsigned rank = inputType.getRank();
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, input);
  sizes.erase(sizes.begin() + axis);
  SmallVector<int64_t> shape(inputType.getShape());
  shape.erase(shape.begin() + axis);
  auto resultType = RankedTensorType::get(shape, inputType.getElementType());
  Value acc = filledTensor(b, loc, resultType, sizes, init);
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {identityMap(ctx, rank),
                                 projectionMap(ctx, rank, allBut(rank, axis))};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{acc}, maps,
      reductionIterators(rank, axis),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value x = transform(nb, nloc, args[0], loopIndices(nb, nloc, rank));
        linalg::YieldOp::create(nb, nloc, combine(nb, nloc, args[1], x));
      });
  return generic.getResult(0);
}

Value mlir::attn::softmaxAlong(
    OpBuilder &b, Location loc, Value input, unsigned axis,
    RankedTensorType resultType,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> transform) {
  unsigned rank = resultType.getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap rowMap = projectionMap(ctx, rank, allBut(rank, axis));
  AffineMap id = identityMap(ctx, rank);

  Value max = reduceAxis(
      b, loc, input, axis, -std::numeric_limits<double>::infinity(),
      [](OpBuilder &nb, Location nloc, Value acc, Value x) -> Value {
        return arith::MaximumFOp::create(nb, nloc, acc, x);
      },
      transform);

  // exp(t(x) - max) of one element; shared by the sum and the result.
  auto shiftedExp = [&](OpBuilder &nb, Location nloc, Value x, Value rowMax) {
    Value t = transform(nb, nloc, x, loopIndices(nb, nloc, rank));
    return math::ExpOp::create(nb, nloc,
                               arith::SubFOp::create(nb, nloc, t, rowMax));
  };

  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, input);
  SmallVector<OpFoldResult> rowSizes(sizes);
  rowSizes.erase(rowSizes.begin() + axis);
  auto rowType = cast<RankedTensorType>(max.getType());
  Value zeros = filledTensor(b, loc, rowType, rowSizes, 0.0);
  Value sum =
      linalg::GenericOp::create(
          b, loc, TypeRange{rowType}, ValueRange{input, max},
          ValueRange{zeros}, ArrayRef<AffineMap>{id, rowMap, rowMap},
          reductionIterators(rank, axis),
          [&](OpBuilder &nb, Location nloc, ValueRange args) {
            Value e = shiftedExp(nb, nloc, args[0], args[1]);
            Value partial = arith::AddFOp::create(nb, nloc, args[2], e);
            linalg::YieldOp::create(nb, nloc, partial);
          })
          .getResult(0);

  return elementwise(b, loc, resultType, sizes, ValueRange{input, max, sum},
                     {id, rowMap, rowMap},
                     [&](OpBuilder &nb, Location nloc, ValueRange args) {
                       Value e = shiftedExp(nb, nloc, args[0], args[1]);
                       return arith::DivFOp::create(nb, nloc, e, args[2]);
                     });
}

Value mlir::attn::foldVector(
    OpBuilder &b, Location loc, Value vector, Value init,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value size = tensor::DimOp::create(b, loc, vector, c0);
  auto loop = scf::ForOp::create(
      b, loc, c0, size, c1, ValueRange{init},
      [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
        Value x = tensor::ExtractOp::create(nb, l, vector, ValueRange{i});
        scf::YieldOp::create(nb, l, combine(nb, l, acc[0], x));
      });
  return loop.getResult(0);
}
