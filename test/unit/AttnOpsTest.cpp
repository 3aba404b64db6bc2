//===- AttnOpsTest.cpp - C++ API tests for the attn dialect ---------------===//
//
// What lit cannot reach: the builders and accessors that frontends call, and
// the pattern entry points used without a pass.
//
//===----------------------------------------------------------------------===//

#include "compiler/InitAll.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::attn;

namespace {

class AttnOpsTest : public ::testing::Test {
protected:
  AttnOpsTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// A function taking `argTypes`, with the builder inside its body.
  func::FuncOp makeFunc(ArrayRef<Type> argTypes) {
    OpBuilder builder(&context);
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
    auto func = func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                     builder.getFunctionType(argTypes, {}));
    func.addEntryBlock();
    return func;
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, Float32Type::get(&context));
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(AttnOpsTest, LinearInOutSizesFollowLayout) {
  func::FuncOp func = makeFunc({tensor({4, 8}), tensor({8, 16}), tensor({16, 8})});
  OpBuilder b = OpBuilder::atBlockEnd(&func.front());
  Location loc = b.getUnknownLoc();
  Block &body = func.front();
  auto conv1d = LinearOp::create(
      b, loc, tensor({4, 16}), body.getArgument(0), body.getArgument(1),
      /*bias=*/Value(), WeightLayout::in_out);
  auto torchLinear = LinearOp::create(
      b, loc, tensor({4, 16}), body.getArgument(0), body.getArgument(2),
      /*bias=*/Value(), WeightLayout::out_in);
  using Sizes = std::pair<int64_t, int64_t>;
  EXPECT_EQ(conv1d.getInOutSizes(), Sizes(8, 16));
  EXPECT_EQ(torchLinear.getInOutSizes(), Sizes(8, 16));
  func::ReturnOp::create(b, loc);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(AttnOpsTest, VerifierNamesOperandsAndShapes) {
  func::FuncOp func = makeFunc({tensor({2, 5, 64}), tensor({2, 5, 32})});
  OpBuilder b = OpBuilder::atBlockEnd(&func.front());
  Location loc = b.getUnknownLoc();
  QKScoresOp::create(b, loc, tensor({2, 5, 5}), func.getArgument(0),
                     func.getArgument(1));
  func::ReturnOp::create(b, loc);

  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_EQ(message, "'attn.qk_scores' op head_dim of 'query' (64) does not "
                     "match head_dim of 'key' (32): 'tensor<2x5x64xf32>' vs "
                     "'tensor<2x5x32xf32>'");
}

TEST_F(AttnOpsTest, FusionPatternsRunWithoutAPass) {
  Type scores = tensor({2, 4, 4});
  func::FuncOp func = makeFunc({scores, IndexType::get(&context)});
  OpBuilder b = OpBuilder::atBlockEnd(&func.front());
  Location loc = b.getUnknownLoc();
  Value s = func.getArgument(0), offset = func.getArgument(1);
  Value scaled = ScaleOp::create(b, loc, s, b.getF64FloatAttr(0.125));
  Value masked = CausalMaskOp::create(b, loc, scaled, offset,
                                      b.getF64FloatAttr(-1e9));
  Value probs = SoftmaxOp::create(b, loc, masked, b.getI64IntegerAttr(2));
  func::ReturnOp::create(b, loc, probs);
  func.setType(b.getFunctionType(func.getArgumentTypes(), {scores}));
  ASSERT_TRUE(succeeded(verify(*module)));

  RewritePatternSet patterns(&context);
  populateFuseMaskedSoftmaxPatterns(patterns);
  ASSERT_TRUE(succeeded(applyPatternsGreedily(func, std::move(patterns))));

  SmallVector<Operation *> ops;
  for (Operation &op : func.front())
    ops.push_back(&op);
  ASSERT_EQ(ops.size(), 2u);
  auto fused = dyn_cast<MaskedSoftmaxOp>(ops[0]);
  ASSERT_TRUE(fused);
  EXPECT_EQ(fused.getInput(), s);
  EXPECT_EQ(fused.getQueryOffset(), offset);
  EXPECT_EQ(fused.getScale().convertToDouble(), 0.125);
  EXPECT_EQ(fused.getFill().convertToDouble(), -1e9);
}

TEST_F(AttnOpsTest, PassIsRegisteredUnderItsFlag) {
  registerAllPasses();
  PassManager pm(&context);
  std::string errors;
  llvm::raw_string_ostream os(errors);
  EXPECT_TRUE(succeeded(
      parsePassPipeline("builtin.module(attn-fuse-masked-softmax)", pm, os)))
      << errors;
}

} // namespace
