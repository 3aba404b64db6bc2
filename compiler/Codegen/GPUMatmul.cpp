//===- GPUMatmul.cpp - linear layer kernels for the GPU -------------------===//
//
// attn.linear as generated kernels rather than cuBLAS calls: a matrix
// product tiled through shared memory for a step's rows, and a matrix-vector
// product for a decode step's one row. Weights are read in their storage
// layout ([in, out] or [out, in]) and element type (f32, f16, bf16: widened
// on load); sums are in f32, the bias added last.
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/GPUKernelBuilder.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

/// w(i, o) of a linear's weight in its storage layout, as `type`.
static Value weightAt(OpBuilder &b, Location loc, LinearOp op, Value weight,
                      Value i, Value o, Type type) {
  bool inOut = op.getLayout() == WeightLayout::in_out;
  return loadAs(b, loc, weight, inOut ? ValueRange{i, o} : ValueRange{o, i},
                type);
}

/// `y` plus the linear's bias at feature `o`.
static Value addBias(OpBuilder &b, Location loc, LinearOp op,
                     const KernelValues &values, Value y, Value o, Type type) {
  if (!op.getBias())
    return y;
  return arith::AddFOp::create(
      b, loc, y,
      loadAs(b, loc, values.binding(op.getBias()), ValueRange{o}, type));
}

