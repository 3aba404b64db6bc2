//===- PlanTest.cpp - the planner on hand-written programs ----------------===//
//
// What the importers never produce but the verifier allows: the planner must
// refuse it with a diagnostic, never write a plan with nonsense sizes.
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/Plan.h"
#include "compiler/InitAll.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::attn;

namespace {

class PlanTest : public ::testing::Test {
protected:
  PlanTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// The diagnostics of planning `source`, or "planned" when it succeeds
  /// (then the plan is in `result`).
  std::string plan(StringRef source) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
    if (!module)
      return "parse error";
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += d.str();
      return success();
    });
    FailureOr<ModelPlan> plan = buildModelPlan(*module, /*contextLength=*/16);
    if (failed(plan))
      return diagnostics;
    result = std::move(*plan);
    return "planned";
  }

  MLIRContext context;
  ModelPlan result;
};

// A head split whose head_dim is dynamic is no view (its stride would be
// unknown): the planner says so instead of planning one.
TEST_F(PlanTest, RefusesAHeadSplitOfDynamicHeadDim) {
  EXPECT_EQ(plan(R"mlir(
    func.func @prefill(%ids: tensor<?xi32>, %T: index,
                       %wte: tensor<16x8xf32> {attn.weight = "wte"})
        -> tensor<2x?x?xf32> {
      %x = attn.embedding %wte[%ids] : (tensor<16x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
      %h = attn.split_heads %x : tensor<?x8xf32> -> tensor<2x?x?xf32>
      return %h : tensor<2x?x?xf32>
    })mlir"),
            "'attn.split_heads' op has a dynamic result size the planner "
            "cannot derive");
}

// An attention whose only user is a merge writes the merged [seq, heads *
// head_dim] buffer, whose width comes from the attention's static heads and
// head_dim even where the merge's type leaves it dynamic.
TEST_F(PlanTest, SizesAMergedBufferFromTheHeads) {
  ASSERT_EQ(plan(R"mlir(
    func.func @prefill(%ids: tensor<?xi32>, %T: index,
                       %wte: tensor<16x8xf32> {attn.weight = "wte"})
        -> tensor<?x?xf32> {
      %x = attn.embedding %wte[%ids] : (tensor<16x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
      %h = attn.split_heads %x : tensor<?x8xf32> -> tensor<2x?x4xf32>
      %o = attn.fused_attention %h, %h, %h scale(5.000000e-01) : (tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>) -> tensor<2x?x4xf32>
      %m = attn.merge_heads %o : tensor<2x?x4xf32> -> tensor<?x?xf32>
      return %m : tensor<?x?xf32>
    }
    func.func @decode(%ids: tensor<1xi32>, %T: index,
                      %wte: tensor<16x8xf32> {attn.weight = "wte"})
        -> tensor<1x8xf32> {
      %x = attn.embedding %wte[%ids] : (tensor<16x8xf32>, tensor<1xi32>) -> tensor<1x8xf32>
      return %x : tensor<1x8xf32>
    })mlir"),
            "planned");
  // The embedding and the attention: the split and the merge are views.
  ASSERT_EQ(result.programs.size(), 2u);
  EXPECT_EQ(result.programs[0].dispatches.size(), 2u);
  const ViewPlan &logits = result.programs[0].logits;
  EXPECT_EQ(result.buffers[logits.buffer].shape,
            (SmallVector<int64_t>{16, 8}));
  EXPECT_EQ(logits.strides, (SmallVector<int64_t>{8, 1}));
  // The attention writes the merged buffer through a [2, S, 4] view.
  const ViewPlan &written = result.programs[0].dispatches[1].bindings.back();
  EXPECT_EQ(written.buffer, logits.buffer);
  EXPECT_EQ(written.strides, (SmallVector<int64_t>{4, 8, 1}));
}

} // namespace
