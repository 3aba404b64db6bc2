//===- GPUMathToNVVM.cpp - math ops as PTX instructions -------------------===//
//
// convert-gpu-to-nvvm turns math.exp, math.tanh and math.sqrt into calls to
// libdevice (__nv_expf, ...), which only a CUDA toolkit provides: without it
// the PTX would call undefined functions. The kernels use these three on f32
// only, and PTX has instructions for them, so they never reach libdevice.
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_GPUMATHTONVVM
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// One PTX instruction `ptx` ("op $0, $1;") applied to `x`.
static Value ptxUnary(PatternRewriter &rewriter, Location loc, StringRef ptx,
                      Value x) {
  return NVVM::InlinePtxOp::create(rewriter, loc, TypeRange{x.getType()},
                                   ValueRange{x}, ValueRange{}, ptx,
                                   /*predicate=*/Value())
      .getResult(0);
}

namespace {
/// exp(x) = 2^(x * log2(e)) with ex2.approx (relative error 2^-22, the
/// product's rounding aside): what CUDA's __expf does.
struct ExpToEx2 : public OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "not f32");
    Location loc = op.getLoc();
    Value log2e = arith::ConstantOp::create(rewriter, loc,
                                            rewriter.getF32FloatAttr(M_LOG2E));
    Value x = arith::MulFOp::create(rewriter, loc, op.getOperand(), log2e);
    rewriter.replaceOp(
        op, ptxUnary(rewriter, loc, "ex2.approx.ftz.f32 $0, $1;", x));
    return success();
  }
};

/// sqrt.rn: correctly rounded, like the CPU's sqrtf.
struct SqrtToPtx : public OpRewritePattern<math::SqrtOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::SqrtOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "not f32");
    rewriter.replaceOp(op, ptxUnary(rewriter, op.getLoc(),
                                    "sqrt.rn.f32 $0, $1;", op.getOperand()));
    return success();
  }
};

struct GPUMathToNVVM : public attn::impl::GPUMathToNVVMBase<GPUMathToNVVM> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // tanh first becomes exp: (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with x's
    // sign, which neither overflows nor loses the sign.
    math::populateExpansionPatterns(patterns, {"tanh"});
    patterns.add<ExpToEx2, SqrtToPtx>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