void gpu_kernels::emitMatmul(OpBuilder &b, Location loc, LinearOp op,
                             const KernelValues &values, const WorkRange &range,
                             Value xs, Value ws, Value acc) {
  Value x = values.binding(op.getInput()), w = values.binding(op.getWeight());
  Value out = values.output();
  Type type = op.getType().getElementType();
  bool inOut = op.getLayout() == WeightLayout::in_out;
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  Value tile = indexConstant(b, loc, kMatmulTile);
  Value fzero = floatConstant(b, loc, type, 0.0);
  int64_t warps = range.blockSize / kMatmulTile;
  int64_t rowsPerThread = kMatmulTile / warps;
  Value rows = dimOf(b, loc, x, 0), depth = dimOf(b, loc, x, 1);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = arith::RemUIOp::create(b, loc, thread, tile);
  Value warp = arith::DivUIOp::create(b, loc, thread, tile);
  Value feature = arith::AddIOp::create(b, loc, range.begin, lane);
  Value hasFeature = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           lane, range.count);
  // Row r of this thread within the row tile.
  auto rowOf = [&](Value r) {
    return arith::AddIOp::create(
        b, loc, warp,
        arith::MulIOp::create(b, loc, r, indexConstant(b, loc, warps)));
  };
  // value(a, c) for a, c < kMatmulTile stored at tile[a, c], or 0 where
  // `inside(a, c)` is false; element e of the slice goes to thread e mod
  // blockSize with c varying fastest.
  auto stage = [&](Value dest, function_ref<Value(Value, Value)> inside,
                   function_ref<Value(Value, Value)> value, bool transpose) {
    forLoop(b, loc, thread, indexConstant(b, loc, kMatmulTile * kMatmulTile),
            indexConstant(b, loc, range.blockSize), [&](Value e) {
              Value a = arith::DivUIOp::create(b, loc, e, tile);
              Value c = arith::RemUIOp::create(b, loc, e, tile);
              auto guard =
                  scf::IfOp::create(b, loc, TypeRange{type}, inside(a, c),
                                    /*withElseRegion=*/true);
              {
                OpBuilder::InsertionGuard g(b);
                b.setInsertionPointToStart(guard.thenBlock());
                scf::YieldOp::create(b, loc, value(a, c));
                b.setInsertionPointToStart(guard.elseBlock());
                scf::YieldOp::create(b, loc, fzero);
              }
              memref::StoreOp::create(b, loc, guard.getResult(0), dest,
                                      transpose ? ValueRange{c, a}
                                                : ValueRange{a, c});
            });
  };
  auto less = [&](Value a, Value bound) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, a, bound);
  };

  range.forEachTile(b, loc, rows, kMatmulTile, [&](Value rowTile) {
    forLoop(b, loc, zero, indexConstant(b, loc, rowsPerThread), one,
            [&](Value r) {
              memref::StoreOp::create(b, loc, fzero, acc, ValueRange{r});
            });
    forLoop(b, loc, zero, depth, tile, [&](Value k0) {
      // xs[row, k] = x[rowTile + row, k0 + k].
      stage(
          xs,
          [&](Value row, Value k) -> Value {
            Value inRows =
                less(arith::AddIOp::create(b, loc, rowTile, row), rows);
            Value inDepth = less(arith::AddIOp::create(b, loc, k0, k), depth);
            return arith::AndIOp::create(b, loc, inRows, inDepth);
          },
          [&](Value row, Value k) {
            return loadAs(
                b, loc, x,
                ValueRange{arith::AddIOp::create(b, loc, rowTile, row),
                           arith::AddIOp::create(b, loc, k0, k)},
                type);
          },
          /*transpose=*/false);
      // ws[k, feature] = w(k0 + k, begin + feature), read along the
      // weight's contiguous axis.
      auto inside = [&](Value k, Value f) -> Value {
        return arith::AndIOp::create(
            b, loc, less(arith::AddIOp::create(b, loc, k0, k), depth),
            less(f, range.count));
      };
      auto weight = [&](Value k, Value f) {
        return weightAt(b, loc, op, w, arith::AddIOp::create(b, loc, k0, k),
                        arith::AddIOp::create(b, loc, range.begin, f), type);
      };
      if (inOut)
        stage(ws, inside, weight, /*transpose=*/false);
      else
        stage(
            ws, [&](Value f, Value k) { return inside(k, f); },
            [&](Value f, Value k) { return weight(k, f); },
            /*transpose=*/true);
      gpu::BarrierOp::create(b, loc);
      forLoop(b, loc, zero, tile, one, [&](Value k) {
        Value wk = memref::LoadOp::create(b, loc, ws, ValueRange{k, lane});
        forLoop(b, loc, zero, indexConstant(b, loc, rowsPerThread), one,
                [&](Value r) {
                  Value xk = memref::LoadOp::create(b, loc, xs,
                                                    ValueRange{rowOf(r), k});
                  Value a = memref::LoadOp::create(b, loc, acc, ValueRange{r});
                  Value sum = arith::AddFOp::create(
                      b, loc, a, arith::MulFOp::create(b, loc, xk, wk));
                  memref::StoreOp::create(b, loc, sum, acc, ValueRange{r});
                });
      });
      // The next step overwrites the tiles.
      gpu::BarrierOp::create(b, loc);
    });
    forLoop(
        b, loc, zero, indexConstant(b, loc, rowsPerThread), one, [&](Value r) {
          Value row = arith::AddIOp::create(b, loc, rowTile, rowOf(r));
          auto guard = scf::IfOp::create(
              b, loc,
              arith::AndIOp::create(b, loc, less(row, rows), hasFeature));
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(guard.thenBlock()->getTerminator());
          Value y = addBias(b, loc, op, values,
                            memref::LoadOp::create(b, loc, acc, ValueRange{r}),
                            feature, type);
          memref::StoreOp::create(b, loc, y, out, ValueRange{row, feature});
        });
  });
}

