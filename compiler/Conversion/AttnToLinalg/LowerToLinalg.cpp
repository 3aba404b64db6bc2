//===- LowerToLinalg.cpp - the attn-lower-to-linalg pass ------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::attn {
#define GEN_PASS_DEF_LOWERTOLINALG
#include "compiler/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::populateAttnToLinalgPatterns(RewritePatternSet &patterns) {
  populateModelOpsToLinalgPatterns(patterns);
  populateHeadOpsToLinalgPatterns(patterns);
  populateAttentionOpsToLinalgPatterns(patterns);
  populateKVCacheOpsToLinalgPatterns(patterns);
}

namespace {
struct LowerToLinalg : public attn::impl::LowerToLinalgBase<LowerToLinalg> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, tensor::TensorDialect>();
    target.addIllegalDialect<AttnDialect>();
    // Lowered by the flash-attention lowering, not here.
    target.addLegalOp<FusedAttentionOp>();
    RewritePatternSet patterns(ctx);
    populateAttnToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
