//===- GPUKernelBuilder.cpp - building blocks of the GPU kernels ----------===//

#include "compiler/Codegen/GPUKernelBuilder.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::gpu_kernels {

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value dimOf(OpBuilder &b, Location loc, Value v, int64_t axis) {
  auto type = cast<MemRefType>(v.getType());
  if (!type.isDynamicDim(axis))
    return indexConstant(b, loc, type.getDimSize(axis));
  return memref::DimOp::create(b, loc, v, axis);
}

SmallVector<Value> dimsOf(OpBuilder &b, Location loc, Value v) {
  SmallVector<Value> dims;
  for (int64_t axis = 0, e = cast<MemRefType>(v.getType()).getRank(); axis < e;
       ++axis)
    dims.push_back(dimOf(b, loc, v, axis));
  return dims;
}

Value loadAs(OpBuilder &b, Location loc, Value memref, ValueRange indices,
             Type type) {
  Value v = memref::LoadOp::create(b, loc, memref, indices);
  if (v.getType() == type)
    return v;
  return arith::ExtFOp::create(b, loc, type, v);
}

void forLoop(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
             function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

Value foldLoop(OpBuilder &b, Location loc, Value lb, Value ub, Value init,
               function_ref<Value(Value, Value)> step, Value stride) {
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, stride ? stride : indexConstant(b, loc, 1),
      ValueRange{init});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value next = step(loop.getRegionIterArgs()[0], loop.getInductionVar());
  scf::YieldOp::create(b, loc, next);
  return loop.getResult(0);
}

SmallVector<Value> withIndex(ValueRange indices, int64_t axis, Value value) {
  SmallVector<Value> result(indices);
  result[axis] = value;
  return result;
}

SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value linear,
                               ArrayRef<Value> sizes) {
  SmallVector<Value> indices(sizes.size());
  for (int64_t axis = sizes.size() - 1; axis >= 0; --axis) {
    if (axis == 0) {
      indices[0] = linear;
      break;
    }
    indices[axis] = arith::RemUIOp::create(b, loc, linear, sizes[axis]);
    linear = arith::DivUIOp::create(b, loc, linear, sizes[axis]);
  }
  return indices;
}

Value finiteOrZero(OpBuilder &b, Location loc, Value max) {
  Type type = max.getType();
  Value isNegInf = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, max,
                                         floatConstant(b, loc, type, kNegInf));
  return arith::SelectOp::create(b, loc, isNegInf,
                                 floatConstant(b, loc, type, 0.0), max);
}

Value scaleAndMask(OpBuilder &b, Location loc, Value x, double scale,
                   std::optional<double> fill, Value offset, Value query,
                   Value key) {
  Type type = x.getType();
  Value scaled =
      scale == 1.0
          ? x
          : arith::MulFOp::create(b, loc, x, floatConstant(b, loc, type, scale))
                .getResult();
  if (!fill)
    return scaled;
  Value limit = arith::AddIOp::create(b, loc, offset, query);
  Value visible =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, key, limit);
  return arith::SelectOp::create(b, loc, visible, scaled,
                                 floatConstant(b, loc, type, *fill));
}

Value addF(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}

void emitIf(OpBuilder &b, Location loc, Value condition,
            function_ref<void()> body) {
  auto guard = scf::IfOp::create(b, loc, condition);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(guard.thenBlock()->getTerminator());
  body();
}

Value warpAllReduce(OpBuilder &b, Location loc, Value value,
                    function_ref<Value(Value, Value)> combine) {
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Value other = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = combine(value, other);
  }
  return value;
}

