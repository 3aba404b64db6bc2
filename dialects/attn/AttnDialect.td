//===- AttnDialect.td - the attn dialect --------------------*- tablegen -*-===//
//
// The attn dialect: a decoder-only transformer as tensor-level ops, with the
// attention written the way the seed computes it (scores, scale, causal mask,
// softmax, weighted sum) and the fused forms that the fusion passes produce.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Tensor-level ops for decoder-only transformer language models";
  let description = [{
    The `attn` dialect expresses a decoder-only transformer (GPT-2, CogModel)
    on ranked tensors. Hidden states are `[seq, d_model]`; per-head tensors are
    `[heads, seq, head_dim]`; attention scores are `[heads, queries, keys]`.
    Sequence sizes are usually dynamic (`?`).

    Weights are not constants: they enter functions as arguments carrying an
    `attn.weight` argument attribute with their checkpoint name, which the
    artifact's tensor table binds at run time. KV caches are arguments marked
    `attn.kv_cache` with a name; the runtime keeps them across steps. A 2-D
    weight may also carry `attn.transposed` (set by `attn-transpose-weights`):
    the argument is the checkpoint tensor with its two axes swapped, and the
    artifact stores it so.
    The planner marks each memref argument of the kernels it outlines with
    `attn.alignment`, the bytes its data's offset into its buffer is a
    multiple of, so that a backend whose buffers start aligned can widen
    its loads.

    ```mlir
    func.func @prefill(%ids: tensor<?xi32>,
                       %wte: tensor<50257x768xf32> {attn.weight = "wte.weight"})
    ```
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasRegionArgAttrVerify = 1;
  let extraClassDeclaration = [{
    /// The argument attribute that names a function argument's checkpoint
    /// tensor.
    static constexpr ::llvm::StringLiteral getWeightAttrName() {
      return ::llvm::StringLiteral("attn.weight");
    }
    /// The argument attribute that marks a KV cache argument and names it.
    static constexpr ::llvm::StringLiteral getKVCacheAttrName() {
      return ::llvm::StringLiteral("attn.kv_cache");
    }
    /// The unit argument attribute that marks a 2-D weight argument as the
    /// transpose of its checkpoint tensor.
    static constexpr ::llvm::StringLiteral getTransposedAttrName() {
      return ::llvm::StringLiteral("attn.transposed");
    }
    /// The argument attribute of a planned kernel's memref argument: its
    /// data starts at a multiple of this many bytes (a power of two) from
    /// the start of its buffer, whichever dispatch binds it.
    static constexpr ::llvm::StringLiteral getAlignmentAttrName() {
      return ::llvm::StringLiteral("attn.alignment");
    }
  }];
}

def Attn_WeightLayout : I32EnumAttr<"WeightLayout", "storage layout of a linear weight", [
    I32EnumAttrCase<"in_out", 0>,
    I32EnumAttrCase<"out_in", 1>
  ]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_WeightLayoutAttr : EnumAttr<Attn_Dialect, Attn_WeightLayout, "layout"> {
  let summary = "weight layout: in_out (GPT-2 Conv1D, [in, out]) or out_in (torch Linear, [out, in])";
  let assemblyFormat = "`<` $value `>`";
}

def Attn_Activation : I32EnumAttr<"Activation", "activation fused into a linear", [
    I32EnumAttrCase<"gelu", 0>
  ]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_ActivationAttr : EnumAttr<Attn_Dialect, Attn_Activation, "activation"> {
  let summary = "activation applied to a linear's output: gelu (attn.gelu's tanh approximation)";
  let assemblyFormat = "`<` $value `>`";
}

#endif // ATTN_DIALECT_TD
