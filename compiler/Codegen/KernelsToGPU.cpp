//===- KernelsToGPU.cpp - planned kernels as GPU kernels ------------------===//
//
// The planner writes every kernel as `kN_<op>_impl(memrefs..., S, T, begin,
// end)`, the attn op applied to work items [begin, end) of its result, plus a
// C entry `kN_<op>`. This pass replaces each pair by one `gpu.func @kN_<op>`
// with the launch ABI of runtime/schema/artifact.fbs (CudaKernels):
//
//   kN_<op>(!llvm.ptr bindings, i64 S, i64 T, i64 work, !llvm.ptr workspace)
//
// `bindings` points at the dispatch's attn_memref array in device memory,
// `workspace` at the dispatch's own device memory (attn.workspace_bytes);
// block b handles work items [b * items_per_block, min(work, (b + 1) *
// items_per_block)) with `block_size` threads. The kernels compute, element
// by element, what attn-lower-to-linalg computes for the CPU, in the same
// arithmetic (f32, weights widened on load), so that both backends agree to
// rounding. This file holds the pass, the launch geometry and the kernels
// of elementwise, gather, layout and row ops; attention and linear layers
// are in GPUAttention.cpp and GPUMatmul.cpp, the building blocks in
// GPUKernelBuilder.h.
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/GPU.h"
#include "compiler/Codegen/GPUKernelBuilder.h"
#include "compiler/Codegen/Passes.h"
#include "compiler/Codegen/Plan.h"
#include "runtime/include/attn/kernel_abi.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_KERNELSTOGPU
#include "compiler/Codegen/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

//===----------------------------------------------------------------------===//
// Elementwise, gather, layout and row kernels
//===----------------------------------------------------------------------===//

/// out[idx] = element(idx) over the block's work items along `axis`.
static void emitPerElement(OpBuilder &b, Location loc, const WorkRange &range,
                           Value out, int64_t axis,
                           function_ref<Value(ValueRange)> element) {
  range.forEachIndex(b, loc, dimsOf(b, loc, out), axis, [&](ValueRange idx) {
    memref::StoreOp::create(b, loc, element(idx), out, idx);
  });
}

/// body(row, idx) once per row along `rowAxis` of `out` (idx[rowAxis] is 0),
/// one row per warp, over the block's work items along `axis`.
static void emitPerRow(OpBuilder &b, Location loc, const WorkRange &range,
                       Value out, int64_t axis, int64_t rowAxis,
                       function_ref<void(const WarpRow &, ValueRange)> body) {
  SmallVector<Value> sizes = dimsOf(b, loc, out);
  sizes[rowAxis] = indexConstant(b, loc, 1);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  WarpRow row{
      arith::RemUIOp::create(b, loc, thread, indexConstant(b, loc, kWarpSize))};
  range.forEachIndex(
      b, loc, sizes, axis, [&](ValueRange idx) { body(row, idx); }, kWarpSize);
}

/// softmax(t(x)) along `axis` of one row: max, sum of exp(t - max), then
/// exp(t - max) / sum, as softmaxAlong lowers it for the CPU.
static void emitSoftmaxRow(OpBuilder &b, Location loc, Value x, Value out,
                           int64_t axis, const WarpRow &warp, ValueRange row,
                           function_ref<Value(Value, ValueRange)> transform) {
  Type type = cast<MemRefType>(out.getType()).getElementType();
  Value n = dimOf(b, loc, x, axis);
  auto input = [&](Value j) {
    SmallVector<Value> idx = withIndex(row, axis, j);
    return transform(loadAs(b, loc, x, idx, type), idx);
  };
  auto maximum = [&](Value p, Value q) -> Value {
    return arith::MaximumFOp::create(b, loc, p, q);
  };
  auto add = [&](Value p, Value q) { return addF(b, loc, p, q); };
  Value max = warp.reduce(
      b, loc, n, floatConstant(b, loc, type, kNegInf),
      [&](Value acc, Value j) { return maximum(acc, input(j)); }, maximum);
  auto shiftedExp = [&](Value j) -> Value {
    return math::ExpOp::create(b, loc,
                               arith::SubFOp::create(b, loc, input(j), max));
  };
  Value sum = warp.reduce(
      b, loc, n, floatConstant(b, loc, type, 0.0),
      [&](Value acc, Value j) { return add(acc, shiftedExp(j)); }, add);
  warp.forEach(b, loc, n, [&](Value j) {
    Value p = arith::DivFOp::create(b, loc, shiftedExp(j), sum);
    memref::StoreOp::create(b, loc, p, out, withIndex(row, axis, j));
  });
}