Value blockAllReduce(OpBuilder &b, Location loc, Value value,
                     function_ref<Value(Value, Value)> combine,
                     Value identity, Value scratch, int64_t blockSize) {
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value warp =
      arith::DivUIOp::create(b, loc, thread, indexConstant(b, loc, kWarpSize));
  Value lane =
      arith::RemUIOp::create(b, loc, thread, indexConstant(b, loc, kWarpSize));
  Value warpValue = warpAllReduce(b, loc, value, combine);
  emitIf(b, loc,
         arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                               indexConstant(b, loc, 0)),
         [&] {
           memref::StoreOp::create(b, loc, warpValue, scratch,
                                   ValueRange{warp});
         });
  gpu::BarrierOp::create(b, loc);
  // Every thread folds the warps' values in the same order: one result.
  Value total = foldLoop(
      b, loc, indexConstant(b, loc, 0),
      indexConstant(b, loc, blockSize / kWarpSize), identity,
      [&](Value acc, Value w) {
        return combine(acc,
                       memref::LoadOp::create(b, loc, scratch, ValueRange{w}));
      });
  // The scratch may be written again right after.
  gpu::BarrierOp::create(b, loc);
  return total;
}

RowNorm::RowNorm(OpBuilder &b, Location loc, Value n, Type type,
                 double epsilon, function_ref<Value(Value)> input,
                 function_ref<Value(function_ref<Value(Value)>)> rowSum) {
  Value count = arith::SIToFPOp::create(
      b, loc, type, arith::IndexCastOp::create(b, loc, b.getI64Type(), n));
  mean = arith::DivFOp::create(b, loc, rowSum(input), count);
  Value squares = rowSum([&](Value i) -> Value {
    Value centered = arith::SubFOp::create(b, loc, input(i), mean);
    return arith::MulFOp::create(b, loc, centered, centered);
  });
  Value variance = arith::DivFOp::create(b, loc, squares, count);
  stddev = math::SqrtOp::create(
      b, loc,
      arith::AddFOp::create(b, loc, variance,
                            floatConstant(b, loc, type, epsilon)));
}

Value RowNorm::apply(OpBuilder &b, Location loc, Value x, Value gamma,
                     Value beta) const {
  Value centered = arith::SubFOp::create(b, loc, x, mean);
  Value scaled = arith::MulFOp::create(
      b, loc, arith::DivFOp::create(b, loc, centered, stddev), gamma);
  return arith::AddFOp::create(b, loc, scaled, beta);
}

unsigned KernelValues::bindingIndex(Value tensor) const {
  while (auto slice = tensor.getDefiningOp<tensor::ExtractSliceOp>())
    tensor = slice.getSource();
  auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
  return cast<BlockArgument>(toTensor.getBuffer()).getArgNumber();
}

void WorkRange::forEachIndex(OpBuilder &b, Location loc, ArrayRef<Value> sizes,
                             int64_t axis, function_ref<void(ValueRange)> body,
                             int64_t group) const {
  SmallVector<Value> box(sizes);
  box[axis] = count;
  Value total = indexConstant(b, loc, 1);
  for (Value size : box)
    total = arith::MulIOp::create(b, loc, total, size);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value first =
      arith::DivUIOp::create(b, loc, thread, indexConstant(b, loc, group));
  forLoop(b, loc, first, total, indexConstant(b, loc, blockSize / group),
          [&](Value linear) {
            SmallVector<Value> indices = delinearize(b, loc, linear, box);
            indices[axis] = arith::AddIOp::create(b, loc, indices[axis], begin);
            body(indices);
          });
}

void WorkRange::forEachTile(OpBuilder &b, Location loc, Value n,
                            int64_t tileSize,
                            function_ref<void(Value)> body) const {
  Value first = arith::MulIOp::create(b, loc, blockY,
                                      indexConstant(b, loc, tileSize));
  forLoop(b, loc, first, n, indexConstant(b, loc, tileSize * gridY), body);
}

void WarpRow::forEach(OpBuilder &b, Location loc, Value n,
                      function_ref<void(Value)> body) const {
  forLoop(b, loc, lane, n, indexConstant(b, loc, kWarpSize), body);
}

Value WarpRow::reduce(OpBuilder &b, Location loc, Value n, Value init,
                      function_ref<Value(Value, Value)> step,
                      function_ref<Value(Value, Value)> combine) const {
  auto loop = scf::ForOp::create(
      b, loc, lane, n, indexConstant(b, loc, kWarpSize), ValueRange{init});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    scf::YieldOp::create(
        b, loc, step(loop.getRegionIterArgs()[0], loop.getInductionVar()));
  }
  return warpAllReduce(b, loc, loop.getResult(0), combine);
}

} // namespace mlir::attn::gpu_kernels
