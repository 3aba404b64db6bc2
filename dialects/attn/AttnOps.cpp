//===- AttnOps.cpp - attn dialect ops -------------------------------------===//

#include "dialects/attn/AttnOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Verifier helpers
//===----------------------------------------------------------------------===//

namespace {
/// One axis of a named operand or result, for shape diagnostics.
struct Axis {
  StringRef name;
  Value value;
  int64_t axis;

  int64_t size() const {
    return cast<RankedTensorType>(value.getType()).getDimSize(axis);
  }
};
} // namespace

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Requires `value` (called `name` in diagnostics) to have rank `rank`;
/// `layout` spells out what the axes mean, e.g. "[heads, seq, head_dim]".
static LogicalResult verifyRank(Operation *op, StringRef name, Value value,
                                int64_t rank, StringRef layout) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == rank)
    return success();
  return op->emitOpError() << "expects '" << name << "' of rank " << rank
                           << " " << layout << ", got " << type;
}

/// Requires two axes to have the same size when both are static. `what`
/// names the quantity, e.g. "head_dim".
static LogicalResult verifySameSize(Operation *op, StringRef what, Axis a,
                                    Axis b) {
  int64_t x = a.size(), y = b.size();
  if (ShapedType::isDynamic(x) || ShapedType::isDynamic(y) || x == y)
    return success();
  return op->emitOpError() << what << " of '" << a.name << "' (" << x
                           << ") does not match " << what << " of '" << b.name
                           << "' (" << y << "): " << a.value.getType()
                           << " vs " << b.value.getType();
}

/// Requires a layer norm's epsilon (called `name`) to be positive and
/// finite.
static LogicalResult verifyEpsilon(Operation *op, StringRef name,
                                   double eps) {
  if (eps > 0.0 && std::isfinite(eps))
    return success();
  return op->emitOpError() << name << " must be positive and finite, got "
                           << eps;
}

static LogicalResult verifyFill(Operation *op, double fill) {
  if (std::isnan(fill))
    return op->emitOpError() << "mask fill value must not be NaN";
  return success();
}

/// A weight of `weight`'s element type may feed computation in `compute`'s:
/// the same type, or a narrower float (f16, bf16) widened as it is read.
static LogicalResult verifyStorageType(Operation *op, StringRef name,
                                       Value weight, Value compute) {
  Type stored = getElementTypeOrSelf(weight);
  Type computed = getElementTypeOrSelf(compute);
  if (stored == computed ||
      (isa<Float16Type, BFloat16Type>(stored) && computed.isF32()))
    return success();
  return op->emitOpError() << "'" << name << "' elements of type " << stored
                           << " cannot feed " << computed
                           << " computation (only the same type, or f16/bf16 "
                              "into f32)";
}

static LogicalResult verifyFiniteScale(Operation *op, double scale) {
  if (!std::isfinite(scale))
    return op->emitOpError() << "scale must be finite, got " << scale;
  return success();
}

//===----------------------------------------------------------------------===//
// Model ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  Value table = getTable(), ids = getIds(), result = getResult();
  if (failed(verifyRank(*this, "table", table, 2, "[rows, dim]")) ||
      failed(verifyRank(*this, "ids", ids, 1, "[seq]")) ||
      failed(verifyRank(*this, "result", result, 2, "[seq, dim]")))
    return failure();
  if (failed(verifySameSize(*this, "seq", {"ids", ids, 0},
                            {"result", result, 0})) ||
      failed(verifySameSize(*this, "dim", {"table", table, 1},
                            {"result", result, 1})))
    return failure();
  if (Value addend = getAddend()) {
    if (failed(verifyRank(*this, "addend", addend, 2, "[seq or 1, dim]")) ||
        failed(verifySameSize(*this, "dim", {"addend", addend, 1},
                              {"result", result, 1})))
      return failure();
    if (!isBroadcastAddend() &&
        failed(verifySameSize(*this, "seq", {"addend", addend, 0},
                              {"result", result, 0})))
      return failure();
    if (getElementTypeOrSelf(addend) != getElementTypeOrSelf(result))
      return emitOpError() << "expects 'addend' of the result's element type, "
                           << "got " << addend.getType() << " vs "
                           << result.getType();
  }
  return verifyStorageType(*this, "table", table, result);
}

std::pair<int64_t, int64_t> LinearOp::getInOutSizes() {
  ArrayRef<int64_t> w = shapeOf(getWeight());
  if (getLayout() == WeightLayout::in_out)
    return {w[0], w[1]};
  return {w[1], w[0]};
}

