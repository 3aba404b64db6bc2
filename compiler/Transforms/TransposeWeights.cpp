//===- TransposeWeights.cpp - [in, out] linear weights stored [out, in] ---===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_TRANSPOSEWEIGHTS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// The linears reading `arg` as an [in, out] weight, or nullopt when `arg`
/// has another use (or is already transposed).
static std::optional<SmallVector<LinearOp>>
getInOutLinearUsers(func::FuncOp func, BlockArgument arg) {
  auto type = dyn_cast<RankedTensorType>(arg.getType());
  if (!type || type.getRank() != 2 ||
      func.getArgAttr(arg.getArgNumber(), AttnDialect::getTransposedAttrName()))
    return std::nullopt;
  SmallVector<LinearOp> linears;
  for (OpOperand &use : arg.getUses()) {
    auto linear = dyn_cast<LinearOp>(use.getOwner());
    if (!linear || &use != &linear.getWeightMutable() ||
        linear.getLayout() != WeightLayout::in_out)
      return std::nullopt;
    linears.push_back(linear);
  }
  return linears;
}

namespace {
struct TransposeWeights
    : public attn::impl::TransposeWeightsBase<TransposeWeights> {
  void runOnOperation() override {
    struct Use {
      func::FuncOp func;
      BlockArgument arg;
      SmallVector<LinearOp> linears;
    };
    // A weight is one tensor in the artifact, so every function's argument
    // of that name must agree: transposed everywhere or nowhere.
    llvm::MapVector<StringAttr, SmallVector<Use>> uses;
    DenseSet<StringAttr> keep;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (BlockArgument arg : func.getArguments()) {
        auto name = func.getArgAttrOfType<StringAttr>(
            arg.getArgNumber(), AttnDialect::getWeightAttrName());
        if (!name)
          continue;
        std::optional<SmallVector<LinearOp>> linears =
            getInOutLinearUsers(func, arg);
        if (!linears)
          keep.insert(name);
        else
          uses[name].push_back({func, arg, std::move(*linears)});
      }
    }

    IRRewriter rewriter(&getContext());
    UnitAttr unit = rewriter.getUnitAttr();
    for (auto &[name, weightUses] : uses) {
      if (keep.contains(name))
        continue;
      for (Use &use : weightUses) {
        auto type = cast<RankedTensorType>(use.arg.getType());
        use.arg.setType(type.clone(
            {type.getDimSize(1), type.getDimSize(0)}));
        use.func.setArgAttr(use.arg.getArgNumber(),
                            AttnDialect::getTransposedAttrName(), unit);
        for (LinearOp linear : use.linears)
          rewriter.modifyOpInPlace(linear, [&] {
            linear.setLayout(WeightLayout::out_in);
          });
      }
    }
    // The argument types changed in place; the signatures follow.
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal())
        func.setFunctionType(rewriter.getFunctionType(
            func.front().getArgumentTypes(), func.getResultTypes()));
  }
};
} // namespace