/// attn.layer_norm of one row, by the warp (RowNorm).
static void emitLayerNormRow(OpBuilder &b, Location loc, LayerNormOp op,
                             const KernelValues &values, const WarpRow &warp,
                             ValueRange row) {
  Value x = values.binding(op.getInput());
  Value gamma = values.binding(op.getGamma());
  Value beta = values.binding(op.getBeta());
  Value out = values.output();
  int64_t last = cast<MemRefType>(out.getType()).getRank() - 1;
  Type type = op.getType().getElementType();
  Value n = dimOf(b, loc, x, last);
  auto input = [&](Value j) {
    return loadAs(b, loc, x, withIndex(row, last, j), type);
  };
  auto add = [&](Value p, Value q) { return addF(b, loc, p, q); };
  RowNorm norm(
      b, loc, n, type, op.getEpsilon().convertToDouble(), input,
      [&](function_ref<Value(Value)> term) {
        return warp.reduce(
            b, loc, n, floatConstant(b, loc, type, 0.0),
            [&](Value acc, Value j) { return add(acc, term(j)); }, add);
      });
  warp.forEach(b, loc, n, [&](Value j) {
    Value y = norm.apply(b, loc, input(j),
                         loadAs(b, loc, gamma, ValueRange{j}, type),
                         loadAs(b, loc, beta, ValueRange{j}, type));
    memref::StoreOp::create(b, loc, y, out, withIndex(row, last, j));
  });
}

/// sum over i in [0, n) of lhs(i) * rhs(i), starting from `init`.
static Value dotProduct(OpBuilder &b, Location loc, Value n, Value init,
                        function_ref<Value(Value)> lhs,
                        function_ref<Value(Value)> rhs) {
  return foldLoop(b, loc, indexConstant(b, loc, 0), n, init,
                  [&](Value acc, Value i) -> Value {
                    return arith::AddFOp::create(
                        b, loc, acc,
                        arith::MulFOp::create(b, loc, lhs(i), rhs(i)));
                  });
}

