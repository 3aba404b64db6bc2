//===- FuseMaskedSoftmax.cpp - scale + causal mask + softmax fusion -------===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSEMASKEDSOFTMAX
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A multiplication of a tensor by a constant factor.
struct ConstantScale {
  Value input;
  double factor;
};

/// Returns the splat floating-point value of a constant tensor operand.
static std::optional<double> getSplatConstant(Value v) {
  DenseFPElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat())
    return std::nullopt;
  return attr.getSplatValue<APFloat>().convertToDouble();
}

/// Recognizes `attn.scale`, and `arith.mulf` / `arith.divf` by a splat
/// constant, which is how frontends that trace PyTorch spell a scale.
static std::optional<ConstantScale> matchConstantScale(Value v) {
  Operation *op = v.getDefiningOp();
  if (!op)
    return std::nullopt;
  if (auto scale = dyn_cast<ScaleOp>(op))
    return ConstantScale{scale.getInput(), scale.getFactor().convertToDouble()};
  if (auto mul = dyn_cast<arith::MulFOp>(op)) {
    if (std::optional<double> c = getSplatConstant(mul.getRhs()))
      return ConstantScale{mul.getLhs(), *c};
    if (std::optional<double> c = getSplatConstant(mul.getLhs()))
      return ConstantScale{mul.getRhs(), *c};
  }
  if (auto div = dyn_cast<arith::DivFOp>(op))
    if (std::optional<double> c = getSplatConstant(div.getRhs()); c && *c != 0)
      return ConstantScale{div.getLhs(), 1.0 / *c};
  return std::nullopt;
}

/// Peels constant scales off `v` while each scaled value has no other user,
/// multiplying their factors into `factor`.
static Value peelScales(Value v, double &factor) {
  while (v.hasOneUse()) {
    std::optional<ConstantScale> scale = matchConstantScale(v);
    if (!scale)
      break;
    factor *= scale->factor;
    v = scale->input;
  }
  return v;
}

struct FuseMaskedSoftmaxPattern : public OpRewritePattern<SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SoftmaxOp softmax,
                                PatternRewriter &rewriter) const override {
    auto type = softmax.getType();
    if (type.getRank() != 3 || softmax.getAxis() != 2)
      return rewriter.notifyMatchFailure(softmax,
                                         "softmax is not along the key axis");
    double post = 1.0;
    Value masked = peelScales(softmax.getInput(), post);
    auto mask = masked.getDefiningOp<CausalMaskOp>();
    if (!mask)
      return rewriter.notifyMatchFailure(
          softmax, "input is not a causal mask under constant scales");
    if (!masked.hasOneUse())
      return rewriter.notifyMatchFailure(
          softmax, "the masked scores have another user");
    double pre = 1.0;
    Value scores = peelScales(mask.getInput(), pre);
    // A scale applied after the mask scales the fill value too.
    double fill = mask.getFill().convertToDouble() * post;
    rewriter.replaceOpWithNewOp<MaskedSoftmaxOp>(
        softmax, type, scores, mask.getQueryOffset(),
        rewriter.getF64FloatAttr(pre * post), rewriter.getF64FloatAttr(fill));
    return success();
  }
};

struct FuseMaskedSoftmax
    : public attn::impl::FuseMaskedSoftmaxBase<FuseMaskedSoftmax> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseMaskedSoftmaxPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseMaskedSoftmaxPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FuseMaskedSoftmaxPattern>(patterns.getContext());
}
