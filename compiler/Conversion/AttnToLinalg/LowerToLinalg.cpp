//===- LowerToLinalg.cpp - the attn-lower-to-linalg pass ------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::attn {
#define GEN_PASS_DEF_LOWERTOLINALG
#include "compiler/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::populateAttnToLinalgPatterns(RewritePatternSet &patterns,
                                              int64_t keyTile) {
  populateModelOpsToLinalgPatterns(patterns);
  populateFusedAttentionToLinalgPatterns(patterns, keyTile);
  populateHeadOpsToLinalgPatterns(patterns);
  populateAttentionOpsToLinalgPatterns(patterns);
  populateKVCacheOpsToLinalgPatterns(patterns);
}

namespace {
struct LowerToLinalg : public attn::impl::LowerToLinalgBase<LowerToLinalg> {
  using LowerToLinalgBase::LowerToLinalgBase;

  void runOnOperation() override {
    if (keyTile < 1) {
      getOperation()->emitError() << "key-tile must be positive, got "
                                  << static_cast<int64_t>(keyTile);
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect,
                           bufferization::BufferizationDialect,
                           linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.addIllegalDialect<AttnDialect>();
    RewritePatternSet patterns(ctx);
    populateAttnToLinalgPatterns(patterns, keyTile);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