/// The value of output element `idx` of an op whose every output element is
/// computed on its own.
static Value emitElement(OpBuilder &b, Location loc, Operation *op,
                         const KernelValues &values, ValueRange idx) {
  Type type = getElementTypeOrSelf(values.output().getType());
  auto in = [&](Value tensor, ValueRange at) {
    return loadAs(b, loc, values.binding(tensor), at, type);
  };
  return llvm::TypeSwitch<Operation *, Value>(op)
      .Case([&](EmbeddingOp e) -> Value {
        Value id = memref::LoadOp::create(b, loc, values.binding(e.getIds()),
                                          ValueRange{idx[0]});
        Value row = arith::IndexCastOp::create(b, loc, b.getIndexType(), id);
        Value element = in(e.getTable(), {row, idx[1]});
        if (!e.getAddend())
          return element;
        Value addendRow =
            e.isBroadcastAddend() ? indexConstant(b, loc, 0) : idx[0];
        return arith::AddFOp::create(b, loc, element,
                                     in(e.getAddend(), {addendRow, idx[1]}));
      })
      .Case([&](AddOp add) -> Value {
        SmallVector<Value> rhsIdx(idx);
        for (auto [axis, index] : llvm::enumerate(rhsIdx))
          if (add.isBroadcastAxis(axis))
            index = indexConstant(b, loc, 0);
        return arith::AddFOp::create(b, loc, in(add.getLhs(), idx),
                                     in(add.getRhs(), rhsIdx));
      })
      .Case([&](GeluOp g) { return geluTanh(b, loc, in(g.getInput(), idx)); })
      .Case([&](ScaleOp s) -> Value {
        return arith::MulFOp::create(
            b, loc, in(s.getInput(), idx),
            floatConstant(b, loc, type, s.getFactor().convertToDouble()));
      })
      .Case([&](CausalMaskOp m) {
        return scaleAndMask(
            b, loc, in(m.getInput(), idx), 1.0, m.getFill().convertToDouble(),
            values.mapping.lookup(m.getQueryOffset()), idx[1], idx[2]);
      })
      .Case([&](SplitHeadsOp) {
        // out[h, s, d] = in[s, h * D + d].
        Value headDim = dimOf(b, loc, values.output(), 2);
        Value column = arith::AddIOp::create(
            b, loc, arith::MulIOp::create(b, loc, idx[0], headDim), idx[2]);
        return in(op->getOperand(0), {idx[1], column});
      })
      .Case([&](MergeHeadsOp) {
        // out[s, c] = in[c / D, s, c % D].
        Value headDim = dimOf(b, loc, values.binding(op->getOperand(0)), 2);
        Value head = arith::DivUIOp::create(b, loc, idx[1], headDim);
        Value d = arith::RemUIOp::create(b, loc, idx[1], headDim);
        return in(op->getOperand(0), {head, idx[0], d});
      })
      .Case([&](QKScoresOp s) {
        // scores[h, i, j] = sum_d q[h, i, d] * k[h, j, d].
        return dotProduct(
            b, loc, dimOf(b, loc, values.binding(s.getQuery()), 2),
            floatConstant(b, loc, type, 0.0),
            [&](Value d) {
              return in(s.getQuery(), {idx[0], idx[1], d});
            },
            [&](Value d) {
              return in(s.getKey(), {idx[0], idx[2], d});
            });
      })
      .Case([&](WeightedSumOp w) {
        // out[h, i, d] = sum_j p[h, i, j] * v[h, j, d].
        return dotProduct(
            b, loc, dimOf(b, loc, values.binding(w.getProbs()), 2),
            floatConstant(b, loc, type, 0.0),
            [&](Value j) {
              return in(w.getProbs(), {idx[0], idx[1], j});
            },
            [&](Value j) {
              return in(w.getValue(), {idx[0], j, idx[2]});
            });
      });
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

/// What the planner's impl function computes.
struct PlannedKernel {
  func::FuncOp impl;
  /// The attn op, or null for a copy (a KV cache write).
  Operation *op = nullptr;
  /// The result axis that work items walk.
  int64_t axis = 0;
};

/// How an op family spreads over blocks and threads.
enum class Shape {
  PerElement,
  PerRow,
  Attention,
  DecodeAttention,
  Matmul,
  MatmulTensorCores,
  MatVec
};

/// A kernel's shape, launch geometry and buffers.
struct KernelLayout {
  Shape shape = Shape::PerElement;
  /// PerRow: the axis each warp reduces on its own.
  int64_t rowAxis = -1;
  int64_t itemsPerBlock = 1;
  /// Threads per block, and blocks along y (CudaKernels.grid_y).
  int64_t blockSize = 0;
  int64_t gridY = 1;
  /// Device memory of its own per launch (CudaKernels.workspace_bytes).
  int64_t workspaceBytes = 0;
  /// Shared memory per block and private memory per thread.
  SmallVector<Type> workgroup, privates;
};

} // namespace