LogicalResult LinearOp::verify() {
  Value input = getInput(), weight = getWeight(), result = getResult();
  bool inOut = getLayout() == WeightLayout::in_out;
  if (failed(verifyRank(*this, "input", input, 2, "[seq, in]")) ||
      failed(verifyRank(*this, "weight", weight, 2,
                        inOut ? "[in, out]" : "[out, in]")) ||
      failed(verifyRank(*this, "result", result, 2, "[seq, out]")))
    return failure();
  Axis wIn{"weight", weight, inOut ? 0 : 1};
  Axis wOut{"weight", weight, inOut ? 1 : 0};
  if (failed(verifySameSize(*this, "seq", {"input", input, 0},
                            {"result", result, 0})) ||
      failed(verifySameSize(*this, "in features", {"input", input, 1}, wIn)) ||
      failed(verifySameSize(*this, "out features", wOut,
                            {"result", result, 1})) ||
      failed(verifyStorageType(*this, "weight", weight, input)))
    return failure();
  if (Value bias = getBias()) {
    if (failed(verifyRank(*this, "bias", bias, 1, "[out]")) ||
        failed(verifySameSize(*this, "out features", {"bias", bias, 0}, wOut)))
      return failure();
    if (getElementTypeOrSelf(bias) != getElementTypeOrSelf(input))
      return emitOpError() << "'bias' element type " << bias.getType()
                           << " does not match 'input' " << input.getType();
  }
  if (Value residual = getResidual())
    if (getElementTypeOrSelf(residual) != getElementTypeOrSelf(result) ||
        failed(verifyCompatibleShape(residual.getType(), result.getType())))
      return emitOpError() << "'residual' type " << residual.getType()
                           << " does not match 'result' " << result.getType();
  Value gamma = getNormGamma(), beta = getNormBeta();
  if (bool(gamma) != bool(beta) || bool(gamma) != getNormEpsilon().has_value())
    return emitOpError() << "expects the norm's gamma, beta and epsilon "
                            "together";
  for (auto [name, value] : {std::pair<StringRef, Value>{"norm gamma", gamma},
                             {"norm beta", beta}}) {
    if (!value)
      continue;
    if (failed(verifyRank(*this, name, value, 1, "[in]")) ||
        failed(verifySameSize(*this, "in features", {name, value, 0},
                              {"input", input, 1})))
      return failure();
    if (getElementTypeOrSelf(value) != getElementTypeOrSelf(input))
      return emitOpError() << "'" << name << "' element type "
                           << value.getType() << " does not match 'input' "
                           << input.getType();
  }
  if (std::optional<APFloat> eps = getNormEpsilon())
    return verifyEpsilon(*this, "the norm's epsilon", eps->convertToDouble());
  return success();
}

LogicalResult LayerNormOp::verify() {
  Value input = getInput(), gamma = getGamma(), beta = getBeta();
  int64_t rank = shapeOf(input).size();
  if (rank < 1)
    return emitOpError() << "expects 'input' of rank >= 1, got "
                         << input.getType();
  if (failed(verifyRank(*this, "gamma", gamma, 1, "[features]")) ||
      failed(verifyRank(*this, "beta", beta, 1, "[features]")) ||
      failed(verifySameSize(*this, "features", {"input", input, rank - 1},
                            {"gamma", gamma, 0})) ||
      failed(verifySameSize(*this, "features", {"gamma", gamma, 0},
                            {"beta", beta, 0})))
    return failure();
  return verifyEpsilon(*this, "epsilon", getEpsilon().convertToDouble());
}

LogicalResult AddOp::verify() {
  auto lhs = cast<RankedTensorType>(getLhs().getType());
  auto rhs = cast<RankedTensorType>(getRhs().getType());
  if (lhs.getRank() != rhs.getRank())
    return emitOpError() << "expects 'rhs' of the rank of 'lhs', got "
                         << getRhs().getType() << " and " << getLhs().getType();
  for (int64_t axis = 0; axis < lhs.getRank(); ++axis) {
    if (rhs.getDimSize(axis) == 1)
      continue;
    if (failed(verifySameSize(*this, "axis " + std::to_string(axis),
                              {"lhs", getLhs(), axis},
                              {"rhs", getRhs(), axis})))
      return failure();
  }
  return success();
}

bool AddOp::isBroadcastAxis(int64_t axis) {
  return getRhs().getType().getDimSize(axis) == 1;
}

//===----------------------------------------------------------------------===//
// Head split and merge
//===----------------------------------------------------------------------===//

