//===- GPUMatmul.cpp - linear layer kernels for the GPU -------------------===//
//
// attn.linear as generated kernels rather than cuBLAS calls: a matrix
// product tiled through shared memory for a step's rows, and a matrix-vector
// product for a decode step's one row. Weights are read in their storage
// layout ([in, out] or [out, in]) and element type (f32, or f16 and bf16
// widened on load); sums are in f32, then the epilogue: bias, activation,
// residual.
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

/// The linear's epilogue applied to the product `y` at (row, feature `o`):
/// the bias, the activation, then the residual.
static Value epilogue(OpBuilder &b, Location loc, LinearOp op,
                      const KernelValues &values, Value y, Value row, Value o,
                      Type type) {
  if (op.getBias())
    y = arith::AddFOp::create(
        b, loc, y,
        loadAs(b, loc, values.binding(op.getBias()), ValueRange{o}, type));
  if (op.getActivation())
    y = geluTanh(b, loc, y);
  if (op.getResidual())
    y = arith::AddFOp::create(
        b, loc, y,
        loadAs(b, loc, values.binding(op.getResidual()), ValueRange{row, o},
               type));
  return y;
}

void gpu_kernels::emitMatmul(OpBuilder &b, Location loc, LinearOp op,
                             const KernelValues &values, const WorkRange &range,
                             Value xs, Value ws) {
  assert(range.blockSize == kMatmulThreads && "a matmul block is 16 x 16");
  Value x = values.binding(op.getInput()), w = values.binding(op.getWeight());
  Value out = values.output();
  Type type = op.getType().getElementType();
  bool inOut = op.getLayout() == WeightLayout::in_out;
  constexpr int64_t side = 16; // threads along each axis of the tile
  constexpr int64_t perThread = kMatmulTile / side;
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value rows = dimOf(b, loc, x, 0), depth = dimOf(b, loc, x, 1);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value tx =
      arith::RemUIOp::create(b, loc, thread, indexConstant(b, loc, side));
  Value ty =
      arith::DivUIOp::create(b, loc, thread, indexConstant(b, loc, side));
  auto less = [&](Value a, Value bound) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, a, bound);
  };
  auto add = [&](Value a, Value c) -> Value {
    return arith::AddIOp::create(b, loc, a, c);
  };
  auto offset = [&](Value base, int64_t i) {
    return add(base, indexConstant(b, loc, side * i));
  };
  // value(e / width, e % width), or 0 where `inside` is false, for the
  // tile's elements e on this thread (e = thread, thread + blockSize, ...),
  // stored by `store`.
  auto stage = [&](int64_t width,
                   function_ref<Value(Value, Value)> inside,
                   function_ref<Value(Value, Value)> value,
                   function_ref<void(Value, Value, Value)> store) {
    for (int64_t e = 0; e < kMatmulTile * kMatmulDepth; e += kMatmulThreads) {
      Value element = add(thread, indexConstant(b, loc, e));
      Value a =
          arith::DivUIOp::create(b, loc, element, indexConstant(b, loc, width));
      Value c =
          arith::RemUIOp::create(b, loc, element, indexConstant(b, loc, width));
      auto guard = scf::IfOp::create(b, loc, TypeRange{type}, inside(a, c),
                                     /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(guard.thenBlock());
        scf::YieldOp::create(b, loc, value(a, c));
        b.setInsertionPointToStart(guard.elseBlock());
        scf::YieldOp::create(b, loc, fzero);
      }
      store(a, c, guard.getResult(0));
    }
  };

  range.forEachTile(b, loc, rows, kMatmulTile, [&](Value rowTile) {
    SmallVector<Value> zeros(perThread * perThread, fzero);
    auto steps =
        scf::ForOp::create(b, loc, indexConstant(b, loc, 0), depth,
                           indexConstant(b, loc, kMatmulDepth), zeros);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(steps.getBody());
      Value k0 = steps.getInductionVar();
      // xs[k, row] = x[rowTile + row, k0 + k], read along x's rows.
      stage(
          kMatmulDepth,
          [&](Value row, Value k) -> Value {
            return arith::AndIOp::create(b, loc, less(add(rowTile, row), rows),
                                         less(add(k0, k), depth));
          },
          [&](Value row, Value k) {
            return loadAs(b, loc, x, ValueRange{add(rowTile, row), add(k0, k)},
                          type);
          },
          [&](Value row, Value k, Value v) {
            memref::StoreOp::create(b, loc, v, xs, ValueRange{k, row});
          });
      // ws[k, f] = w(k0 + k, begin + f), read along the weight's contiguous
      // axis.
      auto inside = [&](Value k, Value f) -> Value {
        return arith::AndIOp::create(b, loc, less(add(k0, k), depth),
                                     less(f, range.count));
      };
      auto weight = [&](Value k, Value f) {
        return weightAt(b, loc, op, w, add(k0, k), add(range.begin, f), type);
      };
      auto storeWeight = [&](Value k, Value f, Value v) {
        memref::StoreOp::create(b, loc, v, ws, ValueRange{k, f});
      };
      if (inOut)
        stage(kMatmulTile, inside, weight, storeWeight);
      else
        stage(
            kMatmulDepth, [&](Value f, Value k) { return inside(k, f); },
            [&](Value f, Value k) { return weight(k, f); },
            [&](Value f, Value k, Value v) { storeWeight(k, f, v); });
      gpu::BarrierOp::create(b, loc);
      // Rows ty + 16 i and features tx + 16 j of the tile: a half-warp
      // reads one broadcast x and 16 consecutive weights per step.
      SmallVector<Value> acc(steps.getRegionIterArgs());
      for (int64_t k = 0; k < kMatmulDepth; ++k) {
        Value kk = indexConstant(b, loc, k);
        SmallVector<Value> xk, wk;
        for (int64_t i = 0; i < perThread; ++i) {
          xk.push_back(
              memref::LoadOp::create(b, loc, xs, ValueRange{kk, offset(ty, i)}));
          wk.push_back(
              memref::LoadOp::create(b, loc, ws, ValueRange{kk, offset(tx, i)}));
        }
        for (int64_t i = 0; i < perThread; ++i)
          for (int64_t j = 0; j < perThread; ++j) {
            Value &a = acc[i * perThread + j];
            a = arith::AddFOp::create(
                b, loc, a, arith::MulFOp::create(b, loc, xk[i], wk[j]));
          }
      }
      // The next step overwrites the tiles.
      gpu::BarrierOp::create(b, loc);
      scf::YieldOp::create(b, loc, acc);
    }
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j) {
        Value row = add(rowTile, offset(ty, i));
        Value f = offset(tx, j);
        auto guard = scf::IfOp::create(
            b, loc,
            arith::AndIOp::create(b, loc, less(row, rows),
                                  less(f, range.count)));
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(guard.thenBlock()->getTerminator());
        Value feature = add(range.begin, f);
        Value y = epilogue(b, loc, op, values,
                           steps.getResult(i * perThread + j), row, feature,
                           type);
        memref::StoreOp::create(b, loc, y, out, ValueRange{row, feature});
      }
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
  memref::StoreOp::create(b, loc,
                          epilogue(b, loc, op, values, sum, zero, o, type), out,
                          ValueRange{zero, o});
}
