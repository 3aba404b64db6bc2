//===- RegisterTileContractions.cpp - matmul tiles held in registers ------===//

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_REGISTERTILECONTRACTIONS
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// C[s, o] += f(X[s, k], W[o, k]) on memrefs: loops (s, o, k), the rows of X
/// and W contiguous along k, one combining op yielded from the body.
static bool isDotContraction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != 3)
    return false;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators[0] != utils::IteratorType::parallel ||
      iterators[1] != utils::IteratorType::parallel ||
      iterators[2] != utils::IteratorType::reduction)
    return false;
  MLIRContext *ctx = op.getContext();
  AffineExpr s, o, k;
  bindDims(ctx, s, o, k);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0] != AffineMap::get(3, 0, {s, k}, ctx) ||
      maps[1] != AffineMap::get(3, 0, {o, k}, ctx) ||
      maps[2] != AffineMap::get(3, 0, {s, o}, ctx))
    return false;
  // Contiguous rows, so that the k loop vectorizes into plain vector loads.
  for (Value operand : op.getDpsInputs()) {
    auto type = cast<MemRefType>(operand.getType());
    int64_t offset;
    SmallVector<int64_t> strides;
    if (failed(type.getStridesAndOffset(strides, offset)) || strides[1] != 1)
      return false;
  }
  return true;
}