/// Checks `merged` ([seq, hidden]) against `split` ([heads, seq, head_dim]).
static LogicalResult verifyHeadSplit(Operation *op, StringRef mergedName,
                                     Value merged, StringRef splitName,
                                     Value split) {
  if (failed(verifyRank(op, mergedName, merged, 2, "[seq, heads * head_dim]")) ||
      failed(verifyRank(op, splitName, split, 3, "[heads, seq, head_dim]")) ||
      failed(verifySameSize(op, "seq", {mergedName, merged, 0},
                            {splitName, split, 1})))
    return failure();
  int64_t hidden = shapeOf(merged)[1];
  int64_t heads = shapeOf(split)[0], headDim = shapeOf(split)[2];
  if (ShapedType::isDynamic(heads) || heads < 1)
    return op->emitOpError() << "expects a static, positive number of heads "
                                "in '"
                             << splitName << "', got " << split.getType();
  if (ShapedType::isDynamic(hidden))
    return success();
  if (ShapedType::isDynamic(headDim) ? hidden % heads != 0
                                     : hidden != heads * headDim)
    return op->emitOpError()
           << "hidden size of '" << mergedName << "' (" << hidden
           << ") is not heads x head_dim of '" << splitName
           << "': " << merged.getType() << " vs " << split.getType();
  return success();
}

LogicalResult SplitHeadsOp::verify() {
  return verifyHeadSplit(*this, "input", getInput(), "result", getResult());
}

OpFoldResult SplitHeadsOp::fold(FoldAdaptor) {
  // split_heads(merge_heads(x)) is x when the types agree.
  if (auto merge = getInput().getDefiningOp<MergeHeadsOp>())
    if (merge.getInput().getType() == getType())
      return merge.getInput();
  return {};
}

LogicalResult MergeHeadsOp::verify() {
  return verifyHeadSplit(*this, "result", getResult(), "input", getInput());
}

OpFoldResult MergeHeadsOp::fold(FoldAdaptor) {
  if (auto split = getInput().getDefiningOp<SplitHeadsOp>())
    if (split.getInput().getType() == getType())
      return split.getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Attention as the seed computes it
//===----------------------------------------------------------------------===//

LogicalResult QKScoresOp::verify() {
  Value q = getQuery(), k = getKey(), result = getResult();
  if (failed(verifyRank(*this, "query", q, 3, "[heads, queries, head_dim]")) ||
      failed(verifyRank(*this, "key", k, 3, "[heads, keys, head_dim]")) ||
      failed(verifyRank(*this, "result", result, 3,
                        "[heads, queries, keys]")))
    return failure();
  if (failed(verifySameSize(*this, "heads", {"query", q, 0}, {"key", k, 0})) ||
      failed(verifySameSize(*this, "head_dim", {"query", q, 2},
                            {"key", k, 2})) ||
      failed(verifySameSize(*this, "heads", {"query", q, 0},
                            {"result", result, 0})) ||
      failed(verifySameSize(*this, "queries", {"query", q, 1},
                            {"result", result, 1})) ||
      failed(verifySameSize(*this, "keys", {"key", k, 1},
                            {"result", result, 2})))
    return failure();
  return success();
}

OpFoldResult ScaleOp::fold(FoldAdaptor) {
  if (getFactor().convertToDouble() == 1.0)
    return getInput();
  return {};
}

namespace {
/// scale(scale(x, a), b) -> scale(x, a * b).
struct FoldScaleChain : public OpRewritePattern<ScaleOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ScaleOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<ScaleOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not an attn.scale");
    double factor = inner.getFactor().convertToDouble() *
                    op.getFactor().convertToDouble();
    rewriter.replaceOpWithNewOp<ScaleOp>(op, op.getType(), inner.getInput(),
                                         rewriter.getF64FloatAttr(factor));
    return success();
  }
};
} // namespace

void ScaleOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<FoldScaleChain>(context);
}

/// Scores are [heads, queries, keys].
static LogicalResult verifyScores(Operation *op, Value scores) {
  return verifyRank(op, "input", scores, 3, "[heads, queries, keys]");
}

LogicalResult CausalMaskOp::verify() {
  if (failed(verifyScores(*this, getInput())))
    return failure();
  return verifyFill(*this, getFill().convertToDouble());
}

LogicalResult SoftmaxOp::verify() {
  int64_t rank = getType().getRank();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range for 'input' "
                         << getInput().getType() << " (rank " << rank << ")";
  return success();
}

