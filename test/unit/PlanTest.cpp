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

/// A one-layer program around a cached attention: `caches` is the caches'
/// type, `length` the length operand, `position` where it appends (%T, or
/// %T1 = T - 1), `extra` ops after the attention.
static std::string cachedProgram(StringRef name, StringRef ids,
                                 StringRef caches, StringRef length,
                                 StringRef extra = "",
                                 StringRef position = "%T") {
  return (R"mlir(
    func.func @)mlir" + name + R"mlir((%ids: )mlir" + ids + R"mlir(, %T: index,
                       %wte: tensor<16x8xf32> {attn.weight = "wte"},
                       %kc: )mlir" + caches + R"mlir( {attn.kv_cache = "layers.0.k"},
                       %vc: )mlir" + caches + R"mlir( {attn.kv_cache = "layers.0.v"})
        -> tensor<?x8xf32> {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %S = tensor.dim %ids, %c0 : )mlir" + ids + R"mlir(
      %T1 = arith.subi %T, %c1 : index
      %len = )mlir" + length + R"mlir(
      %x = attn.embedding %wte[%ids] : (tensor<16x8xf32>, )mlir" + ids + R"mlir() -> tensor<?x8xf32>
      %h = attn.split_heads %x : tensor<?x8xf32> -> tensor<2x?x4xf32>
      %o, %kc2, %vc2 = attn.cached_attention %h, %h, %h into %kc, %vc[)mlir" + position + R"mlir(] length(%len) scale(0.5) causal(-1.0e9) : tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>, )mlir" + caches + ", " + caches + R"mlir( -> tensor<2x?x4xf32>
      )mlir" + extra + R"mlir(
      %m = attn.merge_heads %o : tensor<2x?x4xf32> -> tensor<?x8xf32>
      return %m : tensor<?x8xf32>
    })mlir")
      .str();
}

// A cached attention is one dispatch that binds q, k, v, both whole caches
// and its output, and names the caches as the bindings it updates.
TEST_F(PlanTest, PlansACachedAttentionAsOneDispatchThatUpdatesTheCaches) {
  const char *caches = "tensor<2x16x4xf32>";
  ASSERT_EQ(plan(cachedProgram("prefill", "tensor<?xi32>", caches,
                               "arith.addi %T, %S : index") +
                 cachedProgram("decode", "tensor<1xi32>", caches,
                               "arith.addi %T, %c1 : index")),
            "planned");
  for (const ProgramPlan &program : result.programs) {
    ASSERT_EQ(program.dispatches.size(), 2u);
    const DispatchPlan &attention = program.dispatches[1];
    ASSERT_EQ(attention.bindings.size(), 6u);
    EXPECT_EQ(attention.updates, (SmallVector<unsigned>{3, 4}));
    EXPECT_EQ(result.buffers[attention.bindings[3].buffer].name,
              "layers.0.k");
    EXPECT_EQ(result.buffers[attention.bindings[4].buffer].name,
              "layers.0.v");
    EXPECT_EQ(attention.bindings[3].strides, (SmallVector<int64_t>{64, 4, 1}));
  }
}

// The kernel indexes the whole caches, so no view check of the runtime
// covers its appends: the planner refuses caches shorter than the context.
TEST_F(PlanTest, RefusesACachedAttentionPastItsCaches) {
  EXPECT_EQ(plan(cachedProgram("prefill", "tensor<?xi32>",
                               "tensor<2x8x4xf32>",
                               "arith.addi %T, %S : index")),
            "'attn.cached_attention' op appends rows [0, 16) and reads up to "
            "row 16 of caches of 8 rows in a context of 16 tokens");
  // Rows before the cache: position T - 1 is -1 at T = 0.
  EXPECT_EQ(plan(cachedProgram("prefill", "tensor<?xi32>",
                               "tensor<2x16x4xf32>",
                               "arith.addi %T, %S : index", "", "%T1")),
            "'attn.cached_attention' op appends rows [-1, 15) and reads up "
            "to row 16 of caches of 16 rows in a context of 16 tokens");
}

// A program of 4 tokens per step runs at T <= context - 4 only: appending
// its 4 rows at T fits the cache at every step it runs.
TEST_F(PlanTest, PlansACachedAttentionOfAStaticStep) {
  const char *caches = "tensor<2x16x4xf32>";
  EXPECT_EQ(plan(cachedProgram("prefill", "tensor<4xi32>", caches,
                               "arith.addi %T, %S : index") +
                 cachedProgram("decode", "tensor<1xi32>", caches,
                               "arith.addi %T, %c1 : index")),
            "planned");
}

// The caches are updated in place: nothing may read them as they were.
TEST_F(PlanTest, RefusesACachedAttentionWhoseOldCacheIsReadAgain) {
  EXPECT_EQ(plan(cachedProgram(
                "prefill", "tensor<?xi32>", "tensor<2x16x4xf32>",
                "arith.addi %T, %S : index",
                "%old = attn.kv_cache_read %kc[%T] : tensor<2x16x4xf32> -> "
                "tensor<2x?x4xf32>")),
            "'attn.cached_attention' op updates operand #3 in place, but it "
            "is also read elsewhere; read result #1 instead");
}

} // namespace