namespace {
struct RegisterTileContractions
    : public attn::impl::RegisterTileContractionsBase<
          RegisterTileContractions> {
  using RegisterTileContractionsBase::RegisterTileContractionsBase;

  void runOnOperation() override {
    if (rowTile < 1 || columnTile < 1 || rowRemainderColumnTile < 1 ||
        kBlock < 1) {
      getOperation()->emitError()
          << "row-tile, column-tile, remainder-column-tile and k-block must "
             "be positive, got "
          << static_cast<int64_t>(rowTile) << ", "
          << static_cast<int64_t>(columnTile) << ", "
          << static_cast<int64_t>(rowRemainderColumnTile) << " and "
          << static_cast<int64_t>(kBlock);
      return signalPassFailure();
    }
    SmallVector<linalg::GenericOp> candidates;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (isDotContraction(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : candidates)
      tile(rewriter, op);
  }

  /// The generic computing rows [rowBegin, rowEnd) and columns
  /// [colBegin, colEnd) of `op`'s output: `op` itself on subviews.
  void cloneOnRange(OpBuilder &b, Location loc, linalg::GenericOp op,
                    Value rowBegin, Value rowEnd, Value colBegin,
                    Value colEnd) const {
    Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1];
    Value c = op.getDpsInits()[0];
    // Constants stay attributes, so that the views keep static unit inner
    // strides (and sizes where known): what lets the loops vectorize.
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    OpFoldResult depth = memref::getMixedSize(b, loc, x, 1);
    OpFoldResult rows = getAsOpFoldResult(
        arith::SubIOp::create(b, loc, rowEnd, rowBegin).getResult());
    OpFoldResult cols = getAsOpFoldResult(
        arith::SubIOp::create(b, loc, colEnd, colBegin).getResult());
    auto view = [&](Value source, OpFoldResult first, OpFoldResult second,
                    OpFoldResult firstSize, OpFoldResult secondSize) -> Value {
      return memref::SubViewOp::create(b, loc, source, {first, second},
                                       {firstSize, secondSize}, {one, one});
    };
    IRMapping mapping;
    mapping.map(x, view(x, getAsOpFoldResult(rowBegin), zero, rows, depth));
    mapping.map(w, view(w, getAsOpFoldResult(colBegin), zero, cols, depth));
    mapping.map(c, view(c, getAsOpFoldResult(rowBegin),
                        getAsOpFoldResult(colBegin), rows, cols));
    b.clone(*op, mapping);
  }

  /// Rows [rowBegin, rowEnd) (a multiple of `rows`) of `op`'s output in
  /// `rows` x `cols` tiles, one block of columns at a time, and the columns
  /// past the last full tile with `op` itself.
  void emitTiles(OpBuilder &b, Location loc, linalg::GenericOp op,
                 Value rowBegin, Value rowEnd, int64_t rows,
                 int64_t cols) const {
    Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1];
    Value c = op.getDpsInits()[0];
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value zero = index(0), one = index(1);
    Value columns = memref::DimOp::create(b, loc, c, 1);
    Value depth = memref::DimOp::create(b, loc, x, 1);
    Value rowStep = index(rows), colStep = index(cols);
    Value fullCols = arith::SubIOp::create(
        b, loc, columns, arith::RemUIOp::create(b, loc, columns, colStep));
    // A block holds the weight rows of as many columns (a multiple of
    // `cols`, at least `cols`) as fit `columnBlockBytes`: every row tile
    // then reads them from L2, where without blocks each row tile streamed
    // the whole weight from L3 or memory again.
    int64_t elementBytes =
        std::max<int64_t>(1, getElementTypeOrSelf(w.getType())
                                     .getIntOrFloatBitWidth() / 8);
    Value blockRows = arith::DivUIOp::create(
        b, loc, index(std::max<int64_t>(1, columnBlockBytes / elementBytes)),
        arith::MaxUIOp::create(b, loc, depth, one));
    Value blockCols = arith::MaxUIOp::create(
        b, loc,
        arith::MulIOp::create(
            b, loc, arith::DivUIOp::create(b, loc, blockRows, colStep),
            colStep),
        colStep);

    Block &body = op.getRegion().front();
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    OpBuilder::InsertionGuard guard(b);
    auto blockLoop = scf::ForOp::create(b, loc, zero, fullCols, blockCols);
    b.setInsertionPointToStart(blockLoop.getBody());
    Value blockBegin = blockLoop.getInductionVar();
    Value blockEnd = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, blockBegin, blockCols),
        fullCols);
    auto rowLoop = scf::ForOp::create(b, loc, rowBegin, rowEnd, rowStep);
    b.setInsertionPointToStart(rowLoop.getBody());
    Value s0 = rowLoop.getInductionVar();
    // The k loop a chunk of `kBlock` at a time for all the block's column
    // tiles, so that the row tile's chunk of X stays in L1 from one column
    // tile to the next (a 3072-deep tile's rows of X and W would not fit
    // it); the accumulators go through the output between chunks.
    Value kStep = index(kBlock);
    auto chunkLoop = scf::ForOp::create(b, loc, zero, depth, kStep);
    b.setInsertionPointToStart(chunkLoop.getBody());
    Value k0 = chunkLoop.getInductionVar();
    Value kEnd = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, k0, kStep), depth);
    auto colLoop = scf::ForOp::create(b, loc, blockBegin, blockEnd, colStep);
    b.setInsertionPointToStart(colLoop.getBody());
    Value o0 = colLoop.getInductionVar();

    // Rows s0 + i and columns o0 + j of the tile.
    SmallVector<Value> rowIndex, colIndex;
    for (int64_t i = 0; i < rows; ++i)
      rowIndex.push_back(arith::AddIOp::create(b, loc, s0, index(i)));
    for (int64_t j = 0; j < cols; ++j)
      colIndex.push_back(arith::AddIOp::create(b, loc, o0, index(j)));

    // The tile's accumulators are loop-carried scalars, not memory: LLVM
    // then keeps each in a vector register across the k loop and
    // vectorizes the loop as rows * cols independent reductions.
    SmallVector<Value> initial;
    for (Value s : rowIndex)
      for (Value o : colIndex)
        initial.push_back(memref::LoadOp::create(b, loc, c, ValueRange{s, o}));
    auto kLoop = scf::ForOp::create(
        b, loc, k0, kEnd, one, initial,
        [&](OpBuilder &nb, Location l, Value kv, ValueRange accs) {
          SmallVector<Value> xs, ws;
          for (Value s : rowIndex)
            xs.push_back(memref::LoadOp::create(nb, l, x, ValueRange{s, kv}));
          for (Value o : colIndex)
            ws.push_back(memref::LoadOp::create(nb, l, w, ValueRange{o, kv}));
          SmallVector<Value> next;
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) {
              IRMapping mapping;
              mapping.map(body.getArgument(0), xs[i]);
              mapping.map(body.getArgument(1), ws[j]);
              mapping.map(body.getArgument(2), accs[i * cols + j]);
              for (Operation &inner : body.without_terminator())
                nb.clone(inner, mapping);
              next.push_back(mapping.lookup(yield.getOperand(0)));
            }
          scf::YieldOp::create(nb, l, next);
        });
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        memref::StoreOp::create(b, loc, kLoop.getResult(i * cols + j), c,
                                ValueRange{rowIndex[i], colIndex[j]});

    b.setInsertionPointAfter(blockLoop);
    cloneOnRange(b, loc, op, rowBegin, rowEnd, fullCols, columns);
  }

  void tile(IRRewriter &rewriter, linalg::GenericOp op) const {
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value c = op.getDpsInits()[0];
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value rows = memref::DimOp::create(rewriter, loc, c, 0);
    Value fullRows = arith::SubIOp::create(
        rewriter, loc, rows,
        arith::RemUIOp::create(
            rewriter, loc, rows,
            arith::ConstantIndexOp::create(rewriter, loc, rowTile)));
    emitTiles(rewriter, loc, op, zero, fullRows, rowTile, columnTile);
    // The rows past the last full tile (all of a one-token decode), one at
    // a time: a wider row of tiles, so that each load of x serves several
    // weight rows and several weight streams are in flight at once.
    emitTiles(rewriter, loc, op, fullRows, rows, 1, rowRemainderColumnTile);
    rewriter.eraseOp(op);
  }
};
} // namespace