LogicalResult WeightedSumOp::verify() {
  Value p = getProbs(), v = getValue(), result = getResult();
  if (failed(verifyRank(*this, "probs", p, 3, "[heads, queries, keys]")) ||
      failed(verifyRank(*this, "value", v, 3, "[heads, keys, head_dim]")) ||
      failed(verifyRank(*this, "result", result, 3,
                        "[heads, queries, head_dim]")))
    return failure();
  if (failed(verifySameSize(*this, "heads", {"probs", p, 0},
                            {"value", v, 0})) ||
      failed(verifySameSize(*this, "keys", {"probs", p, 2}, {"value", v, 1})) ||
      failed(verifySameSize(*this, "heads", {"probs", p, 0},
                            {"result", result, 0})) ||
      failed(verifySameSize(*this, "queries", {"probs", p, 1},
                            {"result", result, 1})) ||
      failed(verifySameSize(*this, "head_dim", {"value", v, 2},
                            {"result", result, 2})))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Fused forms
//===----------------------------------------------------------------------===//

LogicalResult MaskedSoftmaxOp::verify() {
  if (failed(verifyScores(*this, getInput())) ||
      failed(verifyFiniteScale(*this, getScale().convertToDouble())))
    return failure();
  return verifyFill(*this, getFill().convertToDouble());
}

/// The shapes of an attention's query [heads, queries, head_dim], keys
/// [heads, keys, head_dim], values [heads, keys, value_dim] and result
/// [heads, queries, value_dim], and its scale.
static LogicalResult verifyAttention(Operation *op, Value q, Value k, Value v,
                                     Value result, double scale) {
  if (failed(verifyRank(op, "query", q, 3, "[heads, queries, head_dim]")) ||
      failed(verifyRank(op, "key", k, 3, "[heads, keys, head_dim]")) ||
      failed(verifyRank(op, "value", v, 3, "[heads, keys, value_dim]")) ||
      failed(verifyRank(op, "result", result, 3,
                        "[heads, queries, value_dim]")))
    return failure();
  if (failed(verifySameSize(op, "heads", {"query", q, 0}, {"key", k, 0})) ||
      failed(verifySameSize(op, "heads", {"key", k, 0}, {"value", v, 0})) ||
      failed(verifySameSize(op, "head_dim", {"query", q, 2},
                            {"key", k, 2})) ||
      failed(verifySameSize(op, "keys", {"key", k, 1}, {"value", v, 1})) ||
      failed(verifySameSize(op, "heads", {"query", q, 0},
                            {"result", result, 0})) ||
      failed(verifySameSize(op, "queries", {"query", q, 1},
                            {"result", result, 1})) ||
      failed(verifySameSize(op, "value_dim", {"value", v, 2},
                            {"result", result, 2})))
    return failure();
  return verifyFiniteScale(op, scale);
}

LogicalResult FusedAttentionOp::verify() {
  if (failed(verifyAttention(*this, getQuery(), getKey(), getValue(),
                             getResult(), getScale().convertToDouble())))
    return failure();
  if (isCausal() != getFill().has_value())
    return emitOpError()
           << "expects the causal query offset and fill value together";
  if (std::optional<APFloat> fill = getFill())
    return verifyFill(*this, fill->convertToDouble());
  return success();
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

/// Checks a [heads, capacity, head_dim] cache (called `cacheName`) against
/// [heads, seq, head_dim] rows that go into it or come out of it.
static LogicalResult verifyCacheRows(Operation *op, StringRef cacheName,
                                     Value cache, StringRef rowsName,
                                     Value rows) {
  if (failed(verifyRank(op, cacheName, cache, 3,
                        "[heads, capacity, head_dim]")) ||
      failed(verifyRank(op, rowsName, rows, 3, "[heads, seq, head_dim]")) ||
      failed(verifySameSize(op, "heads", {cacheName, cache, 0},
                            {rowsName, rows, 0})) ||
      failed(verifySameSize(op, "head_dim", {cacheName, cache, 2},
                            {rowsName, rows, 2})))
    return failure();
  int64_t capacity = shapeOf(cache)[1], seq = shapeOf(rows)[1];
  if (!ShapedType::isDynamic(capacity) && !ShapedType::isDynamic(seq) &&
      seq > capacity)
    return op->emitOpError()
           << "'" << rowsName << "' has " << seq << " rows, more than the '"
           << cacheName << "' capacity " << capacity << ": "
           << rows.getType() << " vs " << cache.getType();
  return success();
}

LogicalResult KVCacheWriteOp::verify() {
  return verifyCacheRows(*this, "cache", getCache(), "rows", getRows());
}

LogicalResult KVCacheReadOp::verify() {
  return verifyCacheRows(*this, "cache", getCache(), "result", getResult());
}

LogicalResult CachedAttentionOp::verify() {
  if (failed(verifyAttention(*this, getQuery(), getKey(), getValue(),
                             getResult(), getScale().convertToDouble())) ||
      failed(verifyCacheRows(*this, "key_cache", getKeyCache(), "key",
                             getKey())) ||
      failed(verifyCacheRows(*this, "value_cache", getValueCache(), "value",
                             getValue())))
    return failure();
  return verifyFill(*this, getFill().convertToDouble());
}

#define GET_OP_CLASSES
#include "dialects/attn/AttnOps.cpp.inc"