void gpu_kernels::emitMatVec(OpBuilder &b, Location loc, LinearOp op,
                             const KernelValues &values, const WorkRange &range,
                             Value partials) {
  Value x = values.binding(op.getInput()), w = values.binding(op.getWeight());
  Value out = values.output();
  Type type = op.getType().getElementType();
  bool inOut = op.getLayout() == WeightLayout::in_out;
  int64_t slices = range.blockSize / kMatVecColumns;
  Value zero = indexConstant(b, loc, 0);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  // [in, out]: features fastest across threads; [out, in]: reduction fastest.
  Value fastSize = indexConstant(b, loc, inOut ? kMatVecColumns : slices);
  Value fast = arith::RemUIOp::create(b, loc, thread, fastSize);
  Value slow = arith::DivUIOp::create(b, loc, thread, fastSize);
  Value column = inOut ? fast : slow, slice = inOut ? slow : fast;
  Value feature = arith::AddIOp::create(b, loc, range.begin, column);
  Value hasFeature = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           column, range.count);
  Value fzero = floatConstant(b, loc, type, 0.0);
  // The reduction is the weight's static input axis: thread `slice` takes
  // i = slice + j * slices for j < steps, kMatVecUnroll at a time with
  // independent loads, so that enough bytes are in flight to stream the
  // weights at the memory's rate. Indices past the end are clamped (a valid
  // load) and their product dropped.
  int64_t depth =
      cast<MemRefType>(w.getType()).getDimSize(inOut ? 0 : 1);
  int64_t steps = llvm::divideCeil(depth, slices);
  int64_t unroll = std::max<int64_t>(1, std::min(kMatVecUnroll, steps));
  Value last = indexConstant(b, loc, depth - 1);
  auto partial = scf::IfOp::create(b, loc, TypeRange{type}, hasFeature,
                                   /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(partial.thenBlock());
    SmallVector<Value> inits(unroll, fzero);
    auto loop = scf::ForOp::create(
        b, loc, zero, indexConstant(b, loc, steps),
        indexConstant(b, loc, unroll), inits);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> sums;
    for (int64_t u = 0; u < unroll; ++u) {
      Value j = arith::AddIOp::create(b, loc, loop.getInductionVar(),
                                      indexConstant(b, loc, u));
      Value i = arith::AddIOp::create(
          b, loc, slice,
          arith::MulIOp::create(b, loc, j, indexConstant(b, loc, slices)));
      Value clamped = arith::MinUIOp::create(b, loc, i, last);
      Value product = arith::MulFOp::create(
          b, loc, loadAs(b, loc, x, ValueRange{zero, clamped}, type),
          weightAt(b, loc, op, w, clamped, feature, type));
      Value inside =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i,
                                indexConstant(b, loc, depth));
      sums.push_back(arith::AddFOp::create(
          b, loc, loop.getRegionIterArgs()[u],
          arith::SelectOp::create(b, loc, inside, product, fzero)));
    }
    scf::YieldOp::create(b, loc, sums);
    b.setInsertionPointAfter(loop);
    Value total = loop.getResult(0);
    for (int64_t u = 1; u < unroll; ++u)
      total = arith::AddFOp::create(b, loc, total, loop.getResult(u));
    scf::YieldOp::create(b, loc, total);
    b.setInsertionPointToStart(partial.elseBlock());
    scf::YieldOp::create(b, loc, ValueRange{fzero});
  }
  memref::StoreOp::create(b, loc, partial.getResult(0), partials,
                          ValueRange{slice, column});
  gpu::BarrierOp::create(b, loc);
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, thread,
                                      indexConstant(b, loc, kMatVecColumns));
  Value firstWithFeature = arith::AndIOp::create(
      b, loc, first,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, thread,
                            range.count));
  auto guard = scf::IfOp::create(b, loc, firstWithFeature);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(guard.thenBlock()->getTerminator());
  Value sum = foldLoop(b, loc, zero, indexConstant(b, loc, slices), fzero,
                       [&](Value a, Value k) -> Value {
                         Value p = memref::LoadOp::create(
                             b, loc, partials, ValueRange{k, thread});
                         return arith::AddFOp::create(b, loc, a, p);
                       });
  Value o = arith::AddIOp::create(b, loc, range.begin, thread);
  memref::StoreOp::create(b, loc, addBias(b, loc, op, values, sum, o, type),
                          out, ValueRange{zero, o});
}