static FailureOr<PlannedKernel> analyzeImpl(func::FuncOp impl) {
  PlannedKernel kernel{impl};
  unsigned numArgs = impl.getNumArguments();
  if (numArgs < 5)
    return impl.emitOpError() << "is not a planned kernel: expected memref "
                                 "bindings, S, T, begin and end";
  Value begin = impl.getArgument(numArgs - 2);
  Value output = impl.getArgument(numArgs - 5);
  memref::SubViewOp subview;
  for (Operation &op : impl.getBody().front()) {
    if (isa<AttnDialect>(op.getDialect())) {
      if (kernel.op)
        return impl.emitOpError() << "holds more than one attn op";
      kernel.op = &op;
    }
    // The store of the result (in-place results go to other bindings).
    if (auto m = dyn_cast<bufferization::MaterializeInDestinationOp>(op))
      if (auto dest = m.getDest().getDefiningOp<memref::SubViewOp>();
          dest && dest.getSource() == output)
        subview = dest;
  }
  if (!subview)
    return impl.emitOpError()
           << "does not write its result into a subview of its output";
  for (auto [axis, offset] : llvm::enumerate(subview.getMixedOffsets()))
    if (auto value = dyn_cast<Value>(offset); value == begin)
      kernel.axis = axis;
  if (kernel.op &&
      !isa<EmbeddingOp, LinearOp, LayerNormOp, GeluOp, AddOp, SplitHeadsOp,
           MergeHeadsOp, QKScoresOp, WeightedSumOp, ScaleOp, CausalMaskOp,
           SoftmaxOp, MaskedSoftmaxOp, FusedAttentionOp, CachedAttentionOp>(
          kernel.op))
    return kernel.op->emitOpError() << "has no GPU kernel";
  return kernel;
}

/// A guess at a dynamic size (tokens of a step) when sizing blocks: between
/// a one-token decode and a long prefill.
static constexpr int64_t kTypicalDynamicSize = 8;

/// Work items per block for PerElement and PerRow: about one iteration per
/// thread (or warp), so that a small op still fills its block while a large
/// one spreads over many blocks.
static int64_t getItemsPerBlock(MemRefType out, int64_t axis, int64_t rowAxis,
                                int64_t workers) {
  int64_t perItem = 1;
  for (int64_t i = 0; i < out.getRank(); ++i)
    if (i != axis && i != rowAxis)
      perItem *= out.isDynamicDim(i) ? kTypicalDynamicSize : out.getDimSize(i);
  return std::max<int64_t>(1, workers / perItem);
}

static MemRefType getBufferType(ArrayRef<int64_t> shape, Type elementType,
                                gpu::AddressSpace space) {
  return MemRefType::get(
      shape, elementType, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(elementType.getContext(), space));
}

