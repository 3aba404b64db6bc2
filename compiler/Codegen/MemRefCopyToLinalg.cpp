//===- MemRefCopyToLinalg.cpp - memref.copy as linalg.copy ----------------===//

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_MEMREFCOPYTOLINALG
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct CopyToLinalg : public OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::CopyOp copy,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                copy.getTarget());
    return success();
  }
};

struct MemRefCopyToLinalg
    : public attn::impl::MemRefCopyToLinalgBase<MemRefCopyToLinalg> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMemRefCopyToLinalgPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::attn::populateMemRefCopyToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<CopyToLinalg>(patterns.getContext());
}
