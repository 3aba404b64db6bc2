//===- TileContractions.cpp - row blocking of matmul-like generics --------===//

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_TILECONTRACTIONS
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Loops (rows, k, columns) on tensors: parallel, reduction, parallel.
static bool isRowContraction(linalg::GenericOp op) {
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  return op.hasPureTensorSemantics() && op.getNumDpsInits() == 1 &&
         iterators.size() == 3 &&
         iterators[0] == utils::IteratorType::parallel &&
         iterators[1] == utils::IteratorType::reduction &&
         iterators[2] == utils::IteratorType::parallel;
}

namespace {
struct TileContractions
    : public attn::impl::TileContractionsBase<TileContractions> {
  using TileContractionsBase::TileContractionsBase;

  void runOnOperation() override {
    if (rowTile < 1) {
      getOperation()->emitError()
          << "row-tile must be positive, got " << static_cast<int64_t>(rowTile);
      return signalPassFailure();
    }
    SmallVector<linalg::GenericOp> candidates;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (isRowContraction(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : candidates) {
      rewriter.setInsertionPoint(op);
      scf::SCFTilingOptions options;
      options.setTileSizes({rewriter.getIndexAttr(rowTile),
                            rewriter.getIndexAttr(0),
                            rewriter.getIndexAttr(0)});
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled)) {
        op.emitOpError() << "cannot be tiled by rows";
        return signalPassFailure();
      }
      rewriter.replaceOp(op, tiled->replacements);
      // Inside a tile: k outermost, then the tile's rows, then columns.
      auto tile = cast<linalg::GenericOp>(tiled->tiledOps.back());
      if (failed(linalg::interchangeGenericOp(rewriter, tile, {1, 0, 2}))) {
        tile.emitOpError() << "cannot be interchanged";
        return signalPassFailure();
      }
    }
  }
};
} // namespace