/// How `kernel` runs on `blockSize` threads per block.
static FailureOr<KernelLayout> getLayout(const PlannedKernel &kernel,
                                         int64_t blockSize, bool tensorCores) {
  func::FuncOp impl = kernel.impl;
  ArrayRef<Type> argTypes = impl.getArgumentTypes();
  auto out = cast<MemRefType>(argTypes[argTypes.size() - 5]);
  Type type = out.getElementType();
  KernelLayout layout;
  layout.blockSize = blockSize;
  auto rowWise = [&](int64_t rowAxis) {
    layout.shape = Shape::PerRow;
    layout.rowAxis = rowAxis;
  };
  Operation *op = kernel.op;
  if (isa_and_nonnull<LayerNormOp>(op))
    rowWise(out.getRank() - 1);
  else if (auto softmax = dyn_cast_or_null<SoftmaxOp>(op))
    rowWise(softmax.getAxis());
  else if (isa_and_nonnull<MaskedSoftmaxOp>(op))
    rowWise(2);

  if (isa_and_nonnull<FusedAttentionOp, CachedAttentionOp>(op)) {
    // One head per block, with the flash kernel's buffers (FlashBuffers).
    int64_t headDim = cast<MemRefType>(argTypes[0]).getDimSize(2);
    int64_t valueDim = out.getDimSize(2);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return op->emitOpError() << "needs a static head_dim on the GPU";
    layout.privates = {
        getBufferType({headDim}, type, gpu::AddressSpace::Private),
        getBufferType({valueDim}, type, gpu::AddressSpace::Private)};
    if (cast<MemRefType>(argTypes[0]).getDimSize(1) == 1) {
      // A decode step: the keys spread over the block, and over several
      // blocks when the heads are few (DecodeBuffers).
      layout.shape = Shape::DecodeAttention;
      int64_t heads = out.getDimSize(0);
      if (!ShapedType::isDynamic(heads))
        layout.gridY = getDecodeSplits(heads);
      if (layout.gridY > 1) {
        layout.blockSize = std::min(blockSize, kDecodeSplitBlockSize);
        layout.workspaceBytes =
            getDecodeWorkspaceBytes(type, heads, layout.gridY, valueDim);
      }
      int64_t warps = layout.blockSize / kWarpSize;
      layout.workgroup = {
          getBufferType({warps}, type, gpu::AddressSpace::Workgroup),
          getBufferType({warps}, type, gpu::AddressSpace::Workgroup),
          getBufferType({warps, valueDim}, type, gpu::AddressSpace::Workgroup)};
      if (layout.gridY > 1)
        layout.workgroup.push_back(
            getBufferType({1}, IntegerType::get(impl.getContext(), 32),
                          gpu::AddressSpace::Workgroup));
    } else {
      int64_t keyTile = getKeyTile(std::max(headDim, valueDim));
      layout.shape = Shape::Attention;
      // A block per (head, group of query tiles).
      layout.blockSize = std::min(blockSize, kFlashBlockSize);
      layout.gridY = kFlashQueryGroups;
      layout.workgroup = {
          getBufferType({keyTile, headDim}, type, gpu::AddressSpace::Workgroup),
          getBufferType({keyTile, valueDim}, type,
                        gpu::AddressSpace::Workgroup)};
    }
  } else if (isa_and_nonnull<LinearOp>(op) && out.getDimSize(0) == 1) {
    layout.shape = Shape::MatVec;
    // Weights have static shapes (the planner requires it), so the output
    // features are known.
    int64_t columns = getMatVecColumns(
        out.getDimSize(1),
        cast<LinearOp>(op).getLayout() == WeightLayout::in_out);
    layout.itemsPerBlock = columns;
    layout.workgroup = {getBufferType({blockSize / columns, columns}, type,
                                      gpu::AddressSpace::Workgroup)};
    if (cast<LinearOp>(op).getNormGamma()) {
      // The normalized input row (MatVecBuffers).
      int64_t features = cast<MemRefType>(argTypes[0]).getDimSize(1);
      if (ShapedType::isDynamic(features))
        return op->emitOpError()
               << "needs static in features for its norm on the GPU, got "
               << argTypes[0];
      layout.workgroup.push_back(getBufferType(
          {features}, type, gpu::AddressSpace::Workgroup));
      layout.workgroup.push_back(getBufferType(
          {blockSize / kWarpSize}, type, gpu::AddressSpace::Workgroup));
    }
  } else if (auto linear = dyn_cast_or_null<LinearOp>(op)) {
    // attn-fuse-linear-prologues fuses norms into one-row linears only.
    if (linear.getNormGamma())
      return op->emitOpError()
             << "with a norm has a GPU kernel for one row only, got output "
             << out;
    layout.blockSize = kMatmulThreads;
    layout.itemsPerBlock = kMatmulTile;
    layout.gridY = kMatmulRowGroups;
    layout.shape = tensorCores ? Shape::MatmulTensorCores : Shape::Matmul;
    // Padding against shared-memory bank conflicts: for tensor cores 8
    // columns (rows k and k + 1 start 8 banks apart: a warp's fragment
    // loads hit 32 distinct banks; the staging stores, 4 per thread and
    // slice, are 4-way conflicted), for the f32 kernel one (its
    // transposed staging stores 2-way instead of 16-way conflicted).
    int64_t padded = kMatmulTile + (tensorCores ? 8 : 1);
    // x and w; on tensor cores their hi and lo tf32 halves.
    layout.workgroup.assign(tensorCores ? 4 : 2,
                            getBufferType({kMatmulDepth, padded}, type,
                                          gpu::AddressSpace::Workgroup));
  } else if (layout.shape == Shape::PerRow) {
    // One row per warp.
    layout.itemsPerBlock = getItemsPerBlock(out, kernel.axis, layout.rowAxis,
                                            blockSize / kWarpSize);
  } else {
    layout.itemsPerBlock =
        getItemsPerBlock(out, kernel.axis, layout.rowAxis, blockSize);
  }
  return layout;
}

namespace {
struct KernelsToGPU : public attn::impl::KernelsToGPUBase<KernelsToGPU> {
  using KernelsToGPUBase::KernelsToGPUBase;

  void runOnOperation() override;

private:
  LogicalResult convert(const PlannedKernel &kernel, gpu::GPUModuleOp module);
};
} // namespace

