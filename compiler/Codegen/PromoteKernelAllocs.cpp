//===- PromoteKernelAllocs.cpp - static kernel temporaries on the stack ---===//

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_PROMOTEKERNELALLOCS
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct PromoteKernelAllocs
    : public attn::impl::PromoteKernelAllocsBase<PromoteKernelAllocs> {
  using PromoteKernelAllocsBase::PromoteKernelAllocsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // A buffer the function returns must outlive its frame.
    if (func.isExternal() || func.getNumResults() != 0)
      return;
    IRRewriter rewriter(&getContext());
    for (auto alloc : llvm::make_early_inc_range(
             func.front().getOps<memref::AllocOp>())) {
      MemRefType type = alloc.getType();
      if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
        continue;
      int64_t bytes = type.getNumElements() *
                      type.getElementType().getIntOrFloatBitWidth() / 8;
      if (bytes > maxBytes)
        continue;
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          rewriter.eraseOp(user);
      rewriter.setInsertionPoint(alloc);
      rewriter.replaceOpWithNewOp<memref::AllocaOp>(
          alloc, type, alloc.getDynamicSizes(), alloc.getSymbolOperands(),
          alloc.getAlignmentAttr());
    }
  }
};
} // namespace