LogicalResult KernelsToGPU::convert(const PlannedKernel &kernel,
                                    gpu::GPUModuleOp module) {
  func::FuncOp impl = kernel.impl;
  Location loc = impl.getLoc();
  MLIRContext *ctx = &getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());

  unsigned numBindings = impl.getNumArguments() - 4;
  auto outType = cast<MemRefType>(impl.getArgumentTypes()[numBindings - 1]);
  FailureOr<KernelLayout> layout = getLayout(kernel, blockSize, tensorCores);
  if (failed(layout))
    return failure();
  int64_t itemsPerBlock = layout->itemsPerBlock;
  int64_t threads = layout->blockSize;
  Type i64 = b.getI64Type();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  StringRef name = impl.getSymName().drop_back(strlen("_impl"));
  auto func = gpu::GPUFuncOp::create(
      b, loc, name, b.getFunctionType({ptrType, i64, i64, i64, ptrType}, {}),
      layout->workgroup, layout->privates);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // Shared buffers start 16-byte aligned, so that rows of them can be read
  // 128 bits at a time (the matrix-vector kernel's normalized row).
  for (unsigned i = 0; i < layout->workgroup.size(); ++i)
    func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                     b.getI64IntegerAttr(kMatVecLoadBytes));
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  func->setAttr(kItemsPerBlockAttrName, b.getI64IntegerAttr(itemsPerBlock));
  if (layout->gridY > 1)
    func->setAttr(kGridYAttrName, b.getI64IntegerAttr(layout->gridY));
  if (layout->workspaceBytes > 0)
    func->setAttr(kWorkspaceBytesAttrName,
                  b.getI64IntegerAttr(layout->workspaceBytes));
  func->setAttr(kSharedMemoryBytesAttrName, b.getI64IntegerAttr(0));

  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  KernelValues values;
  for (unsigned i = 0; i < numBindings; ++i) {
    values.bindings.push_back(
        loadKernelBinding(b, loc, entry.getArgument(0), i,
                    cast<MemRefType>(impl.getArgumentTypes()[i])));
    values.mapping.map(impl.getArgument(i), values.bindings.back());
    auto alignment = impl.getArgAttrOfType<IntegerAttr>(
        i, AttnDialect::getAlignmentAttrName());
    values.alignments.push_back(
        std::min<int64_t>(alignment ? alignment.getInt() : 1,
                          ATTN_DEVICE_BUFFER_ALIGNMENT));
  }
  auto asIndex = [&](Value v) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  };
  Value S = asIndex(entry.getArgument(1)), T = asIndex(entry.getArgument(2));
  Value work = asIndex(entry.getArgument(3));
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value begin = arith::MulIOp::create(b, loc, block,
                                      indexConstant(b, loc, itemsPerBlock));
  Value end = arith::MinUIOp::create(
      b, loc, work,
      arith::AddIOp::create(b, loc, begin,
                            indexConstant(b, loc, itemsPerBlock)));
  WorkRange range{begin, arith::SubIOp::create(b, loc, end, begin), threads,
                  gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
                  layout->gridY};
  values.mapping.map(impl.getArguments().take_back(4),
                     ValueRange{S, T, begin, end});
  // Index operands (query offsets) are arithmetic on S and T; arithmetic
  // on the impl's tensors is not needed here.
  for (Operation &op : impl.getBody().front())
    if (isa<arith::ArithDialect>(op.getDialect()) &&
        llvm::all_of(op.getOperands(),
                     [&](Value v) { return values.mapping.contains(v); }))
      b.clone(op, values.mapping);
  Value out = values.output();
  Operation *op = kernel.op;
  Type type = outType.getElementType();
  int64_t rowAxis = layout->rowAxis;
  ArrayRef<BlockArgument> shared = func.getWorkgroupAttributions();
  ArrayRef<BlockArgument> own = func.getPrivateAttributions();
  switch (layout->shape) {
  case Shape::PerElement:
    emitPerElement(b, loc, range, out, kernel.axis, [&](ValueRange idx) {
      if (!op) // A KV cache write copies its rows.
        return loadAs(b, loc, values.bindings[0], idx, type);
      return emitElement(b, loc, op, values, idx);
    });
    break;
  case Shape::PerRow:
    emitPerRow(
        b, loc, range, out, kernel.axis, rowAxis,
        [&](const WarpRow &warp, ValueRange row) {
          if (auto ln = dyn_cast<LayerNormOp>(op))
            return emitLayerNormRow(b, loc, ln, values, warp, row);
          Value x = values.binding(op->getOperand(0));
          if (auto masked = dyn_cast<MaskedSoftmaxOp>(op)) {
            Value offset = values.mapping.lookup(masked.getQueryOffset());
            double scale = masked.getScale().convertToDouble();
            double fill = masked.getFill().convertToDouble();
            return emitSoftmaxRow(b, loc, x, out, rowAxis, warp, row,
                                  [&](Value v, ValueRange idx) {
                                    return scaleAndMask(b, loc, v, scale, fill,
                                                        offset, idx[1], idx[2]);
                                  });
          }
          emitSoftmaxRow(b, loc, x, out, rowAxis, warp, row,
                         [](Value v, ValueRange) { return v; });
        });
    break;
  case Shape::Attention:
    emitFlashAttention(b, loc, op, values, range,
                       {own[0], own[1], shared[0], shared[1]});
    break;
  case Shape::DecodeAttention:
    emitDecodeAttention(
        b, loc, op, values, range,
        {own[0], own[1], shared[0], shared[1], shared[2],
         layout->gridY > 1 ? Value(shared[3]) : Value(), entry.getArgument(4)});
    break;
  case Shape::Matmul:
    emitMatmul(b, loc, cast<LinearOp>(op), values, range, shared[0],
               shared[1]);
    break;
  case Shape::MatmulTensorCores:
    emitMatmulTensorCores(b, loc, cast<LinearOp>(op), values, range,
                          shared);
    break;
  case Shape::MatVec: {
    MatVecBuffers buffers{shared[0], Value(), Value()};
    if (shared.size() == 3) {
      buffers.normalized = shared[1];
      buffers.scratch = shared[2];
    }
    emitMatVec(b, loc, cast<LinearOp>(op), values, range, buffers);
    break;
  }
  }
  gpu::ReturnOp::create(b, loc);
  // A multiply feeding an add becomes one fma (fast-math `contract`, as the
  // CPU's contractions have): one instruction and one rounding instead of
  // two, for the flash kernel's dot products as for the epilogues.
  func.walk([&](arith::ArithFastMathInterface arith) {
    if (!isa<arith::AddFOp, arith::SubFOp, arith::MulFOp>(arith))
      return;
    arith::FastMathFlagsAttr flags = arith.getFastMathFlagsAttr();
    arith->setAttr(arith.getFastMathAttrName(),
                   arith::FastMathFlagsAttr::get(
                       ctx, (flags ? flags.getValue()
                                   : arith::FastMathFlags::none) |
                                arith::FastMathFlags::contract));
  });
  return success();
}

void KernelsToGPU::runOnOperation() {
  ModuleOp module = getOperation();
  // Warps and the matrix-vector kernel's slices divide the block evenly.
  if (blockSize < 32 || blockSize > 1024 || !llvm::isPowerOf2_64(blockSize)) {
    module.emitError() << "block-size must be a power of two in [32, 1024], "
                          "got "
                       << static_cast<int64_t>(blockSize);
    return signalPassFailure();
  }
  SmallVector<PlannedKernel> kernels;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.getSymName().ends_with("_impl"))
      continue;
    FailureOr<PlannedKernel> kernel = analyzeImpl(func);
    if (failed(kernel))
      return signalPassFailure();
    kernels.push_back(*kernel);
  }
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, module.getLoc(), "attn_kernels");
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  for (PlannedKernel &kernel : kernels) {
    if (failed(convert(kernel, gpuModule)))
      return signalPassFailure();
    // The C entry of the CPU kernel has the GPU kernel's name.
    StringRef name = kernel.impl.getSymName().drop_back(strlen("_impl"));
    if (auto entry = module.lookupSymbol<func::FuncOp>(name))
      entry.erase();
    kernel.impl.erase();
  }
}
